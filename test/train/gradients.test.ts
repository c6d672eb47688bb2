import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { resetPeakBuffers, wasmHeapStats } from '../../src/engine/heap-stats.ts';
import { buildUnetGenerator } from '../../src/models/generators.ts';
import { setDropoutSeed } from '../../src/models/layers/seeded-dropout.ts';
import { variableGradsFrugal } from '../../src/train/gradients.ts';

/** A loss that uses both networks twice (like the cycle terms), so weights collect several gradients. */
function cycleLike(g: tf.LayersModel, f: tf.LayersModel, a: tf.Tensor4D, b: tf.Tensor4D): () => tf.Scalar {
  return () => {
    setDropoutSeed(7); // the same dropout masks in both runs
    const fakeB = g.apply(a, { training: true }) as tf.Tensor4D;
    const cycled = f.apply(fakeB, { training: true }) as tf.Tensor4D;
    const fakeA = f.apply(b, { training: true }) as tf.Tensor4D;
    const back = g.apply(fakeA, { training: true }) as tf.Tensor4D;
    return tf.add(tf.mean(tf.abs(tf.sub(cycled, a))), tf.mean(tf.square(tf.sub(back, b)))).add(fakeB.mean()) as tf.Scalar;
  };
}

function variablesOf(...models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`variableGradsFrugal on ${backend}`, () => {
    it('gives exactly the gradients of tf.variableGrads, leaving only the results behind', async () => {
      await useBackend(backend);
      const g = buildUnetGenerator({ size: 16, ngf: 4, seed: 1, name: 'g' });
      const f = buildUnetGenerator({ size: 16, ngf: 4, seed: 2, name: 'f' });
      const a = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
      const b = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
      const vars = variablesOf(g, f);
      const reference = tf.variableGrads(cycleLike(g, f, a, b), vars);
      const before = tf.memory().numTensors;
      const frugal = variableGradsFrugal(cycleLike(g, f, a, b), vars);
      assert.equal(tf.memory().numTensors, before + 1 + vars.length, 'only the value and one gradient per variable remain');
      assert.equal(frugal.value.dataSync()[0], reference.value.dataSync()[0]);
      assert.deepEqual(Object.keys(frugal.grads).sort(), Object.keys(reference.grads).sort());
      for (const name of Object.keys(reference.grads)) {
        const expected = reference.grads[name]!.dataSync();
        const actual = frugal.grads[name]!.dataSync();
        assert.deepEqual(frugal.grads[name]!.shape, reference.grads[name]!.shape, name);
        for (let i = 0; i < expected.length; i++) {
          if (actual[i] !== expected[i]) assert.fail(`${name}[${i}]: ${actual[i]} vs ${expected[i]}`);
        }
      }
      tf.dispose([reference.value, frugal.value, ...Object.values(reference.grads), ...Object.values(frugal.grads), a, b]);
      g.dispose();
      f.dispose();
    });

    it('rejects a non-scalar function and one no variable reaches', async () => {
      await useBackend(backend);
      const v = tf.variable(tf.ones([2]), true, `frugal_v_${backend}`);
      const w = tf.variable(tf.ones([2]), true, `frugal_w_${backend}`);
      const before = tf.memory().numTensors;
      assert.throws(() => variableGradsFrugal(() => v.mul(2).square() as unknown as tf.Scalar, [v]), /must return a scalar, got rank 1/);
      assert.throws(() => variableGradsFrugal(() => w.sum(), [v]), /no variable is connected/);
      assert.equal(tf.memory().numTensors, before, 'a failed call left tensors behind');
      const { value, grads } = variableGradsFrugal(() => v.mul(v).sum(), [v]);
      assert.deepEqual(Array.from(grads[v.name]!.dataSync()), [2, 2]);
      tf.dispose([value, ...Object.values(grads), v, w]);
    });
  });
}

describe('variableGradsFrugal with custom gradients', () => {
  it('keeps a saved tensor that a custom gradient hands back as a gradient', async () => {
    await useBackend('cpu');
    // d/dx of this "op" is defined as its saved input: the saved tensor becomes a gradient.
    const echo = tf.customGrad(((x: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x]);
      return { value: tf.square(x), gradFunc: (_dy: tf.Tensor, saved: tf.Tensor[]) => saved[0]! };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'frugal_echo_v');
    const loss = () => tf.sum(tf.mul(echo(tf.mul(v, 2)), 3)) as tf.Scalar;
    const reference = tf.variableGrads(loss, [v]);
    const frugal = variableGradsFrugal(loss, [v]);
    assert.deepEqual(Array.from(frugal.grads[v.name]!.dataSync()), Array.from(reference.grads[v.name]!.dataSync()));
    tf.dispose([v, reference.value, frugal.value, ...Object.values(reference.grads), ...Object.values(frugal.grads)]);
  });
});

describe('variableGradsFrugal memory (wasm)', () => {
  it('holds less at its peak than tf.variableGrads on a generator used twice', async (t) => {
    await useBackend('wasm');
    const g = buildUnetGenerator({ size: 32, ngf: 8, seed: 1, name: 'g' });
    const f = buildUnetGenerator({ size: 32, ngf: 8, seed: 2, name: 'f' });
    const a = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
    const b = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const vars = variablesOf(g, f);
    const peakOf = (run: () => { value: tf.Scalar; grads: tf.NamedTensorMap }) => {
      resetPeakBuffers();
      const start = wasmHeapStats()!.liveBytes;
      const { value, grads } = run();
      const peak = wasmHeapStats()!.peakLiveBytes - start;
      tf.dispose([value, ...Object.values(grads)]);
      return peak;
    };
    const stock = peakOf(() => tf.variableGrads(cycleLike(g, f, a, b), vars));
    const frugal = peakOf(() => variableGradsFrugal(cycleLike(g, f, a, b), vars));
    t.diagnostic(`peak live buffers: tf.variableGrads ${stock} bytes, variableGradsFrugal ${frugal} bytes`);
    const weightBytes = vars.reduce((n, v) => n + 4 * v.size, 0);
    // Stock: every per-use filter gradient and every activation gradient alive to the end.
    assert.ok(stock > 2 * weightBytes, `stock peak ${stock} vs weights ${weightBytes}`);
    assert.ok(frugal < 0.6 * stock, `frugal peak ${frugal} should be well under stock ${stock}`);
    tf.dispose([a, b]);
    g.dispose();
    f.dispose();
  });
});
