/**
 * 3x3 stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray 2016),
 * 4x4 stride-1 ones (PatchGAN's) by F(3x3, 4x4), and 2x2 stride-1 ones (the phases of stride-2
 * transposed convolutions; 4x4 stride-2 convolutions over their input's space to depth) by
 * F(5x5, 2x2), all on the same 6x6 tiles (see native/winograd.c).
 *
 * In F(4x4, 3x3) each 4x4 output tile comes from a 6x6 input tile d: Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A
 * (in F(3x3, 4x4), 3x3 tiles, G and A trade places). Summed over
 * input channels, the element-wise product becomes, for each of the 36 positions k of the 6x6
 * transform, one matrix product M_k [tiles, Co] = V_k [tiles, Ci] x U_k [Ci, Co]: 2.25
 * multiply-adds per output against 9 for the direct convolution. The filter gradient uses the same
 * transform backward: dU_k [Ci, Co] = V_kᵀ W_k with W = A dY Aᵀ per output-gradient tile, then
 * dW = Gᵀ dU G. Everything (the transforms as separable 1-D passes over channels, contiguous in
 * NHWC; the 36 products, its own 4x8-blocked GEMM) is compiled to wasm SIMD (native/winograd.c),
 * in float32, and split over native-threads.ts' threads by tiles, positions or filter elements.
 * Nothing is cached (a cache of the transforms cost ~500 MiB of heap at 256 px): the filter is
 * transformed on every call, in C.
 *
 * Out-of-image input pixels are read from a block of zeros and out-of-image outputs written to a
 * sink block, so the loops have no bounds tests. One scratch buffer per call holds U, V and M (or
 * V, W and dU, the last for a block of output channels at a time): at 256 px in the ResNet-9's
 * residual blocks 28 MB, freed at the end of the call.
 *
 * Accuracy: the transform's points (0, ±1, ±2, ∞) amplify float32 rounding in the products; the
 * result is within ~1e-5 of the direct convolution relative to the output's scale on the tests'
 * random data (measured in test/engine/winograd.test.ts), against ~1e-7 for direct, i.e. about
 * two decimal digits fewer, far below what training notices (Adam steps are ~1e-4 relative).
 */
import { backend_util, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmKernelTuning } from './kernel-common.ts';
import { nativeThreads, runNative } from './native-threads.ts';
import { allocate, free, heapOffset, heapView } from './tfjs-internals.ts';

const TILE_IN = 6;
const POSITIONS = TILE_IN * TILE_IN;

/**
 * The two algorithms on 6x6 tiles (native/winograd.c): F(4x4, 3x3) for 3x3 filters, and
 * F(3x3, 4x4) for 4x4 ones (PatchGAN's stride-1 layers), its transposition: the same input
 * transform, the filter and output transforms swapped.
 */
interface Variant {
  /** Output pixels per tile side; winograd_input, _output and _gradient take it to pick their passes. */
  tileOut: number;
  filter: string;
  filterGrad: string;
}
const VARIANTS: Record<number, Variant> = {
  // For 4x4 stride-2 convolutions over their input's space to depth, and the 2x2 phases of
  // strided transposed convolutions (winogradStride2Applies, winogradPhaseApplies).
  2: {
    tileOut: 5,
    filter: 'winograd_filter_f52',
    filterGrad: 'winograd_filter_grad_f52',
  },
  3: {
    tileOut: 4,
    filter: 'winograd_filter',
    filterGrad: 'winograd_filter_grad',
  },
  4: {
    tileOut: 3,
    filter: 'winograd_filter_f34',
    filterGrad: 'winograd_filter_grad_f34',
  },
};

function variantOf(info: backend_util.Conv2DInfo): Variant {
  const variant = VARIANTS[info.filterHeight];
  if (!variant || info.filterWidth !== info.filterHeight) {
    throw new Error(`Winograd has no variant for a ${info.filterHeight}x${info.filterWidth} filter`);
  }
  return variant;
}

