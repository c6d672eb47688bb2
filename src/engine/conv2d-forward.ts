/**
 * Conv2D and FusedConv2D on wasm: XNNPACK's own convolution, except for small outputs, where a
 * changing filter's repacking dominates and a GEMM over im2col columns is faster; for 3x3 and
 * 4x4 stride-1 convolutions with enough channels, which go through Winograd F(4x4, 3x3) and
 * F(3x3, 4x4), and 4x4 stride-2 ones, through F(5x5, 2x2) over their input's space to depth; and
 * for few input or output channels (conv2d-narrow.ts).
 */
import { BatchMatMul, type backend_util, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { plainConvGeometry, runStock, stockKernels, wasmKernelTuning, type ConvAttrs } from './kernel-common.ts';
import { allocate, free, heapView, runWasmKernel, type KernelArgs } from './tfjs-internals.ts';
import { conv2dNarrow, narrowConvSide } from './conv2d-narrow.ts';
import { conv2dStride2Winograd, conv2dWinograd, winogradApplies, winogradStride2Applies } from './winograd.ts';

/**
 * XNNPACK repacks a convolution's filter the first time it sees the buffer. Inference pays that
 * once; training pays it every step, since every update puts the weights in a new buffer, and the
 * U-Net's 1x1-8x8 layers hold most of its 54M weights while computing little. Up to a few output
 * pixels a convolution is run instead as one matrix product y = im2col(x) · W, the filter viewed in
 * place as [kh*kw*Ci, Co]: XNNPACK packs a matrix much faster than a convolution filter (a 4x4
 * 512->1024 convolution with a new filter: 27 ms against 139 ms, `npm run bench -- kernels
 * --baseline`) and, like the convolution, keeps the packing while the buffer lives, so the three
 * uses of a generator in a step pack once.
 */
function conv2dSmallOutput(backend: BackendWasm, x: TensorInfo, filter: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const pixels = outHeight * outWidth;
  const depth = filterHeight * filterWidth * inChannels;
  const columns = allocate(backend, [pixels, depth]);
  {
    const src = heapView(backend, x);
    const dst = heapView(backend, columns);
    for (let oh = 0; oh < outHeight; oh++) {
      for (let ow = 0; ow < outWidth; ow++) {
        let to = (oh * outWidth + ow) * depth;
        for (let kh = 0; kh < filterHeight; kh++) {
          const h = oh * strideHeight + kh - padTop;
          for (let kw = 0; kw < filterWidth; kw++, to += inChannels) {
            const w = ow * strideWidth + kw - padLeft;
            if (h < 0 || h >= inHeight || w < 0 || w >= inWidth) {
              dst.fill(0, to, to + inChannels);
            } else {
              const from = (h * inWidth + w) * inChannels;
              dst.set(src.subarray(from, from + inChannels), to);
            }
          }
        }
      }
    }
  }
  let product: TensorInfo;
  try {
    // The backend caches the packed right-hand matrix by buffer alone, so a filter buffer must
    // always reach BatchMatMul as b with one 2-D shape: [kh*kw*Ci, Co] here, and no other kernel
    // here passes a filter as b.
    product = runWasmKernel(
      backend,
      BatchMatMul,
      { a: { ...columns, shape: [1, pixels, depth] }, b: { ...filter, shape: [1, depth, outChannels] } },
      { transposeA: false, transposeB: false },
    );
  } finally {
    free(backend, columns);
  }
  return { ...product, shape: [1, outHeight, outWidth, outChannels] };
}

/** The geometry when the small-output path applies (batch 1, NHWC, no dilation, float32), else null. */
function smallOutputGeometry(x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): backend_util.Conv2DInfo | null {
  if (x.shape[0] !== 1) return null;
  const info = plainConvGeometry(x, filter, attrs);
  return info && info.outHeight * info.outWidth <= wasmKernelTuning.convGemmMaxOutPixels ? info : null;
}

export function conv2d(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as ConvAttrs;
  const small = smallOutputGeometry(x, filter, attrs);
  if (small) return conv2dSmallOutput(backend, x, filter, small);
  const info = plainConvGeometry(x, filter, attrs);
  if (info && winogradApplies(info)) return conv2dWinograd(backend, x, filter, info, { bias: null, relu: false });
  if (info && winogradStride2Applies(info)) return conv2dStride2Winograd(backend, x, filter, info, { bias: null, relu: false });
  if (info && narrowConvSide(info)) return conv2dNarrow(backend, x, filter, info, { bias: null, relu: false });
  return runStock(stockKernels.conv2D, backend, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
}

export function fusedConv2d(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const attrs = args.attrs as unknown as ConvAttrs;
  const activation = attrs.activation ?? 'linear';
  if (preluActivationWeights == null && (activation === 'linear' || activation === 'relu')) {
    const plain = bias == null && activation === 'linear';
    const small = plain ? smallOutputGeometry(x!, filter!, attrs) : null;
    if (small) return conv2dSmallOutput(backend, x!, filter!, small);
    const info = plainConvGeometry(x!, filter!, attrs);
    // Winograd and the narrow kernels add a per-channel bias; other broadcasts of it go to XNNPACK.
    const perChannelBias = bias == null || (bias.shape.length === 1 && bias.shape[0] === filter!.shape[3] && bias.dtype === 'float32');
    if (info && perChannelBias && winogradApplies(info)) {
      return conv2dWinograd(backend, x!, filter!, info, { bias: bias ?? null, relu: activation === 'relu' });
    }
    if (info && perChannelBias && winogradStride2Applies(info)) {
      return conv2dStride2Winograd(backend, x!, filter!, info, { bias: bias ?? null, relu: activation === 'relu' });
    }
    if (info && perChannelBias && narrowConvSide(info)) {
      return conv2dNarrow(backend, x!, filter!, info, { bias: bias ?? null, relu: activation === 'relu' });
    }
  }
  return runStock(stockKernels.fusedConv2D, backend, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
}
