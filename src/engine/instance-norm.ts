/**
 * Instance normalisation forward and backward as two wasm kernels, compiled from
 * native/instance-norm.c (wasm SIMD, in place on the heap; see native.ts). Op by op, tfjs-wasm
 * spends ~14 % of a ResNet-6 ngf 32 training step at 128 px in element-wise kernels (`npm run
 * bench -- profile`: Mean, Sum, Multiply, Sub, Square, Add), most of it in instance norm's nine
 * forward and eleven backward image-sized ops, each a full read and write of the activation. Here
 * the forward pass reads x three times and writes x̂ (and y) once; the backward reads dy and x̂
 * twice and writes dx once. (The same passes written in JavaScript were slower than the op-by-op
 * path: without SIMD, JS loses what the fusion saves.)
 *
 * Sums run in float32 in pixel order per channel, as tfjs-wasm's own means do; results differ
 * from the op-by-op path in the last bits (tests compare with the cpu backend). One thread, so
 * the bits do not depend on the thread count.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { float32Only, shape4 } from './kernel-common.ts';
import { INSTANCE_NORM, INSTANCE_NORM_GRAD } from './kernel-names.ts';
import { instanceNormModule } from './native.ts';
import { allocate, free, heapOffset, type KernelArgs } from './tfjs-internals.ts';

interface NormInputs {
  x: TensorInfo;
  scale?: TensorInfo;
  offset?: TensorInfo;
}

/** A buffer's heap offset for the compiled code; 0 (never a buffer's offset) for none. */
type At = (info: TensorInfo | null | undefined) => number;

/**
 * Allocates the outputs of `shapes` and `scratchFloats` of scratch, calls `compute` with them and
 * a heap-offset function, frees the scratch, and returns the outputs. On any failure (a full heap,
 * a trap) everything taken is freed before the error goes on.
 */
function runCompiled(
  backend: BackendWasm,
  shapes: number[][],
  scratchFloats: number,
  compute: (at: At, outputs: TensorInfo[], scratch: TensorInfo) => void,
): TensorInfo[] {
  const taken: TensorInfo[] = [];
  try {
    for (const shape of [...shapes, [scratchFloats]]) taken.push(allocate(backend, shape));
    const scratch = taken[taken.length - 1]!;
    const outputs = taken.slice(0, -1);
    compute((info) => (info ? heapOffset(backend, info) : 0), outputs, scratch);
    free(backend, scratch);
    return outputs;
  } catch (error) {
    free(backend, ...taken);
    throw error;
  }
}

function checkChannels(kernel: string, what: string, info: TensorInfo | undefined, channels: number): void {
  if (info && (info.shape.length !== 1 || info.shape[0] !== channels)) {
    throw new Error(`${kernel}: ${what} must have shape [${channels}], got [${info.shape}]`);
  }
}

export function instanceNorm(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { x, scale, offset } = args.inputs as unknown as NormInputs;
  const epsilon = (args.attrs as { epsilon: number }).epsilon;
  float32Only(INSTANCE_NORM, x, ...[scale, offset].filter((t): t is TensorInfo => t !== undefined));
  if ((scale === undefined) !== (offset === undefined)) throw new Error(`${INSTANCE_NORM}: scale and offset come together`);
  const [n, h, w, c] = shape4(x);
  checkChannels(INSTANCE_NORM, 'scale', scale, c);
  checkChannels(INSTANCE_NORM, 'offset', offset, c);
  const affine = scale !== undefined;
  const shapes = affine ? [x.shape, x.shape, [n, 1, 1, c]] : [x.shape, [n, 1, 1, c]];
  return runCompiled(backend, shapes, 2 * c, (at, outputs, scratch) => {
    const [y, xHat, rstd] = affine ? outputs : [null, outputs[0], outputs[1]];
    instanceNormModule(backend).instance_norm(at(x), at(xHat), at(y), at(rstd), at(scale), at(offset), at(scratch), n, h * w, c, epsilon);
  });
}

interface GradInputs {
  dy: TensorInfo;
  xHat: TensorInfo;
  rstd: TensorInfo;
  scale?: TensorInfo;
}

/**
 * With g = dy·scale and means over H×W: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),
 * dScale = Σ dy·x̂, dOffset = Σ dy (sums over N, H and W).
 */
export function instanceNormGrad(args: KernelArgs): TensorInfo[] {
  const backend = args.backend as BackendWasm;
  const { dy, xHat, rstd, scale } = args.inputs as unknown as GradInputs;
  float32Only(INSTANCE_NORM_GRAD, dy, xHat, rstd, ...(scale ? [scale] : []));
  const [n, h, w, c] = shape4(xHat);
  if (dy.shape.join() !== xHat.shape.join()) throw new Error(`${INSTANCE_NORM_GRAD}: dy [${dy.shape}] and x̂ [${xHat.shape}] differ`);
  if (rstd.shape.join() !== [n, 1, 1, c].join())
    throw new Error(`${INSTANCE_NORM_GRAD}: rstd must be [${n},1,1,${c}], got [${rstd.shape}]`);
  checkChannels(INSTANCE_NORM_GRAD, 'scale', scale, c);
  return runCompiled(backend, scale ? [xHat.shape, [c], [c]] : [xHat.shape], 5 * c, (at, outputs, scratch) => {
    const [dx, dScale, dOffset] = outputs;
    instanceNormModule(backend).instance_norm_grad(
      at(dy),
      at(xHat),
      at(rstd),
      at(scale),
      at(dx),
      at(dScale),
      at(dOffset),
      at(scratch),
      n,
      h * w,
      c,
    );
  });
}
