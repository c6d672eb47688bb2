// Shared by the kernel tests: how a result is compared with the cpu backend's.
import assert from 'node:assert/strict';
import type * as tf from '@tensorflow/tfjs';

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