/** True when the convolution `info` describes (forward, or the one a gradient belongs to) should run through Winograd. */
export function winogradApplies(info: backend_util.Conv2DInfo): boolean {
  return (info.filterHeight === 3 || info.filterHeight === 4) && worthWinograd(info);
}

/**
 * True when a stride-1 phase convolution of Conv2DBackpropInput (forward only) should run through
 * Winograd: 3x3 and 4x4 ones, and the 2x2 phases of 4x4 stride-2 (and 3x3 stride-2) layers by
 * F(5x5, 2x2).
 */
export function winogradPhaseApplies(info: backend_util.Conv2DInfo): boolean {
  if (info.filterHeight === 2) {
    return worthWinograd(info) && info.outHeight * info.outWidth * info.batchSize >= wasmKernelTuning.winogradPhaseMinOutPixels;
  }
  return winogradApplies(info);
}

/**
 * True when a 4x4 stride-2 convolution should run as a 2x2 stride-1 one over its input's space to
 * depth (conv2dStride2Winograd): enough channels, at least winogradPhaseMinOutPixels outputs, a
 * transformed filter of at most winogradStride2MaxTransformFloats, and for the filter gradient
 * (which runs near the step's peak of live buffers) all its buffers within that too.
 */
export function winogradStride2Applies(info: backend_util.Conv2DInfo, pass: 'forward' | 'filter gradient' = 'forward'): boolean {
  const { batchSize, outHeight, outWidth, inChannels, outChannels } = info;
  const tiles = batchSize * Math.ceil(outHeight / 5) * Math.ceil(outWidth / 5);
  // The filter gradient's buffers while it runs: the space to depth, V, W and a block of dU.
  const gradientFloats =
    4 * inChannels * batchSize * (outHeight + 1) * (outWidth + 1) +
    POSITIONS * tiles * (4 * inChannels + outChannels) +
    Math.min(POSITIONS * 4 * inChannels * outChannels, wasmKernelTuning.winogradTransformMaxFloats);
  return (
    (pass === 'forward' || gradientFloats <= wasmKernelTuning.winogradStride2MaxTransformFloats) &&
    wasmKernelTuning.winograd &&
    info.filterHeight === 4 &&
    info.filterWidth === 4 &&
    info.strideHeight === 2 &&
    info.strideWidth === 2 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    Math.min(info.inChannels, info.outChannels) >= wasmKernelTuning.winogradMinChannels &&
    info.outHeight * info.outWidth * info.batchSize >= wasmKernelTuning.winogradPhaseMinOutPixels &&
    POSITIONS * 4 * info.inChannels * info.outChannels <= wasmKernelTuning.winogradStride2MaxTransformFloats
  );
}

function worthWinograd(info: backend_util.Conv2DInfo): boolean {
  return (
    wasmKernelTuning.winograd &&
    info.filterWidth === info.filterHeight &&
    info.strideHeight === 1 &&
    info.strideWidth === 1 &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1 &&
    Math.min(info.inChannels, info.outChannels) >= wasmKernelTuning.winogradMinChannels &&
    info.outHeight * info.outWidth * info.batchSize >= wasmKernelTuning.winogradMinOutPixels
  );
}

/** Float offsets of the parts of one scratch buffer, laid out in order. */
function layout(base: number, sizes: Record<string, number>): Record<string, number> {
  const at: Record<string, number> = {};
  let offset = base;
  for (const [name, floats] of Object.entries(sizes)) {
    at[name] = offset;
    offset += 4 * floats;
  }
  return at;
}

/** The tiling of the output into the variant's tiles (4x4 for a 3x3 filter, 3x3 for a 4x4, 5x5 for a 2x2). */
function tiling(info: backend_util.Conv2DInfo) {
  const step = variantOf(info).tileOut;
  const tilesHigh = Math.ceil(info.outHeight / step);
  const tilesWide = Math.ceil(info.outWidth / step);
  return { tilesHigh, tilesWide, tiles: info.batchSize * tilesHigh * tilesWide };
}

