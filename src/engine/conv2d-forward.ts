/**
 * Conv2D and FusedConv2D on wasm: XNNPACK's own convolution, except for small outputs, where a
 * changing filter's repacking dominates and a GEMM over im2col columns is faster.
 */
import { BatchMatMul, type backend_util, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { plainConvGeometry, runStock, stockKernels, wasmKernelTuning, type ConvAttrs } from './kernel-common.ts';
import { allocate, free, heapView, runWasmKernel, type KernelArgs } from './tfjs-internals.ts';

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
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const info = smallOutputGeometry(x, filter, args.attrs as unknown as ConvAttrs);
  if (!info) return runStock(stockKernels.conv2D, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
  return conv2dSmallOutput(args.backend as BackendWasm, x, filter, info);
}

export function fusedConv2d(args: KernelArgs): TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const attrs = args.attrs as unknown as ConvAttrs;
  const plain = bias == null && preluActivationWeights == null && (attrs.activation ?? 'linear') === 'linear';
  const info = plain ? smallOutputGeometry(x!, filter!, attrs) : null;
  if (!info) return runStock(stockKernels.fusedConv2D, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
  return conv2dSmallOutput(args.backend as BackendWasm, x!, filter!, info);
}
