// Shared by the kernel tests: how a result is compared with the cpu backend's.
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { wasmHeapStats } from '../../src/engine/heap-stats.ts';

/** max |a-b| / max |b|: the error relative to the reference's scale, robust to values near zero. */
export function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length, 'result sizes differ');
  let maxDiff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return maxDiff / (scale || 1);
}

/** A tensor's values, for results of tf.grads (whose array type allows a missing gradient). */
export function valuesOf(t: tf.Tensor | undefined): Float32Array {
  assert.ok(t, 'tf.grads returned fewer gradients than inputs');
  return t.dataSync() as Float32Array;
}

/** Runs `run` once to warm up, then three times more: tensors, wasm buffers and live heap bytes must stay where they were. */
export function assertNoLeaks(run: () => void): void {
  run();
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  const live = wasmHeapStats()?.liveBytes;
  for (let i = 0; i < 3; i++) run();
  assert.equal(tf.memory().numTensors, tensors, 'tensor count changed');
  assert.equal(tf.engine().backend.numDataIds(), buffers, 'wasm buffer count changed');
  assert.equal(wasmHeapStats()?.liveBytes, live, 'live heap bytes changed');
}
