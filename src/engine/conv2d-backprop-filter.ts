/**
 * Conv2DBackpropFilter (dW from x and dy), which tfjs-backend-wasm 4.22 lacks (so conv nets cannot
 * train on it without this): 3x3 and 4x4 stride-1 and 4x4 stride-2 through Winograd
 * (winograd.ts), few output channels by direct accumulation and everything else as one in-place
 * matrix product (native/filter-grad.c).
 */
import { BatchMatMul, Conv2DBackpropFilter, Transpose, type backend_util, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, float32Only, floorDiv, shape4, wasmKernelTuning, type BackpropFilterAttrs } from './kernel-common.ts';
import { nativeThreads, runNative } from './native-threads.ts';
import { allocate, free, heapOffset, heapView, runWasmKernel, type KernelArgs } from './tfjs-internals.ts';
import { conv2dBackpropFilterStride2Winograd, conv2dBackpropFilterWinograd, winogradApplies, winogradStride2Applies } from './winograd.ts';

/**
 * dW[kh, kw, ci, co] = sum over n, oh, ow of xpad[n, s*oh + kh, s*ow + kw, ci] * dy[n, oh, ow, co].
 *
 * Split the padded input into s*s phase images xph[a][b][i][j] = xpad[s*i + a][s*j + b], each
 * Hq x Wq with Hq = OH + (KH-1) div s, and zero-extend dy to Hq x Wq. With pixels flattened
 * (m = (n*Hq + oh)*Wq + ow) the input a kernel position needs is xph[kh mod s][kw mod s] shifted by
 * the constant (kh div s)*Wq + (kw div s): a contiguous window. Storing the phases channel-major
 * ([Ci, pixels]) makes each window a plain [Ci, M] matrix, so every kernel position is one
 * untransposed XNNPACK matmul [Ci, M] x [M, Co] = dW[kh, kw]; dy is the same right-hand matrix
 * every time, so XNNPACK packs it once.
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
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  if (winogradApplies(info)) return conv2dBackpropFilterWinograd(backend, x, dy, info);
  if (winogradStride2Applies(info)) return conv2dBackpropFilterStride2Winograd(backend, x, dy, info);
  const fewOutputs = outChannels <= wasmKernelTuning.filterGradSmallMaxChannels && inChannels % 4 === 0;
  if (fewOutputs) return filterGradFewOutputs(backend, x, dy, info);
  if (wasmKernelTuning.filterGradGemm) return filterGradGemm(backend, x, dy, info);
  const dwShape = [filterHeight, filterWidth, inChannels, outChannels];
  const dw = allocate(backend, dwShape);
  if (batchSize * outHeight * outWidth === 0 || inChannels * outChannels === 0) {
    heapView(backend, dw).fill(0);
    return dw;
  }

  const phaseHeight = outHeight + floorDiv(filterHeight - 1, strideHeight);
  const phaseWidth = outWidth + floorDiv(filterWidth - 1, strideWidth);
  const pixels = batchSize * phaseHeight * phaseWidth;
  const maxShift = floorDiv(filterHeight - 1, strideHeight) * phaseWidth + floorDiv(filterWidth - 1, strideWidth);
  const phaseLength = pixels + maxShift;
  const phaseCount = strideHeight * strideWidth;
  const channelLength = phaseCount * phaseLength;

  // Every buffer is taken inside the try, so one that fails to allocate (a full heap) frees the rest.
  let channelMajorX: TensorInfo | null = null;
  let phased: TensorInfo | null = null;
  let paddedDy: TensorInfo | null = null;
  try {
    channelMajorX = runWasmKernel(backend, Transpose, { x }, { perm: [3, 0, 1, 2] });
    phased = allocate(backend, [inChannels, channelLength]);
    paddedDy = zeroExtendDy(backend, dy, phaseHeight, phaseWidth);
    {
      const src = heapView(backend, channelMajorX);
      const dst = heapView(backend, phased);
      dst.fill(0);
      for (let c = 0; c < inChannels; c++) {
        for (let n = 0; n < batchSize; n++) {
          for (let h = 0; h < inHeight; h++) {
            const paddedRow = h + padTop;
            const i = floorDiv(paddedRow, strideHeight);
            if (paddedRow < 0 || i >= phaseHeight) continue;
            const rowPhase = paddedRow - i * strideHeight;
            const srcRow = ((c * batchSize + n) * inHeight + h) * inWidth;
            for (let colPhase = 0; colPhase < strideWidth; colPhase++) {
              const dstRow = c * channelLength + (rowPhase * strideWidth + colPhase) * phaseLength + (n * phaseHeight + i) * phaseWidth;
              // Columns w with w + padLeft = j*s + colPhase, for j in [0, phaseWidth).
              const firstJ = Math.max(0, Math.ceil((padLeft - colPhase) / strideWidth));
              const endJ = Math.min(phaseWidth, floorDiv(inWidth - 1 + padLeft - colPhase, strideWidth) + 1);
              if (strideWidth === 1) {
                const w0 = firstJ - padLeft;
                dst.set(src.subarray(srcRow + w0, srcRow + w0 + (endJ - firstJ)), dstRow + firstJ);
              } else {
                for (let j = firstJ; j < endJ; j++) {
                  dst[dstRow + j] = src[srcRow + j * strideWidth + colPhase - padLeft]!;
                }
              }
            }
          }
        }
      }
    }
    free(backend, channelMajorX);
    channelMajorX = null;

    const blockSize = inChannels * outChannels;
    for (let kh = 0; kh < filterHeight; kh++) {
      for (let kw = 0; kw < filterWidth; kw++) {
        const phase = (kh % strideHeight) * strideWidth + (kw % strideWidth);
        const offset = phase * phaseLength + floorDiv(kh, strideHeight) * phaseWidth + floorDiv(kw, strideWidth);
        const window = allocate(backend, [inChannels, pixels]);
        {
          const src = heapView(backend, phased);
          const dst = heapView(backend, window);
          for (let c = 0; c < inChannels; c++) {
            const from = c * channelLength + offset;
            dst.set(src.subarray(from, from + pixels), c * pixels);
          }
        }
        let product: TensorInfo;
        try {
          product = runWasmKernel(
            backend,
            BatchMatMul,
            { a: window, b: paddedDy ?? { ...dy, shape: [pixels, outChannels] } },
            { transposeA: false, transposeB: false },
          );
        } finally {
          free(backend, window);
        }
        heapView(backend, dw).set(heapView(backend, product), (kh * filterWidth + kw) * blockSize);
        free(backend, product);
      }
    }
  } catch (error) {
    free(backend, dw);
    throw error;
  } finally {
    if (channelMajorX) free(backend, channelMajorX);
    if (phased) free(backend, phased);
    if (paddedDy) free(backend, paddedDy);
  }
  return dw;
}

/**
 * dW by native/filter-grad.c's direct accumulation over vectors of input channels (few output
 * channels, input channels a multiple of 4), its taps split over the compiled kernels' threads.
 */
