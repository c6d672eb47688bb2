/**
 * What the wasm convolution kernels share: their attributes, the tuning that picks their paths,
 * the stock kernels they fall back to, and geometry and copy helpers over the heap.
 */
import { backend_util, type KernelConfig, type NamedAttrMap, type NamedTensorInfoMap, type TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runKernel } from './tfjs-internals.ts';

export type Padding = 'same' | 'valid' | number | backend_util.ExplicitPadding;
type RoundingMode = 'floor' | 'round' | 'ceil' | undefined;

/** What every convolution kernel's attributes share. */
export interface ConvGeometryAttrs {
  strides: number | [number, number];
  pad: Padding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: RoundingMode;
}

export interface ConvAttrs extends ConvGeometryAttrs {
  dilations: number | [number, number];
  activation?: string;
  leakyreluAlpha?: number;
}

export interface BackpropInputAttrs extends ConvGeometryAttrs {
  inputShape: [number, number, number, number];
}

export interface BackpropFilterAttrs extends ConvGeometryAttrs {
  filterShape: [number, number, number, number];
}

/**
 * Thresholds choosing between the kernels' paths (tests set them to 0 and Infinity to force one).
 *
 * Below `gemmMaxDyPixels` dy pixels the phase decomposition of Conv2DBackpropInput is dominated by
 * work proportional to the filter (building sub-filters, XNNPACK packing them) rather than by
 * arithmetic: the U-Net's 1x1 to 8x8 layers hold most of its 54M weights and little else. There dx
 * is computed as one matrix product that reads the filter in place, followed by col2im.
 */
export const wasmKernelTuning = {
  /** dy pixels up to which Conv2DBackpropInput uses GEMM + col2im (tests set 0 and Infinity to cover both paths). */
  gemmMaxDyPixels: 64,
  /** Output pixels up to which Conv2D and plain FusedConv2D use the transposed-filter GEMM (0 turns it off). */
  convGemmMaxOutPixels: 64,
  /**
   * 3x3 and 4x4 stride-1 Conv2D/FusedConv2D, Conv2DBackpropInput and Conv2DBackpropFilter through
   * Winograd F(4x4, 3x3) and F(3x3, 4x4) (winograd.ts; transforms and products compiled to wasm SIMD and split
   * over native-threads.ts' workers; nothing cached). On at start; useBackend's `winograd` sets
   * it. Measured with `npm run bench -- kernels --baseline` (2 threads, trainers paused): 32 px
   * 128->128 forward 2.6 ms against 5.0 direct, input gradient 2.8 against 5.5, filter gradient
   * 2.4 against 9.1; 64 px 256->256 32.4 / 35.4 / 27.4 against 90.3 / 93.2 / 108.1; 4x4 at
   * 31 px 256->512 (PatchGAN at 256 px) 25.5 / 27.1 / 26.5 against 65.9 / 78.4 / 92.4.
   */
  winograd: true,
  /**
   * Fewest input and output channels for Winograd, and fewest output pixels (all images). Below
   * 16 channels or 12x12 pixels the two are within the noise of each other (same measurement:
   * 32 px 16->16 forward 0.38 ms against 0.25 direct; and, timing single kernels with and without
   * winogradMinOutPixels, no bench row: 12x12 out 3x3 64->64 a tie, 8x8 256->256 slightly slower),
   * and above they win: PatchGAN's 4x4 128->256 at 128 px (15x15 out, a bench row) forward /
   * input / filter gradient 3.0 / 4.2 / 3.2 ms against 4.8 / 7.3 / 7.9.
   */
  winogradMinChannels: 16,
  winogradMinOutPixels: 144,
  /**
   * Fewest output pixels for the 2x2 phases by F(5x5, 2x2): its filter transform is 9 times the
   * sub-filter, so it needs many tiles to pay. Bench (as above) at 32x32 outputs: 64->128 input
   * gradient 7.3 ms against 8.1, 128->256 20.5 against 22.3; single kernels timed with and without
   * it (no bench row) lost at 16x16 phases 1024->256, by ~40 %.
   */
  winogradPhaseMinOutPixels: 1024,
  /**
   * The largest transformed filter (36·4·Ci·Co floats, 9 times the filter) a 4x4 stride-2
   * convolution may take through Winograd, and the most floats its filter gradient may hold: the
   * U-Net's wide layers at 32x32 would hold 19-38 MB of transformed filter, and its 64->128 layer
   * at 256 px 18 MB of buffers, at the step's peak of live buffers, which must not grow.
   */
  winogradStride2MaxTransformFloats: 2 ** 22,
  /**
   * The most floats of transformed filter (U, or dU for the filter gradient) a Winograd call holds
   * at once; past that it goes by blocks of output channels, with the same results.
   */
  winogradTransformMaxFloats: 2 ** 20,
  /**
   * Conv2DBackpropFilter with at most this many output channels (input channels a multiple of 4)
   * through native/filter-grad.c's direct accumulation: the matrix product's 1-4 columns would
   * leave its 4x8 blocks empty. `npm run bench -- kernels --baseline` (2 threads, no trainer):
   * 7x7 at 128 px 32->3 3.6 ms against 17.6 for the product, PatchGAN's last 4x4 512->1 at 32 px
   * 1.1 against 3.6.
   */
  filterGradSmallMaxChannels: 4,
  /** Output rows per band of that kernel: its inputs for a band stay in L2 while every tap goes by. */
  filterGradSmallBand: 8,
  /**
   * The panel of native/filter-grad.c's in-place product dW = Xᵀ·dY for every other
   * Conv2DBackpropFilter: `filterGradChunk` pixels by `filterGradBlockRows` dW rows (16 KB, in L1).
   * It replaced an XNNPACK product per kernel position over phase-split copies of x, 2-3x slower
   * on the ResNets' stride-2 3x3 layers when single kernels were timed side by side before that
   * path was removed (no command here reproduces that comparison now).
   */
  filterGradBlockRows: 64,
  filterGradChunk: 64,
  /**
   * Convolutions with at most `narrowConvMaxChannels` input or output channels (the other side a
   * multiple of 4) through native/conv-narrow.c instead of XNNPACK: forward (Conv2D,
   * FusedConv2D) and the stride-1 convolutions of Conv2DBackpropInput's phases. Bench (as above,
   * 7x7 at 128 px, forward / input gradient): to RGB 32->3 5.2 / 6.1 ms against 9.8 / 6.6, from RGB
   * 3->32 4.8 / 5.1 against 3.9 / 10.3 (its forward a tie or a loss).
   */
  narrowConv: true,
  narrowConvMaxChannels: 4,
};

