/**
 * 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016).
 *
 * Each 4x4 output tile comes from a 6x6 input tile d: Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A. Summed over
 * input channels, the element-wise product becomes, for each of the 36 positions k of the 6x6
 * transform, one matrix product M_k [tiles, Co] = V_k [tiles, Ci] x U_k [Ci, Co]: 2.25
 * multiply-adds per output against 9 for the direct convolution. The 36 products go through
 * XNNPACK's BatchMatMul (multithreaded, and it keeps the packed U_k while its buffer lives); the
 * input and output transforms are compiled to wasm SIMD (native/winograd.c) as separable 1-D
 * passes whose inner loops run over channels (contiguous in NHWC), reading and writing six
 * streams each, in float32; the filter transform, cached, runs here in JS in float64.
 *
 * Out-of-image input pixels are read from a block of zeros and out-of-image outputs written to a
 * sink block, so the loops have no bounds tests. U_k are cached per filter buffer (filter-cache.ts).
 *
 * Accuracy: the transform's points (0, ±1, ±2, ∞) amplify float32 rounding in the products; the
 * result is within ~1e-5 of the direct convolution relative to the output's scale on the tests'
 * random data (measured in test/engine/winograd.test.ts), against ~1e-7 for direct, i.e. about
 * two decimal digits fewer, far below what training notices (Adam steps are ~1e-4 relative).
 */
