/**
 * Training kernels for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` (so conv nets cannot train on it) and its
 * `Conv2DBackpropInput` — which is also the forward pass of every conv2dTranspose — is a scalar
 * loop running at ~2 GFLOP/s. Both are rebuilt here out of the two fast primitives the backend
 * has: XNNPACK convolutions (`Conv2D`) and XNNPACK matrix products (`BatchMatMul` without
 * transposes). Data shuffling between them is done in JS directly on the wasm heap. `Conv2D` and
 * `FusedConv2D` get a path for small outputs (where repacking a changing filter dominates), and
 * `Identity` shares buffers instead of copying them.
 *
 * The kernels work on TensorInfos and call other wasm kernel functions directly (not through the
 * engine), so nothing they create is seen by the engine: every intermediate is freed with
 * `backend.disposeData` before returning.
 */
import {
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  getKernel,
  Identity,
  registerKernel,
  Transpose,
  unregisterKernel,
  type DataId,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const WASM = 'wasm';

type KernelArgs = Parameters<KernelFunc>[0];
type Padding = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/** What every convolution kernel's attributes share. */
interface ConvGeometryAttrs {
  strides: number | [number, number];
  pad: Padding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: RoundingMode;
}

interface BackpropInputAttrs extends ConvGeometryAttrs {
  inputShape: [number, number, number, number];
}

interface BackpropFilterAttrs extends ConvGeometryAttrs {
  filterShape: [number, number, number, number];
}

/** The backend's own Conv2DBackpropInput, kept for layouts the fast path does not cover (NCHW). */
let originalBackpropInput: KernelConfig | undefined;
/** The backend's own convolutions: the fallback of the small-output path and the phases' engine. */
let originalConv2D: KernelConfig | undefined;
let originalFusedConv2D: KernelConfig | undefined;
let registered = false;

// ---------------------------------------------------------------------------------------------
// Small helpers over the wasm backend's heap.

function allocate(backend: BackendWasm, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32');
}

/**
 * A Float32Array view of a tensor's bytes on the wasm heap. Views die when the heap grows, so take
 * them only after the last allocation of a step.
 */
function heapView(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

function runWasmKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  const kernel = getKernel(kernelName, WASM);
  if (kernel === undefined) throw new Error(`wasm backend has no '${kernelName}' kernel`);
  return runKernel(kernel, backend, inputs, attrs);
}

/** Calls a kernel's function directly (not through the engine) and checks it gave one output. */
function runKernel(config: KernelConfig, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  // The stock kernels take references to their inputs (reshapes share the buffer) before they
  // allocate their output and drop them after; a failed allocation skips the drop, which would
  // keep an input buffer alive forever. Put the counts back as they were.
  const refCounts = new Map<object, number>();
  for (const info of Object.values(inputs)) {
    if (info == null) continue; // optional inputs (a fused convolution's bias) may be absent
    const refCount = backend.dataIdMap.get(info.dataId)?.refCount;
    if (refCount !== undefined && !refCounts.has(info.dataId)) refCounts.set(info.dataId, refCount);
  }
  let out: TensorInfo | TensorInfo[];
  try {
    out = config.kernelFunc({ inputs, attrs, backend });
  } catch (error) {
    for (const [dataId, refCount] of refCounts) {
      for (let extra = (backend.dataIdMap.get(dataId)?.refCount ?? refCount) - refCount; extra > 0; extra--) backend.disposeData(dataId);
    }
    throw error;
  }
  if (Array.isArray(out)) throw new Error(`wasm kernel '${config.kernelName}' returned ${out.length} outputs, expected one`);
  return out;
}

/** One of the backend's own kernels that a kernel here replaced (kept as its fallback). */
function runOriginal(config: KernelConfig | undefined, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  if (!config) throw new Error(`the wasm backend has no kernel to fall back to (dataFormat ${String(attrs.dataFormat)})`);
  return runKernel(config, backend, inputs, attrs);
}

function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

function positiveMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/**
 * The geometry of the forward convolution both gradient kernels invert, with dy checked against
 * its output shape.
 */
function convGeometry(
  kernelName: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  dy: TensorInfo,
  attrs: Pick<BackpropInputAttrs, 'strides' | 'pad' | 'dimRoundingMode'>,
): backend_util.Conv2DInfo {
  const info = backend_util.computeConv2DInfo(xShape, filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, false, 'channelsLast');
  const { batchSize, outHeight, outWidth, outChannels } = info;
  if (dy.shape[1] !== outHeight || dy.shape[2] !== outWidth || dy.shape[3] !== outChannels) {
    throw new Error(
      `${kernelName}: dy shape [${dy.shape}] does not match the convolution's output ` +
        `[${batchSize},${outHeight},${outWidth},${outChannels}]`,
    );
  }
  return info;
}

function float32Only(kernelName: string, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') throw new Error(`${kernelName} on wasm needs float32 tensors, got ${info.dtype}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropInput: dx from dy and the filter.

/**
 * Sub-filters built from a filter buffer, kept until that buffer is freed. A conv2dTranspose
 * layer's forward pass hands the kernel its variable directly, and (with the buffer-sharing
 * Identity below) backprop hands it the variable's buffer too, so inference and every use of a
 * generator within a training step reuse them, and XNNPACK keeps its packed copy (keyed by the
 * sub-filter's id) too: on a 4x4 1024->512 filter that is ~6 ms per phase instead of ~30.
 * `Variable.assign` moves the variable onto a new buffer and frees the old one, which evicts its
 * entries, so stale values cannot be served; buffers are never written after creation.
 */
const SUB_FILTER_CACHE_BUDGET_BYTES = 192 * 2 ** 20;
const subFilterCache = new Map<DataId, Map<string, TensorInfo>>();
let subFilterCacheBytes = 0;
const watchedBackends = new WeakSet<BackendWasm>();

function byteSize(info: TensorInfo): number {
  return 4 * info.shape.reduce((a, b) => a * b, 1);
}

/** Hooks the backend's buffer release so cache entries die with the variable buffer they came from. */
function evictWithFilterBuffers(backend: BackendWasm): void {
  if (watchedBackends.has(backend)) return;
  watchedBackends.add(backend);
  const disposeData = backend.disposeData.bind(backend);
  backend.disposeData = (dataId: DataId, force?: boolean): boolean => {
    const released = disposeData(dataId, force);
    const entries = subFilterCache.get(dataId);
    if (entries && !backend.dataIdMap.has(dataId)) {
      subFilterCache.delete(dataId);
      for (const info of entries.values()) {
        subFilterCacheBytes -= byteSize(info);
        disposeData(info.dataId, true);
      }
    }
    return released;
  };
}

/**
 * dx[n, h, w, ci] = sum dy[n, oh, ow, co] * f[kh, kw, ci, co] over oh*s + kh - padTop = h (same for
 * w). Fixing the output phase h mod s leaves only the filter rows kh ≡ (phase + padTop) mod s,
 * taken every s rows: each phase is a stride-1 convolution of dy with that flipped, in/out-swapped
 * sub-filter, with explicit padding. The s*s phase results are interleaved into dx.
 */
function conv2dBackpropInput(args: KernelArgs): TensorInfo {
  const backend = args.backend as BackendWasm;
  const { dy, filter } = args.inputs as { dy: TensorInfo; filter: TensorInfo };
  const attrs = args.attrs as unknown as BackpropInputAttrs;
  if (attrs.dataFormat === 'NCHW') return runOriginalBackpropInput(args);
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
          result = runOriginal(
            originalConv2D,
            backend,
            { x: croppedDy ?? dy, filter: subFilter },
            {
              strides: [1, 1],
              dilations: [1, 1],
              pad: [
                [0, 0],
                [rows.padBefore, rows.padAfter],
                [cols.padBefore, cols.padAfter],
                [0, 0],
              ],
              dataFormat: 'NHWC',
            },
          );
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
  if (strideHeight === 1 && strideWidth === 1 && phases.length === 1 && only.result) {
    return { dataId: only.result.dataId, shape: dxShape, dtype: 'float32' };
  }

  let dx: TensorInfo;
  try {
    dx = allocate(backend, dxShape);
  } catch (error) {
    free(backend, ...phases.flatMap((p) => (p.result ? [p.result] : [])));
    throw error;
  }
  const dxValues = heapView(backend, dx);
  // Pixels of dx that no phase covers (none today, but cheap insurance) and zero phases stay 0.
  dxValues.fill(0);
  for (const { rowPhase, colPhase, result } of phases) {
    if (!result) continue;
    const values = heapView(backend, result);
    const [, phaseHeight, phaseWidth] = result.shape;
    let from = 0;
    for (let n = 0; n < batchSize; n++) {
      for (let i = 0; i < phaseHeight; i++) {
        const rowStart = (n * inHeight + i * strideHeight + rowPhase) * inWidth;
        for (let j = 0; j < phaseWidth; j++) {
          const to = (rowStart + j * strideWidth + colPhase) * inChannels;
          if (inChannels >= 16) {
            dxValues.set(values.subarray(from, from + inChannels), to);
          } else {
            for (let c = 0; c < inChannels; c++) dxValues[to + c] = values[from + c];
          }
          from += inChannels;
        }
      }
    }
    free(backend, result);
  }
  return dx;
}

/**
 * Below this many dy pixels the phase decomposition is dominated by work proportional to the filter
 * (building sub-filters, XNNPACK packing them) rather than by arithmetic: the U-Net's 1x1 to 8x8
 * layers hold most of its 54M weights and little else. There dx is computed as one matrix product
 * that reads the filter in place, followed by a scatter of its columns (col2im).
 */
export const wasmKernelTuning = {
  /** dy pixels up to which Conv2DBackpropInput uses GEMM + col2im (tests set 0 and Infinity to cover both paths). */
  gemmMaxDyPixels: 64,
  /** Output pixels up to which Conv2D and plain FusedConv2D use the transposed-filter GEMM (0 turns it off). */
  convGemmMaxOutPixels: 64,
};

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
  const hit = cached(filter, key);
  if (hit) return { subFilter: hit, owned: false };
  const [, filterWidth, inChannels, outChannels] = filter.shape;
  const blockSize = inChannels * outChannels;
  const subFilter = allocate(backend, [rows.taps, cols.taps, outChannels, inChannels]);
  const src = heapView(backend, filter);
  const dst = heapView(backend, subFilter);
  for (let t = 0; t < rows.taps; t++) {
    const kh = rows.firstTap + strideHeight * (rows.taps - 1 - t);
    for (let u = 0; u < cols.taps; u++) {
      const kw = cols.firstTap + strideWidth * (cols.taps - 1 - u);
      const from = (kh * filterWidth + kw) * blockSize;
      transposeMatrix(src, from, dst, (t * cols.taps + u) * blockSize, inChannels, outChannels);
    }
  }
  return { subFilter, owned: !cache(backend, filter, key, subFilter) };
}

/** Entries are keyed by the buffer and by the shape it is seen with (reshapes share buffers). */
function cached(filter: TensorInfo, key: string): TensorInfo | undefined {
  return subFilterCache.get(filter.dataId)?.get(`${filter.shape}|${key}`);
}

/** Keeps `derived` until `filter`'s buffer is freed; false (caller frees it) when over budget. */
function cache(backend: BackendWasm, filter: TensorInfo, key: string, derived: TensorInfo): boolean {
  if (subFilterCacheBytes + byteSize(derived) > SUB_FILTER_CACHE_BUDGET_BYTES) return false;
  evictWithFilterBuffers(backend);
  let entries = subFilterCache.get(filter.dataId);
  if (!entries) {
    entries = new Map();
    subFilterCache.set(filter.dataId, entries);
  }
  entries.set(`${filter.shape}|${key}`, derived);
  subFilterCacheBytes += byteSize(derived);
  return true;
}

const TILE = 32;

/**
 * dst[dstOffset + c*rows + r] = src[srcOffset + r*cols + c]. Tiled so both sides stay in cache: on
 * a [512, 1024] block this runs ~3x faster than wasm's Transpose kernel.
 */
function transposeMatrix(
  src: Float32Array,
  srcOffset: number,
  dst: Float32Array,
  dstOffset: number,
  rows: number,
  cols: number,
): void {
  for (let r0 = 0; r0 < rows; r0 += TILE) {
    const rEnd = Math.min(rows, r0 + TILE);
    for (let c0 = 0; c0 < cols; c0 += TILE) {
      const cEnd = Math.min(cols, c0 + TILE);
      for (let r = r0; r < rEnd; r++) {
        const srcRow = srcOffset + r * cols;
        for (let c = c0; c < cEnd; c++) dst[dstOffset + c * rows + r] = src[srcRow + c];
      }
    }
  }
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
function phaseAxis(
  phase: number,
  inSize: number,
  outSize: number,
  filterSize: number,
  stride: number,
  padBefore: number,
): PhaseAxis {
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
  const [batch, height, width, channels] = dy.shape;
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

function runOriginalBackpropInput(args: KernelArgs): TensorInfo {
  return runOriginal(originalBackpropInput, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
}


// ---------------------------------------------------------------------------------------------
// Conv2D / FusedConv2D with a small output.

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

interface ConvAttrs extends ConvGeometryAttrs {
  dilations: number | [number, number];
  activation?: string;
}

/** The geometry when the small-output path applies (batch 1, NHWC, no dilation, float32), else null. */
function smallOutputGeometry(x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): backend_util.Conv2DInfo | null {
  if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || filter.dtype !== 'float32' || x.shape[0] !== 1) return null;
  const dilations = typeof attrs.dilations === 'number' ? [attrs.dilations, attrs.dilations] : attrs.dilations ?? [1, 1];
  if (dilations[0] !== 1 || dilations[1] !== 1) return null;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  return info.outHeight * info.outWidth <= wasmKernelTuning.convGemmMaxOutPixels && info.inChannels === filter.shape[2] ? info : null;
}

function conv2d(args: KernelArgs): TensorInfo {
  const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
  const info = smallOutputGeometry(x, filter, args.attrs as unknown as ConvAttrs);
  if (!info) return runOriginal(originalConv2D, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
  return conv2dSmallOutput(args.backend as BackendWasm, x, filter, info);
}

function fusedConv2d(args: KernelArgs): TensorInfo {
  const { x, filter, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
  const attrs = args.attrs as unknown as ConvAttrs;
  const plain = bias == null && preluActivationWeights == null && (attrs.activation ?? 'linear') === 'linear';
  const info = plain ? smallOutputGeometry(x!, filter!, attrs) : null;
  if (!info) return runOriginal(originalFusedConv2D, args.backend as BackendWasm, args.inputs as NamedTensorInfoMap, args.attrs as NamedAttrMap);
  return conv2dSmallOutput(args.backend as BackendWasm, x!, filter!, info);
}

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter: dW from x and dy.

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
function conv2dBackpropFilter(args: KernelArgs): TensorInfo {
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
              const dstRow =
                c * channelLength +
                (rowPhase * strideWidth + colPhase) * phaseLength +
                (n * phaseHeight + i) * phaseWidth;
              // Columns w with w + padLeft = j*s + colPhase, for j in [0, phaseWidth).
              const firstJ = Math.max(0, Math.ceil((padLeft - colPhase) / strideWidth));
              const endJ = Math.min(phaseWidth, floorDiv(inWidth - 1 + padLeft - colPhase, strideWidth) + 1);
              if (strideWidth === 1) {
                const w0 = firstJ - padLeft;
                dst.set(src.subarray(srcRow + w0, srcRow + w0 + (endJ - firstJ)), dstRow + firstJ);
              } else {
                for (let j = firstJ; j < endJ; j++) {
                  dst[dstRow + j] = src[srcRow + j * strideWidth + colPhase - padLeft];
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
        const offset =
          phase * phaseLength + floorDiv(kh, strideHeight) * phaseWidth + floorDiv(kw, strideWidth);
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

/** dy zero-extended to [N*height*width, Co] (bottom rows and right columns), or null when no extension is needed. */
function zeroExtendDy(backend: BackendWasm, dy: TensorInfo, height: number, width: number): TensorInfo | null {
  const [batch, dyHeight, dyWidth, channels] = dy.shape;
  if (height === dyHeight && width === dyWidth) return null;
  const padded = allocate(backend, [batch * height * width, channels]);
  const src = heapView(backend, dy);
  const dst = heapView(backend, padded);
  dst.fill(0);
  const rowLength = dyWidth * channels;
  for (let n = 0; n < batch; n++) {
    for (let h = 0; h < dyHeight; h++) {
      const from = (n * dyHeight + h) * rowLength;
      dst.set(src.subarray(from, from + rowLength), ((n * height + h) * width) * channels);
    }
  }
  return padded;
}

// ---------------------------------------------------------------------------------------------

/**
 * Runs `fn` with wasm's own scalar Conv2DBackpropInput in place of the fast one, so benchmarks can
 * show what the replacement buys. Not for production code.
 */
export function withOriginalBackpropInput<T>(fn: () => T): T {
  if (!registered || !originalBackpropInput) return fn();
  const wrapped: KernelFunc = (args) => runOriginalBackpropInput(args);
  unregisterKernel(Conv2DBackpropInput, WASM);
  registerKernel({ kernelName: Conv2DBackpropInput, backendName: WASM, kernelFunc: wrapped, setupFunc: originalBackpropInput.setupFunc });
  try {
    return fn();
  } finally {
    unregisterKernel(Conv2DBackpropInput, WASM);
    registerKernel({ kernelName: Conv2DBackpropInput, backendName: WASM, kernelFunc: conv2dBackpropInput, setupFunc: originalBackpropInput.setupFunc });
  }
}

/**
 * Identity (tensor.clone(), and every tensor the engine saves for backprop) sharing the buffer
 * instead of copying it as the stock wasm kernel does. Buffers are immutable once written, so the
 * copy bought nothing, and it cost a full copy of every weight per use of a network in a training
 * step (three uses of each 54M-parameter U-Net: 1.3 GB) plus a copy of every saved activation.
 */
function identityShared({ inputs, backend }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Installs the kernels above for the 'wasm' backend. Safe to call more than once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  // The replaced kernels stay as fallbacks; their setup (binding the wasm functions) must still
  // run when the backend starts, so it moves to the replacements.
  originalConv2D = getKernel(Conv2D, WASM);
  originalFusedConv2D = getKernel(FusedConv2D, WASM);
  originalBackpropInput = getKernel(Conv2DBackpropInput, WASM);
  for (const [original, kernelFunc] of [
    [originalConv2D, conv2d],
    [originalFusedConv2D, fusedConv2d],
    [originalBackpropInput, conv2dBackpropInput],
  ] as const) {
    if (!original) continue;
    unregisterKernel(original.kernelName, WASM);
    registerKernel({ kernelName: original.kernelName, backendName: WASM, kernelFunc: kernelFunc as unknown as KernelFunc, setupFunc: original.setupFunc });
  }
  if (getKernel(Identity, WASM)) unregisterKernel(Identity, WASM);
  registerKernel({ kernelName: Identity, backendName: WASM, kernelFunc: identityShared });
  if (getKernel(Conv2DBackpropFilter, WASM)) unregisterKernel(Conv2DBackpropFilter, WASM);
  registerKernel({
    kernelName: Conv2DBackpropFilter,
    backendName: WASM,
    kernelFunc: conv2dBackpropFilter,
  });
}