/** V = Bᵀ d B for every input tile of x into `v`, split by tiles (each part its own `temp` floats of scratch). */
function transformInput(
  backend: BackendWasm,
  x: TensorInfo,
  info: backend_util.Conv2DInfo,
  v: number,
  zero: number,
  temps: number,
  temp: number,
): void {
  const { tilesHigh, tilesWide, tiles } = tiling(info);
  runNative(
    backend,
    'winograd',
    'winograd_input',
    [
      heapOffset(backend, x),
      v,
      zero,
      temps,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      tilesHigh,
      tilesWide,
      tiles,
      info.padInfo.top,
      info.padInfo.left,
      variantOf(info).tileOut,
    ],
    tiles,
    { argument: 3, stride: 4 * temp },
  );
}

export interface WinogradOptions {
  /** A [Co] bias added to every output, or null. */
  bias: TensorInfo | null;
  relu: boolean;
}

/** y = conv2d(x, filter) (2x2, 3x3 or 4x4, stride 1, the padding in `info`) through F(5x5, 2x2), F(4x4, 3x3) or F(3x3, 4x4). */
export function conv2dWinograd(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  options: WinogradOptions,
): TensorInfo {
  const { batchSize, inChannels, outHeight, outWidth, outChannels } = info;
  const { tilesHigh, tilesWide, tiles } = tiling(info);
  const wide = Math.max(inChannels, outChannels);
  const temp = POSITIONS * wide; // per thread: the two-pass transforms' intermediate
  const threads = nativeThreads(backend);
  const block = channelBlock(inChannels, outChannels);
  let scratch: TensorInfo | null = null;
  let y: TensorInfo | null = null;
  try {
    scratch = allocate(backend, [POSITIONS * (inChannels * block + tiles * inChannels + tiles * block) + 6 * wide + threads * temp]);
    y = allocate(backend, [batchSize, outHeight, outWidth, outChannels]);
    const at = layout(heapOffset(backend, scratch), {
      u: POSITIONS * inChannels * block,
      v: POSITIONS * tiles * inChannels,
      m: POSITIONS * tiles * block,
      zero: wide,
      sink: 5 * wide,
      temp: threads * temp,
    });
    const zero = at.zero!;
    heapView(backend, scratch).fill(0, (zero - heapOffset(backend, scratch)) / 4, (zero - heapOffset(backend, scratch)) / 4 + wide);
    transformInput(backend, x, info, at.v!, zero, at.temp!, temp);
    // U, the products and the output a block of output channels at a time (one block unless U is large).
    for (let first = 0; first < outChannels; first += block) {
      const count = Math.min(block, outChannels - first);
      const elements = inChannels * count;
      runNative(
        backend,
        'winograd',
        variantOf(info).filter,
        [heapOffset(backend, filter), at.u!, elements, outChannels, first, count],
        Math.ceil(elements / 4),
      );
      runNative(backend, 'winograd', 'winograd_products', [at.v!, at.u!, at.m!, tiles, inChannels, count], POSITIONS);
      runNative(
        backend,
        'winograd',
        'winograd_output',
        [
          at.m!,
          heapOffset(backend, y) + 4 * first,
          (options.bias ? heapOffset(backend, options.bias) : zero) + 4 * first,
          zero,
          at.sink!,
          at.temp!,
          outHeight,
          outWidth,
          count,
          outChannels,
          tilesHigh,
          tilesWide,
          tiles,
          options.relu ? 1 : 0,
          variantOf(info).tileOut,
        ],
        tiles,
        { argument: 5, stride: 4 * temp },
      );
    }
  } catch (error) {
    if (y) free(backend, y);
    throw error;
  } finally {
    if (scratch) free(backend, scratch);
  }
  return y;
}

