/**
 * Adam's update of one variable on the wasm heap (native/adam.c), for src/train/adam.ts.
 *
 * The weights, their gradient and the new weights are on the heap; the moments stay in JavaScript
 * memory (two U-Nets carry 870 MB of them, which must not join a step's peak of live buffers), so
 * they pass through a small scratch buffer a chunk at a time: copied in, updated with the weights,
 * copied back. The kernel's float64 arithmetic is adam.ts's JavaScript loop's, operation for
 * operation, and a chunk's groups of 4 are split over the compiled kernels' threads, so the
 * result is the same bits as the cpu backend's loop whatever the thread count or chunk size.
 * `npm run bench -- kernels` times it against that loop.
 */
import type { TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { runNative } from './native-threads.ts';
import { allocate, heapOffset, wasmMemory } from './tfjs-internals.ts';

export const adamUpdateTuning = {
  /**
   * Moment values copied through the heap per kernel call: the scratch is three chunks (m, v and
   * a gradient given as values), 768 KB, while a split call costs tens of microseconds to start.
   */
  chunk: 2 ** 16,
};

/** The update's constants for one step, computed by the caller in float64 as its own loop does. */
export interface AdamCoefficients {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** lr / (1 − beta1^t). */
  stepSize: number;
  /** sqrt(1 − beta2^t). */
  sqrtCorrection2: number;
}

/** A scratch buffer for adamUpdateOnHeap, one per optimizer step; `free` it after. */
export function adamScratch(backend: BackendWasm): TensorInfo {
  return allocate(backend, [3 * adamUpdateTuning.chunk]);
}

/**
 * Writes w − Adam's step into `next` (a heap buffer of w's size) and advances `m` and `v` in
 * place. `grad` is a heap buffer or its values; `scratch` comes from adamScratch.
 */
export function adamUpdateOnHeap(
  backend: BackendWasm,
  weights: TensorInfo,
  grad: TensorInfo | Float32Array,
  next: TensorInfo,
  moments: { m: Float32Array; v: Float32Array },
  k: AdamCoefficients,
  scratch: TensorInfo,
): void {
  const { m, v } = moments;
  const chunk = adamUpdateTuning.chunk;
  const scratchAt = heapOffset(backend, scratch);
  if (scratch.shape[0] !== 3 * chunk) throw new Error(`adamUpdateOnHeap: scratch of ${scratch.shape[0]} floats, expected ${3 * chunk}`);
  const w = heapOffset(backend, weights);
  const out = heapOffset(backend, next);
  const g = grad instanceof Float32Array ? -1 : heapOffset(backend, grad);
  const constants = [k.beta1, 1 - k.beta1, k.beta2, 1 - k.beta2, k.stepSize, k.sqrtCorrection2, k.epsilon];
  for (let begin = 0; begin < m.length; begin += chunk) {
    const n = Math.min(chunk, m.length - begin);
    // A view per chunk: nothing allocates on the heap during the loop, but a view must not
    // outlive the call that took it.
    const heap = new Float32Array(wasmMemory(backend).buffer, scratchAt, 3 * chunk);
    heap.set(m.subarray(begin, begin + n), 0);
    heap.set(v.subarray(begin, begin + n), chunk);
    if (grad instanceof Float32Array) heap.set(grad.subarray(begin, begin + n), 2 * chunk);
    const gAt = g < 0 ? scratchAt + 8 * chunk : g + 4 * begin;
    runNative(
      backend,
      'adam',
      'adam_update',
      [gAt, w + 4 * begin, out + 4 * begin, scratchAt, scratchAt + 4 * chunk, n, ...constants],
      Math.ceil(n / 4),
    );
    m.set(heap.subarray(0, n), begin);
    v.set(heap.subarray(chunk, chunk + n), begin);
  }
}
