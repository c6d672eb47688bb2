/**
 * Element-wise kernels for the wasm backend (native/elementwise.c), split over the compiled
 * kernels' threads: LeakyRelu and its gradient, SplitV along the last axis, Sum over all axes but
 * the last, and the gradient of reflection padding (MIRROR_PAD_GRAD, whose ops-only form is in
 * models/layers/reflection-padding.ts). The stock ones are scalar loops on one thread — LeakyRelu
 * ~7 ns an element, its gradient three ops (Greater, Multiply, Select) and two temporaries,
 * SplitV a strided slice per piece, Sum a transpose first — and took ~0.6 s of a U-Net step at
 * 256 px (`npm run bench -- profile --generator unet --size 256`: the encoder's and PatchGAN's
 * LeakyReLUs, the skip connections' concatenations) and ~0.1 s of a ResNet-9 one at 128 (the
 * biases' gradients). Each result is the stock kernel's bits, or the ops' (tested against them).
 */
import { backend_util, LeakyRelu, type KernelConfig, type TensorInfo, util } from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { LEAKY_RELU_GRAD, MIRROR_PAD_GRAD } from './kernel-names.ts';
import { runNative } from './native-threads.ts';
import { allocate, free, heapOffset, WASM, type KernelArgs } from './tfjs-internals.ts';

/** The stock kernels replaced here, for inputs the compiled ones do not take. */
export const stockElementwise: { leakyRelu?: KernelConfig; splitV?: KernelConfig; sum?: KernelConfig } = {};

/** Element groups of 4 per unit of a split call: the kernels take [4·begin, 4·end). */
const groups = (size: number) => Math.ceil(size / 4);

/**
 * A new float32 buffer of `shape` written by elementwise.c's `name` over `units` (its arguments
 * given the buffer's heap offset); freed if the call fails.
 */
function computeInto(backend: BackendWasm, shape: number[], name: string, args: (out: number) => number[], units: number): TensorInfo {
  const out = allocate(backend, shape);
  if (units === 0) return out;
  try {
    runNative(backend, 'elementwise', name, args(heapOffset(backend, out)), units);
  } catch (error) {
    free(backend, out);
    throw error;
  }
  return out;
}

/** LeakyRelu: x < 0 ? alpha·x : x, float32 (an int32 input goes to the stock kernel). */
export function leakyRelu(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const backend = args.backend as BackendWasm;
  if (x.dtype !== 'float32') return stockElementwise.leakyRelu!.kernelFunc(args);
  const alpha = (args.attrs as { alpha: number }).alpha;
  const size = util.sizeFromShape(x.shape);
  return computeInto(backend, x.shape, 'leaky_relu', (y) => [heapOffset(backend, x), y, alpha, size], groups(size));
}

/** LEAKY_RELU_GRAD: inputs {dy, x}, attrs {alpha}; dx = x > 0 ? dy : dy·alpha. */
export function leakyReluGrad(args: KernelArgs): TensorInfo {
  const { dy, x } = args.inputs as { dy: TensorInfo; x: TensorInfo };
  const backend = args.backend as BackendWasm;
  const alpha = (args.attrs as { alpha: number }).alpha;
  const size = util.sizeFromShape(x.shape);
  if (!util.arraysEqual(dy.shape, x.shape)) throw new Error(`${LEAKY_RELU_GRAD}: dy of shape [${dy.shape}] for x of shape [${x.shape}]`);
  return computeInto(
    backend,
    x.shape,
    'leaky_relu_grad',
    (dx) => [heapOffset(backend, dy), heapOffset(backend, x), dx, alpha, size],
    groups(size),
  );
}

