/**
 * Conv2DBackpropInput: dx from dy and the filter, which is also the forward pass of every
 * conv2dTranspose. tfjs-backend-wasm's own is a scalar loop at ~2 GFLOP/s; this one decomposes it
 * into stride phases run as XNNPACK convolutions, or (for small dy) one GEMM reading the filter in
 * place followed by col2im.
 */
import {
  backend_util,
  BatchMatMul,
  Conv2DBackpropInput,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { cacheDerived, cachedDerived } from './filter-cache.ts';
import {
  convGeometry,
  float32Only,
  floorDiv,
  positiveMod,
  runStock,
  shape4,
  stockKernels,
  transposeMatrix,
  wasmKernelTuning,
  type BackpropInputAttrs,
} from './kernel-common.ts';
import { runNative } from './native-threads.ts';
import { allocate, free, heapOffset, heapView, runWasmKernel, type KernelArgs } from './tfjs-internals.ts';
import { conv2dNarrow, narrowConvSide } from './conv2d-narrow.ts';
import { conv2dWinograd, winogradPhaseApplies } from './winograd.ts';

/**
 * dx[n, h, w, ci] = sum dy[n, oh, ow, co] * f[kh, kw, ci, co] over oh*s + kh - padTop = h (same for
 * w). Fixing the output phase h mod s leaves only the filter rows kh ≡ (phase + padTop) mod s,
 * taken every s rows: each phase is a stride-1 convolution of dy with that flipped, in/out-swapped
 * sub-filter, with explicit padding. The s*s phase results are interleaved into dx.
 */
export function conv2dBackpropInput(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as BackpropInputAttrs;
  if (attrs.dataFormat === 'NCHW') return runStockBackpropInput(args);
  float32Only(Conv2DBackpropInput, dy, filter);

  const info = convGeometry(Conv2DBackpropInput, attrs.inputShape, filter.shape as [number, number, number, number], dy, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;

  if (batchSize === 1 && outHeight * outWidth <= wasmKernelTuning.gemmMaxDyPixels) {
    return backpropInputByGemm(backend, dy, filter, info);
  }

  const phases: { rowPhase: number; colPhase: number; result: TensorInfo | null }[] = [];
  try {
    for (let rowPhase = 0; rowPhase < strideHeight; rowPhase++) {
      for (let colPhase = 0; colPhase < strideWidth; colPhase++) {
        const rows = phaseAxis(rowPhase, inHeight, outHeight, filterHeight, strideHeight, padTop);
        const cols = phaseAxis(colPhase, inWidth, outWidth, filterWidth, strideWidth, padLeft);
        if (rows.outSize <= 0 || cols.outSize <= 0) continue;
        if (rows.taps === 0 || cols.taps === 0 || rows.dyEnd <= rows.dyBegin || cols.dyEnd <= cols.dyBegin) {
          phases.push({ rowPhase, colPhase, result: null }); // no filter tap reaches this phase: zeros
          continue;
        }
        const { subFilter, owned } = subFilterFor(backend, filter, rows, cols, strideHeight, strideWidth);
        let croppedDy: TensorInfo | null = null;
        let result: TensorInfo;
        try {
          croppedDy = cropRowsCols(backend, dy, rows.dyBegin, rows.dyEnd, cols.dyBegin, cols.dyEnd);
          result = phaseConvolution(backend, croppedDy ?? dy, subFilter, [
            [0, 0],
            [rows.padBefore, rows.padAfter],
            [cols.padBefore, cols.padAfter],
            [0, 0],
          ]);
        } finally {
          if (owned) free(backend, subFilter);
          if (croppedDy) free(backend, croppedDy);
        }
        phases.push({ rowPhase, colPhase, result });
        if (result.shape[1] !== rows.outSize || result.shape[2] !== cols.outSize) {
          throw new Error(
            `Conv2DBackpropInput: phase (${rowPhase},${colPhase}) produced [${result.shape}], ` +
              `expected ${rows.outSize}x${cols.outSize} pixels`,
          );
        }
      }
    }
  } catch (error) {
    free(backend, ...phases.flatMap((p) => (p.result ? [p.result] : [])));
    throw error;
  }

  const dxShape = [batchSize, inHeight, inWidth, inChannels];
  const only = phases[0];
  if (strideHeight === 1 && strideWidth === 1 && phases.length === 1 && only?.result) {
    return { dataId: only.result.dataId, shape: dxShape, dtype: 'float32' };
  }

  let dx: TensorInfo;
  try {
    dx = allocate(backend, dxShape);
  } catch (error) {
    free(backend, ...phases.flatMap((p) => (p.result ? [p.result] : [])));
    throw error;
  }
  // Pixels of dx that no phase covers (none today, but cheap insurance) and zero phases stay 0.
  heapView(backend, dx).fill(0);
  try {
    for (const { rowPhase, colPhase, result } of phases) {
      if (!result) continue;
      const [, phaseHeight, phaseWidth] = shape4(result);
      const geometry = [phaseHeight, phaseWidth, inHeight, inWidth, inChannels, strideHeight, strideWidth, rowPhase, colPhase];
      runNative(
        backend,
        'rearrange',
        'interleave_phase',
        [heapOffset(backend, result), heapOffset(backend, dx), ...geometry],
        batchSize * phaseHeight,
      );
    }
  } catch (error) {
    free(backend, dx);
    throw error;
  } finally {
    free(backend, ...phases.flatMap((p) => (p.result ? [p.result] : [])));
  }
  return dx;
}

/**
 * One phase: a stride-1 convolution of dy with the sub-filter. A stride-1 3x3 or 4x4 layer's only
 * phase is a stride-1 convolution of that size itself, and a 4x4 stride-2 layer's four phases are
 * 2x2 ones: these go through Winograd when it applies.
 */
function phaseConvolution(backend: BackendWasm, dy: TensorInfo, subFilter: TensorInfo, pad: backend_util.ExplicitPadding): TensorInfo {
  const info = backend_util.computeConv2DInfo(
    dy.shape as [number, number, number, number],
    subFilter.shape as [number, number, number, number],
    1,
    1,
    pad,
    undefined,
    false,
    'channelsLast',
  );
  if (winogradPhaseApplies(info)) return conv2dWinograd(backend, dy, subFilter, info, { bias: null, relu: false });
  if (narrowConvSide(info)) return conv2dNarrow(backend, dy, subFilter, info, { bias: null, relu: false });
  return runStock(
    stockKernels.conv2D,
    backend,
    { x: dy, filter: subFilter },
    { strides: [1, 1], dilations: [1, 1], pad, dataFormat: 'NHWC' },
  );
}

/**
 * dx by GEMM + col2im: P[(kh,kw,ci), (oh,ow)] = sum_co f[kh,kw,ci,co] * dy[oh,ow,co], i.e. the
 * filter viewed as a [kh*kw*Ci, Co] matrix (no copy) times dy transposed ([Co, pixels], small
 * here); then dx[oh*s + kh - padTop, ow*s + kw - padLeft, ci] += P[(kh,kw,ci), (oh,ow)].
 * The filter is the streamed operand, so XNNPACK packs only the small dy side.
 */
function backpropInputByGemm(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const pixels = outHeight * outWidth;
  const taps = filterHeight * filterWidth;

  const dyT = allocate(backend, [outChannels, pixels]);
  transposeMatrix(heapView(backend, dy), 0, heapView(backend, dyT), 0, pixels, outChannels);
  let product: TensorInfo;
  try {
    product = runWasmKernel(
      backend,
      BatchMatMul,
      { a: { ...filter, shape: [1, taps * inChannels, outChannels] }, b: { ...dyT, shape: [1, outChannels, pixels] } },
      { transposeA: false, transposeB: false },
    );
  } finally {
    free(backend, dyT);
  }
  let dx: TensorInfo;
  try {
    dx = allocate(backend, [1, inHeight, inWidth, inChannels]);
  } catch (error) {
    free(backend, product);
    throw error;
  }
  const out = heapView(backend, dx);
  const p = heapView(backend, product);
  out.fill(0);
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      const tapBase = (kh * filterWidth + kw) * inChannels * pixels;
      for (let oh = 0; oh < outHeight; oh++) {
        const h = oh * strideHeight + kh - padTop;
        if (h < 0 || h >= inHeight) continue;
        for (let ow = 0; ow < outWidth; ow++) {
          const w = ow * strideWidth + kw - padLeft;
          if (w < 0 || w >= inWidth) continue;
          const to = (h * inWidth + w) * inChannels;
          let from = tapBase + oh * outWidth + ow;
          for (let ci = 0; ci < inChannels; ci++, from += pixels) out[to + ci]! += p[from]!;
        }
      }
    }
  }
  free(backend, product);
  return dx;
}