/**
 * y = conv2d(x, filter) for a 4x4 stride-2 convolution, as the 2x2 stride-1 convolution it is over
 * the space to depth of the padded input: x'[i][j][(a·2 + b)·Ci + c] = xpad[2i + a][2j + b][c]
 * (native/rearrange.c) with the filter g'[p][q][(a·2 + b)·Ci + c] = g[2p + a][2q + b][c], since
 * y[oh][ow] = Σ over p, q, a, b of xpad[2(oh + p) + a][2(ow + q) + b] · g[2p + a][2q + b]. That
 * one goes through F(5x5, 2x2): 1.44 multiply-adds per output and input channel of the original
 * against 16 direct.
 */
export function conv2dStride2Winograd(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  options: WinogradOptions,
): TensorInfo {
  const { inChannels, outChannels } = info;
  let spaceToDepth: TensorInfo | null = null;
  let stacked: TensorInfo | null = null;
  try {
    spaceToDepth = spaceToDepth2(backend, x, info);
    stacked = allocate(backend, [2, 2, 4 * inChannels, outChannels]);
    restack(heapView(backend, filter), heapView(backend, stacked), inChannels * outChannels, false);
    return conv2dWinograd(backend, spaceToDepth, stacked, stride1Geometry(info), options);
  } finally {
    if (spaceToDepth) free(backend, spaceToDepth);
    if (stacked) free(backend, stacked);
  }
}

/** dW of a 4x4 stride-2 convolution: the 2x2 stride-1 one's over the space to depth (see above), restacked. */
export function conv2dBackpropFilterStride2Winograd(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { inChannels, outChannels } = info;
  let spaceToDepth: TensorInfo | null = null;
  let stackedGradient: TensorInfo | null = null;
  try {
    spaceToDepth = spaceToDepth2(backend, x, info);
    stackedGradient = conv2dBackpropFilterWinograd(backend, spaceToDepth, dy, stride1Geometry(info));
    // Nothing after the allocation can throw: restack only copies within the heap.
    const dw = allocate(backend, [4, 4, inChannels, outChannels]);
    restack(heapView(backend, stackedGradient), heapView(backend, dw), inChannels * outChannels, true);
    return dw;
  } finally {
    if (spaceToDepth) free(backend, spaceToDepth);
    if (stackedGradient) free(backend, stackedGradient);
  }
}

/** x' [N, OH + 1, OW + 1, 4 Ci]: the padded input's space to depth by 2 (native/rearrange.c). */
function spaceToDepth2(backend: BackendWasm, x: TensorInfo, info: backend_util.Conv2DInfo): TensorInfo {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth } = info;
  const out = allocate(backend, [batchSize, outHeight + 1, outWidth + 1, 4 * inChannels]);
  try {
    runNative(
      backend,
      'rearrange',
      'space_to_depth2',
      [
        heapOffset(backend, x),
        heapOffset(backend, out),
        inHeight,
        inWidth,
        inChannels,
        outHeight + 1,
        outWidth + 1,
        info.padInfo.top,
        info.padInfo.left,
      ],
      batchSize * (outHeight + 1),
    );
  } catch (error) {
    free(backend, out);
    throw error;
  }
  return out;
}

/** The 2x2 stride-1 convolution over the space to depth that a 4x4 stride-2 one is. */
function stride1Geometry(info: backend_util.Conv2DInfo): backend_util.Conv2DInfo {
  const { batchSize, outHeight, outWidth, inChannels, outChannels } = info;
  const shape: [number, number, number, number] = [batchSize, outHeight + 1, outWidth + 1, 4 * inChannels];
  return backend_util.computeConv2DInfo(shape, [2, 2, 4 * inChannels, outChannels], 1, 1, 'valid', undefined, false, 'channelsLast');
}

/**
 * g'[p][q][(a·2 + b)·Ci + c] = g[2p + a][2q + b][c] (or back, `unstack`): 16 contiguous blocks of
 * Ci·Co floats move.
 */
