/**
 * Conv2DBackpropFilter (dW from x and dy), which tfjs-backend-wasm 4.22 lacks (so conv nets cannot
 * train on it without this): 3x3 and 4x4 stride-1 and 4x4 stride-2 through Winograd
 * (winograd.ts), few output channels by direct accumulation and everything else as one in-place
 * matrix product (native/filter-grad.c).
 */
import { Conv2DBackpropFilter, type backend_util, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, float32Only, geometryArgs, wasmKernelTuning, type BackpropFilterAttrs } from './kernel-common.ts';
import { nativeThreads, runNative } from './native-threads.ts';
import { allocate, free, heapOffset, type KernelArgs } from './tfjs-internals.ts';
import { conv2dBackpropFilterStride2Winograd, conv2dBackpropFilterWinograd, winogradApplies, winogradStride2Applies } from './winograd.ts';

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of xpad[n, s*oh + kh, s*ow + kw, ci] * dy[n, oh, ow, co],
 * by the first of: Winograd (3x3 and 4x4 stride 1, 4x4 stride 2 over the space to depth), the
 * few-output-channel kernel, and the in-place matrix product.
 */
export function conv2dBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  if (attrs.dataFormat === 'NCHW') {
    throw new Error(`Conv2DBackpropFilter on wasm supports dataFormat NHWC only, got ${attrs.dataFormat}`);
  }
  float32Only(Conv2DBackpropFilter, x, dy);
  const info = convGeometry(Conv2DBackpropFilter, x.shape as [number, number, number, number], attrs.filterShape, dy, attrs);
  if (winogradApplies(info)) return conv2dBackpropFilterWinograd(backend, x, dy, info);
  if (winogradStride2Applies(info, 'filter gradient')) return conv2dBackpropFilterStride2Winograd(backend, x, dy, info);
  // filter_grad_small keeps at most four sums per input vector, whatever the tuning says.
  if (info.outChannels <= Math.min(wasmKernelTuning.filterGradSmallMaxChannels, 4) && info.inChannels % 4 === 0) {
    return filterGradFewOutputs(backend, x, dy, info);
  }
  return filterGradGemm(backend, x, dy, info);
}

/**
 * dW by native/filter-grad.c's direct accumulation over vectors of input channels (few output
 * channels, input channels a multiple of 4), its taps split over the compiled kernels' threads.
 */
function filterGradFewOutputs(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize, inChannels, outChannels, filterHeight, filterWidth } = info;
  const dw = allocate(backend, [filterHeight, filterWidth, inChannels, outChannels]);
  let acc: TensorInfo | null = null;
  try {
    acc = allocate(backend, [filterHeight, filterWidth, outChannels, inChannels]);
    runNative(
      backend,
      'filter-grad',
      'filter_grad_small',
      [
        heapOffset(backend, x),
        heapOffset(backend, dy),
        heapOffset(backend, dw),
        heapOffset(backend, acc),
        batchSize,
        ...geometryArgs(info),
        wasmKernelTuning.filterGradSmallBand,
      ],
      filterHeight * filterWidth,
    );
  } catch (error) {
    free(backend, dw);
    throw error;
  } finally {
    if (acc) free(backend, acc);
  }
  return dw;
}

/**
 * dW by native/filter-grad.c's single product dW = Xᵀ·dY, X the im2col matrix of x gathered a
 * cache-sized panel at a time (no im2col-sized buffer), dW's rows split over the threads in
 * groups of four.
 */
function filterGradGemm(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize, inChannels, outChannels, filterHeight, filterWidth } = info;
  const { filterGradBlockRows: blockRows, filterGradChunk: chunk } = wasmKernelTuning;
  const dw = allocate(backend, [filterHeight, filterWidth, inChannels, outChannels]);
  const panelFloats = blockRows * chunk;
  let panels: TensorInfo | null = null;
  try {
    panels = allocate(backend, [nativeThreads(backend), panelFloats]);
    runNative(
      backend,
      'filter-grad',
      'filter_grad_gemm',
      [
        heapOffset(backend, x),
        heapOffset(backend, dy),
        heapOffset(backend, dw),
        heapOffset(backend, panels),
        batchSize,
        ...geometryArgs(info),
        blockRows,
        chunk,
      ],
      Math.ceil((filterHeight * filterWidth * inChannels) / 4),
      { argument: 3, stride: panelFloats * 4 },
    );
  } catch (error) {
    free(backend, dw);
    throw error;
  } finally {
    if (panels) free(backend, panels);
  }
  return dw;
}