/**
 * The phase's filter: taps firstTap, firstTap + s, ... of each axis in reverse order, with input and
 * output channels swapped ([taps, taps, Co, Ci]). `owned` is false when it lives in the cache.
 */
function subFilterFor(
  backend: BackendWasm,
  filter: TensorInfo,
  rows: PhaseAxis,
  cols: PhaseAxis,
  strideHeight: number,
  strideWidth: number,
): { subFilter: TensorInfo; owned: boolean } {
  const key = `${rows.firstTap},${rows.taps},${strideHeight};${cols.firstTap},${cols.taps},${strideWidth}`;
  const hit = cachedDerived(filter, key);
  if (hit) return { subFilter: hit[0]!, owned: false };
  const [, filterWidth, inChannels, outChannels] = shape4(filter);
  const subFilter = allocate(backend, [rows.taps, cols.taps, outChannels, inChannels]);
  try {
    const taps = [rows.firstTap, rows.taps, strideHeight, cols.firstTap, cols.taps, strideWidth];
    runNative(
      backend,
      'rearrange',
      'phase_sub_filter',
      [heapOffset(backend, filter), heapOffset(backend, subFilter), filterWidth, inChannels, outChannels, ...taps],
      rows.taps * cols.taps * Math.ceil(inChannels / 4),
    );
  } catch (error) {
    free(backend, subFilter);
    throw error;
  }
  return { subFilter, owned: !cacheDerived(backend, 'subFilter', filter, key, [subFilter]) };
}