function restack(from: Float32Array, to: Float32Array, block: number, unstack: boolean): void {
  for (let p = 0; p < 2; p++) {
    for (let q = 0; q < 2; q++) {
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) {
          const original = ((2 * p + a) * 4 + (2 * q + b)) * block;
          const stacked = ((p * 2 + q) * 4 + (a * 2 + b)) * block;
          const [src, dst] = unstack ? [stacked, original] : [original, stacked];
          to.set(from.subarray(src, src + block), dst);
        }
      }
    }
  }
}

/**
 * dW [k, k, Ci, Co] of y = conv2d(x, W) (2x2, 3x3 or 4x4, stride 1, the padding in `info`) from x and
 * dy, through the same transform: for F(4x4, 3x3), with V = Bᵀ d B per input tile and
 * Wt = A dY Aᵀ per output-gradient tile, dU_k = Σ_tiles V_kᵀ Wt_k (36 products [Ci, tiles] x
 * [tiles, Co]) and dW = Gᵀ dU G; for F(3x3, 4x4) the same with G and A swapped.
 */
export function conv2dBackpropFilterWinograd(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  info: backend_util.Conv2DInfo,
): TensorInfo {
  const { inChannels, outHeight, outWidth, outChannels } = info;
  const { tilesHigh, tilesWide, tiles } = tiling(info);
  const wide = Math.max(inChannels, outChannels);
  const temp = POSITIONS * wide;
  const threads = nativeThreads(backend);
  const block = channelBlock(inChannels, outChannels);
  let scratch: TensorInfo | null = null;
  let dw: TensorInfo | null = null;
  try {
    scratch = allocate(backend, [POSITIONS * (tiles * inChannels + tiles * outChannels + inChannels * block) + wide + threads * temp]);
    dw = allocate(backend, [info.filterHeight, info.filterWidth, inChannels, outChannels]);
    const base = heapOffset(backend, scratch);
    const at = layout(base, {
      v: POSITIONS * tiles * inChannels,
      w: POSITIONS * tiles * outChannels,
      du: POSITIONS * inChannels * block,
      zero: wide,
      temp: threads * temp,
    });
    heapView(backend, scratch).fill(0, (at.zero! - base) / 4, (at.zero! - base) / 4 + wide);
    transformInput(backend, x, info, at.v!, at.zero!, at.temp!, temp);
    runNative(
      backend,
      'winograd',
      'winograd_gradient',
      [
        heapOffset(backend, dy),
        at.w!,
        at.zero!,
        at.temp!,
        outHeight,
        outWidth,
        outChannels,
        tilesHigh,
        tilesWide,
        tiles,
        variantOf(info).tileOut,
      ],
      tiles,
      { argument: 3, stride: 4 * temp },
    );
    for (let first = 0; first < outChannels; first += block) {
      const count = Math.min(block, outChannels - first);
      runNative(
        backend,
        'winograd',
        'winograd_filter_products',
        [at.v!, at.w!, at.du!, tiles, inChannels, outChannels, first, count],
        POSITIONS,
      );
      const elements = inChannels * count;
      runNative(
        backend,
        'winograd',
        variantOf(info).filterGrad,
        [at.du!, heapOffset(backend, dw), elements, outChannels, first, count],
        Math.ceil(elements / 4),
      );
    }
  } catch (error) {
    if (dw) free(backend, dw);
    throw error;
  } finally {
    if (scratch) free(backend, scratch);
  }
  return dw;
}

/**
 * Output channels per block of a call's transformed filter (U or dU [36][Ci][block]): all of them
 * when it fits winogradTransformMaxFloats, else the most, a multiple of 8, that do. PatchGAN's 4x4
 * 256->512 layer at 256 px would hold 19 MB of it at the step's peak of live buffers.
 */
function channelBlock(inChannels: number, outChannels: number): number {
  const fit = Math.floor(wasmKernelTuning.winogradTransformMaxFloats / (POSITIONS * inChannels));
  return fit >= outChannels ? outChannels : Math.max(8, fit - (fit % 8));
}