function filterGradFewOutputs(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
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
        inHeight,
        inWidth,
        inChannels,
        outHeight,
        outWidth,
        outChannels,
        filterHeight,
        filterWidth,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
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
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
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
        inHeight,
        inWidth,
        inChannels,
        outHeight,
        outWidth,
        outChannels,
        filterHeight,
        filterWidth,
        info.strideHeight,
        info.strideWidth,
        info.padInfo.top,
        info.padInfo.left,
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

/** dy zero-extended to [N*height*width, Co] (bottom rows and right columns), or null when no extension is needed. */
function zeroExtendDy(backend: BackendWasm, dy: TensorInfo, height: number, width: number): TensorInfo | null {
  const [batch, dyHeight, dyWidth, channels] = shape4(dy);
  if (height === dyHeight && width === dyWidth) return null;
  const padded = allocate(backend, [batch * height * width, channels]);
  const src = heapView(backend, dy);
  const dst = heapView(backend, padded);
  dst.fill(0);
  const rowLength = dyWidth * channels;
  for (let n = 0; n < batch; n++) {
    for (let h = 0; h < dyHeight; h++) {
      const from = (n * dyHeight + h) * rowLength;
      dst.set(src.subarray(from, from + rowLength), (n * height + h) * width * channels);
    }
  }
  return padded;
}