interface PhaseAxis {
  /** Output pixels of this phase along the axis. */
  outSize: number;
  /** First filter index feeding this phase and how many (every stride-th) do. */
  firstTap: number;
  taps: number;
  /** Window of dy used and the explicit padding of the stride-1 convolution around it. */
  dyBegin: number;
  dyEnd: number;
  padBefore: number;
  padAfter: number;
}

/** One spatial axis of the phase decomposition of a transposed convolution (see above). */
function phaseAxis(phase: number, inSize: number, outSize: number, filterSize: number, stride: number, padBefore: number): PhaseAxis {
  const phaseSize = Math.ceil((inSize - phase) / stride);
  const firstTap = positiveMod(phase + padBefore, stride);
  const taps = firstTap < filterSize ? Math.ceil((filterSize - firstTap) / stride) : 0;
  // dx row i of this phase reads dy rows i + shift - j for taps j = 0..taps-1.
  const shift = floorDiv(phase + padBefore - firstTap, stride);
  let before = taps - 1 - shift;
  let after = phaseSize - outSize - before + taps - 1;
  // Negative padding means some dy rows never reach this phase: crop them instead.
  const dyBegin = Math.max(0, -before);
  const dyEnd = outSize - Math.max(0, -after);
  before = Math.max(0, before);
  after = Math.max(0, after);
  return { outSize: phaseSize, firstTap, taps, dyBegin, dyEnd, padBefore: before, padAfter: after };
}

/** Copy of dy restricted to rows [rowBegin, rowEnd) and columns [colBegin, colEnd), or null when that is all of it. */
function cropRowsCols(
  backend: BackendWasm,
  dy: TensorInfo,
  rowBegin: number,
  rowEnd: number,
  colBegin: number,
  colEnd: number,
): TensorInfo | null {
  const [batch, height, width, channels] = shape4(dy);
  if (rowBegin === 0 && rowEnd === height && colBegin === 0 && colEnd === width) return null;
  const cropped = allocate(backend, [batch, rowEnd - rowBegin, colEnd - colBegin, channels]);
  const src = heapView(backend, dy);
  const dst = heapView(backend, cropped);
  const rowLength = (colEnd - colBegin) * channels;
  let to = 0;
  for (let n = 0; n < batch; n++) {
    for (let h = rowBegin; h < rowEnd; h++) {
      const from = ((n * height + h) * width + colBegin) * channels;
      dst.set(src.subarray(from, from + rowLength), to);
      to += rowLength;
    }
  }
  return cropped;
}

export function runStockBackpropInput(args: KernelArgs): TensorInfo {
  return runStock(stockKernels.backpropInput, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
}