/** SplitV: along the last axis of a float32 tensor as strided copies, otherwise the stock kernel. */
export function splitV(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const backend = args.backend as BackendWasm;
  const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number | number[]; axis: number };
  const last = x.shape.length - 1;
  const dim = util.parseAxisParam(axis, x.shape)[0]!;
  if (x.dtype !== 'float32' || dim !== last || last < 1) return stockElementwise.splitV!.kernelFunc(args);
  const sizes = backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, dim);
  const row = x.shape[last]!;
  const rows = util.sizeFromShape(x.shape) / Math.max(row, 1);
  const pieces: TensorInfo[] = [];
  try {
    let offset = 0;
    for (const width of sizes) {
      const piece = allocate(backend, [...x.shape.slice(0, last), width]);
      pieces.push(piece);
      if (width > 0 && rows > 0) {
        runNative(
          backend,
          'elementwise',
          'slice_last_axis',
          [heapOffset(backend, x), heapOffset(backend, piece), row, offset, width],
          rows,
        );
      }
      offset += width;
    }
  } catch (error) {
    free(backend, ...pieces);
    throw error;
  }
  return pieces;
}

/**
 * Sum over every axis but the last of a float32 tensor (a bias's gradient: the ResNets' and
 * PatchGAN's convolutions have biases), one pass in row order; the stock kernel transposes the
 * input first. Other reductions go to the stock kernel.
 */
export function sum(args: KernelArgs): TensorInfo | TensorInfo[] {
  const { x } = args.inputs as { x: TensorInfo };
  const backend = args.backend as BackendWasm;
  const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
  const last = x.shape.length - 1;
  // In that order only: the stock kernel's order of summation follows the order of the axes.
  const axes = util.parseAxisParam(axis, x.shape);
  const allButLast = axes.length === last && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || last < 1 || !allButLast) return stockElementwise.sum!.kernelFunc(args);
  const c = x.shape[last]!;
  const rows = util.sizeFromShape(x.shape.slice(0, last));
  const shape = keepDims ? [...x.shape.slice(0, last).map(() => 1), c] : [c];
  return computeInto(backend, shape, 'sum_rows', (out) => [heapOffset(backend, x), out, rows, c], groups(c));
}

/** MIRROR_PAD_GRAD: dx [N, H, W, C] from dy of the padded shape, every copy of a pixel summed. */
export function mirrorPadGrad(args: KernelArgs): TensorInfo {
  const { dy } = args.inputs as { dy: TensorInfo };
  const backend = args.backend as BackendWasm;
  const { paddings, mode } = args.attrs as unknown as { paddings: [number, number][]; mode: 'reflect' | 'symmetric' };
  const [[b0, b1], [top, bottom], [left, right], [c0, c1]] = paddings as [
    [number, number],
    [number, number],
    [number, number],
    [number, number],
  ];
  if (dy.shape.length !== 4 || b0 + b1 + c0 + c1 !== 0 || dy.dtype !== 'float32') {
    throw new Error(
      `${MIRROR_PAD_GRAD}: takes float32 NHWC with only H and W padded, got [${dy.shape}] ${dy.dtype} padded ${JSON.stringify(paddings)}`,
    );
  }
  const [n, ph, pw, c] = dy.shape as [number, number, number, number];
  const h = ph - top - bottom;
  const w = pw - left - right;
  const geometry = [h, w, c, top, bottom, left, right, mode === 'reflect' ? 1 : 0];
  return computeInto(
    backend,
    [n, h, w, c],
    'mirror_pad_grad',
    (dx) => [heapOffset(backend, dy), dx, ...geometry],
    n * h * w * c === 0 ? 0 : n * h,
  );
}

/**
 * The LeakyRelu gradient tfjs registers (where(greater(x, 0), dy, mul(dy, alpha))), as one kernel
 * on wasm where it is registered; the same ops elsewhere. Installed by registerWasmKernels; tfjs
 * keeps one gradient per kernel name, for every backend.
 */
export function registerLeakyReluGradient(): void {
  tf.registerGradient({
    kernelName: LeakyRelu,
    inputsToSave: ['x'],
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x] = saved as [tf.Tensor];
      const g = dy as tf.Tensor;
      const { alpha } = attrs as unknown as { alpha: number };
      if (tf.getBackend() === WASM && x.dtype === 'float32' && g.dtype === 'float32' && tf.getKernel(LEAKY_RELU_GRAD, WASM)) {
        return { x: () => tf.engine().runKernel(LEAKY_RELU_GRAD, { dy: g, x }, { alpha }) as tf.Tensor };
      }
      const mask = tf.greater(x, 0);
      return { x: () => tf.where(mask, g, tf.mul(g, alpha)) };
    },
  });
}
