import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { Adam } from '../../src/train/adam.ts';

const OPTIONS = { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 };

describe('Adam', () => {
  it('takes the hand-computed first steps', async () => {
    await useBackend('cpu');
    const w = tf.variable(tf.tensor1d([1, -2]), true, 'adam_hand_w');
    const adam = new Adam([w], OPTIONS);
    // Step 1, g = [0.5, -4]: m = 0.5g, v = 0.001g^2; m/(1-0.5) = g, sqrt(v/(1-0.999)) = |g|,
    // so each weight moves by lr * sign(g) (up to epsilon).
    adam.apply([tf.tensor1d([0.5, -4])]);
    const step1 = w.dataSync();
    assert.ok(Math.abs(step1[0]! - (1 - 2e-4)) < 1e-7, `w0 after one step: ${step1[0]}`);
    assert.ok(Math.abs(step1[1]! - (-2 + 2e-4)) < 1e-7, `w1 after one step: ${step1[1]}`);
    // Step 2, g = [0, 2]: m = [0.125, -1], v = [0.00025*0.999, 0.015984+0.004] ...
    adam.apply([tf.tensor1d([0, 2])]);
    const m = [0.5 * 0.25 + 0, 0.5 * -2 + 0.5 * 2];
    const v = [0.999 * 0.00025, 0.999 * 0.016 + 0.001 * 4];
    const c1 = 1 - 0.25;
    const c2 = 1 - 0.999 ** 2;
    const expected = [
      step1[0]! - (2e-4 * (m[0]! / c1)) / (Math.sqrt(v[0]! / c2) + 1e-7),
      step1[1]! - (2e-4 * (m[1]! / c1)) / (Math.sqrt(v[1]! / c2) + 1e-7),
    ];
    const step2 = w.dataSync();
    assert.ok(Math.abs(step2[0]! - expected[0]!) < 1e-7, `w0 after two steps: ${step2[0]} vs ${expected[0]}`);
    assert.ok(Math.abs(step2[1]! - expected[1]!) < 1e-7, `w1 after two steps: ${step2[1]} vs ${expected[1]}`);
    assert.equal(adam.iterations, 2);
    w.dispose();
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`follows tf.train.adam and restores its state bit for bit (${backend})`, async () => {
      await useBackend(backend);
      const init = tf.randomNormal([3, 4], 0, 1, 'float32', 5);
      const ours = tf.variable(init.clone(), true, `adam_ours_${backend}`);
      const theirs = tf.variable(init.clone(), true, `adam_theirs_${backend}`);
      const reference = tf.train.adam(OPTIONS.lr, OPTIONS.beta1, OPTIONS.beta2, OPTIONS.epsilon);
      const adam = new Adam([ours], OPTIONS);
      const grads = Array.from({ length: 6 }, (_, i) => tf.randomNormal([3, 4], 0, 1 + i, 'float32', 10 + i));
      grads.slice(0, 3).forEach((g) => {
        adam.apply([g]);
        reference.applyGradients([{ name: theirs.name, tensor: g }]);
      });
      // Save, keep going, then restore into a fresh optimizer and redo the same steps.
      const saved = await adam.getState();
      const snapshot = { step: saved.step, moments: saved.moments.map((x) => x.slice()) };
      const weightsAtSave = ours.dataSync().slice();
      grads.slice(3).forEach((g) => {
        adam.apply([g]);
        reference.applyGradients([{ name: theirs.name, tensor: g }]);
      });
      const straight = ours.dataSync().slice();
      const a = ours.dataSync();
      const b = theirs.dataSync();
      for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-6, `[${i}] ${a[i]} vs tf.train.adam ${b[i]}`);

      ours.assign(tf.tensor(weightsAtSave, [3, 4]));
      const resumed = new Adam([ours], OPTIONS);
      resumed.setState(snapshot);
      grads.slice(3).forEach((g) => resumed.apply([g]));
      assert.deepEqual(ours.dataSync(), straight);
      assert.throws(
        () => resumed.setState({ step: 1, moments: [new Float32Array(5), new Float32Array(12)] }),
        /moment 0 has 5 values, expected 12 \(3,4\)/,
      );
      tf.dispose([init, ours, theirs, ...grads]);
      reference.dispose();
    });

    it(`takes gradients as tensors or as their values alike, and rejects a wrong size (${backend})`, async () => {
      await useBackend(backend);
      const init = tf.randomNormal([5, 3], 0, 1, 'float32', 7);
      const a = tf.variable(init.clone(), true, `adam_tensor_${backend}`);
      const b = tf.variable(init.clone(), true, `adam_values_${backend}`);
      const byTensor = new Adam([a], OPTIONS);
      const byValues = new Adam([b], OPTIONS);
      for (let i = 0; i < 3; i++) {
        const g = tf.randomNormal([5, 3], 0, 1, 'float32', 30 + i);
        byTensor.apply([g]);
        byValues.apply([g.dataSync() as Float32Array]);
        g.dispose();
      }
      assert.deepEqual(a.dataSync(), b.dataSync());
      assert.throws(() => byValues.apply([new Float32Array(4)]), /gradient 0 has 4 values for variable adam_values_\w+ of shape \[5,3\]/);
      tf.dispose([init, a, b]);
    });
  }
});