import { BatchMatMul, type backend_util, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { cacheDerived, cachedDerived } from './filter-cache.ts';
import { wasmKernelTuning } from './kernel-common.ts';
import { winogradModule } from './native.ts';
import { allocate, free, heapOffset, heapView, runWasmKernel } from './tfjs-internals.ts';

const TILE_OUT = 4;
const TILE_IN = 6;
const POSITIONS = TILE_IN * TILE_IN;

/** True when `info` (a forward convolution) should run through Winograd. */
export function winogradApplies(info: backend_util.Conv2DInfo): boolean {
  return (
    wasmKernelTuning.winograd &&
    info.filterHeight === 3 &&
    info.filterWidth === 3 &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    Math.min(info.inChannels, info.outChannels) >= wasmKernelTuning.winogradMinChannels &&
    info.outHeight * info.outWidth * info.batchSize >= wasmKernelTuning.winogradMinOutPixels
  );
}

/** t_b = Σ_k G[b][k] g_k for the three taps at i0..i2, written at o0..o5. */
function filterPass(
  src: Float32Array,
  i0: number,
  i1: number,
  i2: number,
  dst: Float32Array,
  o0: number,
  o1: number,
  o2: number,
  o3: number,
  o4: number,
  o5: number,
  n: number,
): void {
  for (let c = 0; c < n; c++) {
    const g0 = src[i0 + c]!,
      g1 = src[i1 + c]!,
      g2 = src[i2 + c]!;
    const even = g0 + g2;
    const quarter = g0 / 4 + g2;
    dst[o0 + c] = g0 / 4;
    dst[o1 + c] = -(even + g1) / 6;
    dst[o2 + c] = -(even - g1) / 6;
    dst[o3 + c] = (quarter + g1 / 2) / 6;
    dst[o4 + c] = (quarter - g1 / 2) / 6;
    dst[o5 + c] = g2;
  }
}

/** Float offset of a buffer in the heap (views share the heap's ArrayBuffer). */
function offsetOf(view: Float32Array): number {
  return view.byteOffset >> 2;
}

/** U_k = G g Gᵀ at each of the 36 positions, each its own [Ci, Co] buffer (BatchMatMul's b). */
function transformFilter(backend: BackendWasm, filter: TensorInfo): TensorInfo[] {
  const [, , inChannels, outChannels] = filter.shape as [number, number, number, number];
  const block = inChannels * outChannels;
  const transformed: TensorInfo[] = [];
  try {
    for (let k = 0; k < POSITIONS; k++) transformed.push(allocate(backend, [inChannels, outChannels]));
  } catch (error) {
    free(backend, ...transformed);
    throw error;
  }
  const source = heapView(backend, filter);
  const heap = new Float32Array(source.buffer);
  const g = offsetOf(source);
  const u = transformed.map((info) => offsetOf(heapView(backend, info)));
  const rows = new Float32Array(3 * TILE_IN * block); // t[kh][b]: the taps transformed along kw
  for (let kh = 0; kh < 3; kh++) {
    const at = (kw: number) => g + (kh * 3 + kw) * block;
    const to = (b: number) => (kh * TILE_IN + b) * block;
    filterPass(heap, at(0), at(1), at(2), rows, to(0), to(1), to(2), to(3), to(4), to(5), block);
  }
  for (let b = 0; b < TILE_IN; b++) {
    const at = (kh: number) => (kh * TILE_IN + b) * block;
    const to = (a: number) => u[a * TILE_IN + b]!;
    filterPass(rows, at(0), at(1), at(2), heap, to(0), to(1), to(2), to(3), to(4), to(5), block);
  }
  return transformed;
}

/** The filter's transform, from the cache when it can be kept there; `owned` when the caller frees it. */
function filterTransformFor(backend: BackendWasm, filter: TensorInfo, cacheable: boolean): { u: TensorInfo[]; owned: boolean } {
  const key = 'winograd-f4x4-3x3';
  const hit = cacheable ? cachedDerived(filter, key) : undefined;
  if (hit) return { u: hit, owned: false };
  const u = transformFilter(backend, filter);
  return { u, owned: !(cacheable && cacheDerived(backend, 'winograd', filter, key, u)) };
}

export interface WinogradOptions {
  /** A [Co] bias added to every output, or null. */
  bias: TensorInfo | null;
  relu: boolean;
  /** False when the filter buffer is about to be freed (a derived filter): caching it would be waste. */
  cacheFilter: boolean;
}

/** y = conv2d(x, filter) (3x3, stride 1, the padding in `info`) through F(4x4, 3x3). */
export function conv2dWinograd(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  options: WinogradOptions,
): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const padTop = info.padInfo.top;
  const padLeft = info.padInfo.left;
  const tilesHigh = Math.ceil(outHeight / TILE_OUT);
  const tilesWide = Math.ceil(outWidth / TILE_OUT);
  const tiles = batchSize * tilesHigh * tilesWide;
  const wide = Math.max(inChannels, outChannels);

  const native = winogradModule(backend);
  const { u, owned } = filterTransformFor(backend, filter, options.cacheFilter);
  const v: TensorInfo[] = [];
  const m: TensorInfo[] = [];
  let scratch: TensorInfo | null = null;
  let y: TensorInfo | null = null;
  try {
    // scratch: zeros (read for pixels outside x, and as the absent bias), a sink for the outputs
    // of edge tiles outside y, the per-tile intermediate of the two-pass transforms, and the 36
    // buffer offsets the compiled transforms take.
    scratch = allocate(backend, [wide + 4 * wide + POSITIONS * wide + POSITIONS]);
    for (let k = 0; k < POSITIONS; k++) v.push(allocate(backend, [tiles, inChannels]));
    const zero = heapOffset(backend, scratch);
    const sink = zero + 4 * wide;
    const temp = sink + 4 * 4 * wide;
    const offsets = temp + 4 * POSITIONS * wide;
    heapView(backend, scratch).fill(0, 0, wide);
    const offsetTable = new Int32Array(heapView(backend, scratch).buffer, offsets, POSITIONS);
    v.forEach((info, k) => (offsetTable[k] = heapOffset(backend, info)));
    native.winograd_input(
      heapOffset(backend, x),
      offsets,
      zero,
      temp,
      batchSize,
      inHeight,
      inWidth,
      inChannels,
      tilesHigh,
      tilesWide,
      padTop,
      padLeft,
    );
    for (let k = 0; k < POSITIONS; k++) {
      m.push(
        runWasmKernel(
          backend,
          BatchMatMul,
          { a: { ...v[k]!, shape: [1, tiles, inChannels] }, b: { ...u[k]!, shape: [1, inChannels, outChannels] } },
          { transposeA: false, transposeB: false },
        ),
      );
      free(backend, v[k]!); // the products' inputs go as their outputs come, to bound the peak
    }
    v.length = 0;
    y = allocate(backend, [batchSize, outHeight, outWidth, outChannels]);
    // Offsets again: the allocation of y may have grown the heap (views die, offsets do not).
    const table = new Int32Array(heapView(backend, scratch).buffer, offsets, POSITIONS);
    m.forEach((info, k) => (table[k] = heapOffset(backend, info)));
    native.winograd_output(
      offsets,
      heapOffset(backend, y),
      options.bias ? heapOffset(backend, options.bias) : zero,
      zero,
      sink,
      temp,
      batchSize,
      outHeight,
      outWidth,
      outChannels,
      tilesHigh,
      tilesWide,
      options.relu ? 1 : 0,
    );
  } catch (error) {
    if (y) free(backend, y);
    throw error;
  } finally {
    free(backend, ...v, ...m);
    if (scratch) free(backend, scratch);
    if (owned) free(backend, ...u);
  }
  return y;
}