/**
 * A convolution's geometry as the compiled kernels take it (native/filter-grad.c,
 * native/conv-narrow.c): in height, width, channels, out height, width, channels, filter height,
 * width, strides, top and left padding.
 */
export function geometryArgs(info: backend_util.Conv2DInfo): number[] {
  return [
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ];
}

/** The backend's own kernels that the ones here replaced, kept as their fallbacks and engines. */
export const stockKernels: { conv2D?: KernelConfig; fusedConv2D?: KernelConfig; backpropInput?: KernelConfig } = {};

/** One of the backend's own kernels that a kernel here replaced. */
export function runStock(
  config: KernelConfig | undefined,
  backend: BackendWasm,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  if (!config) throw new Error(`the wasm backend has no kernel to fall back to (dataFormat ${String(attrs.dataFormat)})`);
  return runKernel(config, backend, inputs, attrs);
}

export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}

export function positiveMod(a: number, b: number): number {
  return ((a % b) + b) % b;
}

/** The four dimensions of an NHWC (or HWIO) tensor; every kernel here works on rank 4 only. */
export function shape4(info: TensorInfo): [number, number, number, number] {
  const [a, b, c, d] = info.shape;
  if (info.shape.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    throw new Error(`expected a rank-4 tensor, got shape [${info.shape}]`);
  }
  return [a, b, c, d];
}

export function byteSize(info: TensorInfo): number {
  return 4 * info.shape.reduce((a, b) => a * b, 1);
}

/**
 * The geometry of the forward convolution both gradient kernels invert, with dy checked against
 * its output shape.
 */
export function convGeometry(
  kernelName: string,
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  dy: TensorInfo,
  attrs: Pick<BackpropInputAttrs, 'strides' | 'pad' | 'dimRoundingMode'>,
): backend_util.Conv2DInfo {
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize, outHeight, outWidth, outChannels } = info;
  if (dy.shape[1] !== outHeight || dy.shape[2] !== outWidth || dy.shape[3] !== outChannels) {
    throw new Error(
      `${kernelName}: dy shape [${dy.shape}] does not match the convolution's output ` +
        `[${batchSize},${outHeight},${outWidth},${outChannels}]`,
    );
  }
  return info;
}

/** The forward geometry of an NHWC, undilated float32 convolution, or null when it is not one. */
export function plainConvGeometry(x: TensorInfo, filter: TensorInfo, attrs: ConvAttrs): backend_util.Conv2DInfo | null {
  if (attrs.dataFormat === 'NCHW' || x.dtype !== 'float32' || filter.dtype !== 'float32') return null;
  const dilations = typeof attrs.dilations === 'number' ? [attrs.dilations, attrs.dilations] : (attrs.dilations ?? [1, 1]);
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
  return info.inChannels === filter.shape[2] ? info : null;
}

export function float32Only(kernelName: string, ...infos: TensorInfo[]): void {
  for (const info of infos) {
    if (info.dtype !== 'float32') throw new Error(`${kernelName} on wasm needs float32 tensors, got ${info.dtype}`);
  }
}

const TILE = 32;

/**
 * dst[dstOffset + c*rows + r] = src[srcOffset + r*cols + c]. Tiled so both sides stay in cache: on
 * a [512, 1024] block this runs ~3x faster than wasm's Transpose kernel.
 */
export function transposeMatrix(
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
        for (let c = c0; c < cEnd; c++) dst[dstOffset + c * rows + r] = src[srcRow + c]!;
      }
    }
  }
}
