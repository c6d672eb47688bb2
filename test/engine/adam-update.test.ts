import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { adamScratch, adamUpdateOnHeap, adamUpdateTuning } from '../../src/engine/adam-update.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import { activeWasmBackend, allocate, free } from '../../src/engine/tfjs-internals.ts';
import { Adam } from '../../src/train/adam.ts';
import { assertNoLeaks } from './helpers.ts';

const OPTIONS = { lr: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 };
// Sizes around the chunk of 64: a tail of 1, one whole chunk, several chunks and a partial group.
const SHAPES = [[1], [64], [3, 7, 10]];

/** Weights and both moments after `steps` updates on `backend`, gradients as tensors or as values. */
async function train(backend: 'cpu' | 'wasm', steps: number, asValues: boolean) {
  await useBackend(backend);
  const variables = SHAPES.map((shape, i) =>
    tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 40 + i), true, `adam_kernel_${backend}_${asValues}_${i}`),
  );
  const adam = new Adam(variables, OPTIONS);
  for (let step = 0; step < steps; step++) {
    // Large and tiny gradients both: v spans many exponents, so a rounding difference would show.
    const grads = SHAPES.map((shape, i) => tf.randomNormal(shape, 0, step % 2 ? 1e-4 : 3, 'float32', 1 + 100 * step + i)); // seed 0 would mean none
    adam.apply(asValues ? grads.map((g) => g.dataSync() as Float32Array) : grads);
    tf.dispose(grads);
  }
  const result = {
    weights: variables.map((v) => v.dataSync().slice() as Float32Array),
    moments: (await adam.getState()).moments.map((m) => m.slice()),
  };
  tf.dispose(variables);
  return result;
}

describe('Adam on the wasm heap (native/adam.c)', () => {
  it("gives the JavaScript loop's bits (cpu backend), gradients as tensors or as values", async () => {
    adamUpdateTuning.chunk = 64;
    const reference = await train('cpu', 4, false);
    const calls = nativeCallCounts.get('adam.adam_update') ?? 0;
    const byTensors = await train('wasm', 4, false);
    // 1 + 1 + 4 chunks per step for the three variables.
    assert.equal((nativeCallCounts.get('adam.adam_update') ?? 0) - calls, 4 * 6, 'the wasm path did not run the kernel chunk by chunk');
    const byValues = await train('wasm', 4, true);
    assert.deepEqual(byTensors, reference);
    assert.deepEqual(byValues, reference);
    // And the update moved the weights: identical results of a no-op would prove nothing.
    const start = tf.randomNormal([3, 7, 10], 0, 1, 'float32', 42).dataSync();
    assert.ok(reference.weights[2]!.some((w, i) => Math.abs(w - start[i]!) > 1e-3));
  });

  it('leaks nothing, and frees its buffers when a gradient is the wrong size', async () => {
    await useBackend('wasm');
    adamUpdateTuning.chunk = 64;
    const w = tf.variable(tf.randomNormal([130], 0, 1, 'float32', 3), true, 'adam_kernel_leaks');
    const adam = new Adam([w], OPTIONS);
    const g = tf.randomNormal([130], 0, 1, 'float32', 4);
    assertNoLeaks(() => adam.apply([g]));
    const wrong = tf.zeros([129]);
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    assert.throws(() => adam.apply([wrong]), /gradient 0 has 129 values for variable adam_kernel_leaks of shape \[130\]/);
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.engine().backend.numDataIds(), buffers, 'the scratch or the new weights were left on the heap');
    tf.dispose([w, g, wrong]);
  });

  it('rejects a scratch buffer of another chunk size', async () => {
    await useBackend('wasm');
    const backend = activeWasmBackend()!;
    adamUpdateTuning.chunk = 64;
    const scratch = adamScratch(backend);
    adamUpdateTuning.chunk = 32;
    const w = allocate(backend, [8]);
    try {
      const k = { beta1: 0.5, beta2: 0.999, epsilon: 1e-8, stepSize: 0.01, sqrtCorrection2: 0.03 };
      const moments = { m: new Float32Array(8), v: new Float32Array(8) };
      assert.throws(() => adamUpdateOnHeap(backend, w, w, w, moments, k, scratch), /scratch of 192 floats, expected 96/);
    } finally {
      adamUpdateTuning.chunk = 2 ** 16;
      free(backend, scratch, w);
    }
  });
});
