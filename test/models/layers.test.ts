import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { InstanceNormalization } from '../../src/models/layers/instance-norm.ts';
import { ReflectionPadding2D } from '../../src/models/layers/reflection-padding.ts';
import { SeededDropout, setDropoutSeed, getDropoutSeedState, setDropoutSeedState } from '../../src/models/layers/seeded-dropout.ts';

await useBackend('cpu');

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, 'length');
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tol, `index ${i}: got ${actual[i]}, expected ${expected[i]} (tol ${tol})`);
  }
}

test('InstanceNormalization without affine matches hand computation', () => {
  const layer = new InstanceNormalization({ affine: false });
  // One sample, 2×2, one channel [1,2,3,4]: mean 2.5, variance (2.25+.25+.25+2.25)/4 = 1.25,
  // sqrt(1.25 + 1e-5) = 1.1180384 → [-1.5,-0.5,0.5,1.5]/1.1180384 = [-1.341635,-0.447212,0.447212,1.341635].
  const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  const y = layer.apply(x) as tf.Tensor;
  assertClose(y.dataSync(), [-1.341635, -0.447212, 0.447212, 1.341635]);
  assert.equal(layer.countParams(), 0);
});

test('InstanceNormalization normalises per sample and channel, then applies scale and offset', () => {
  const layer = new InstanceNormalization({ epsilon: 1e-3 });
  // Two samples, 1×2, two channels (NHWC, so channel values interleave):
  //   sample 0: ch0 [0, 2] (mean 1, var 1), ch1 [10, 10] (mean 10, var 0)
  //   sample 1: ch0 [-3, 1] (mean -1, var 4), ch1 [5, 8] (mean 6.5, var 2.25)
  const x = tf.tensor4d([0, 10, 2, 10, -3, 5, 1, 8], [2, 1, 2, 2]);
  layer.apply(x); // builds the weights
  layer.setWeights([tf.tensor1d([2, 0.5]), tf.tensor1d([1, -1])]);
  const y = layer.apply(x) as tf.Tensor;
  // normalised n = (x - mean)/sqrt(var + 1e-3), out = scale*n + offset:
  //   s0 ch0: ±1/sqrt(1.001) = ±0.9995004 → 2*n+1 = [-0.9990008, 2.9990008]
  //   s0 ch1: 0 → -1 (both)
  //   s1 ch0: ±2/sqrt(4.001) = ±0.9998750 → [-0.9997501, 2.9997501]
  //   s1 ch1: ±1.5/sqrt(2.251) = ±0.9997779 → 0.5*n-1 = [-1.4998890, -0.5001110]
  assertClose(y.dataSync(), [-0.9990008, -1, 2.9990008, -1, -0.9997501, -1.499889, 2.9997501, -0.500111]);
});

test('InstanceNormalization initialises scale ~N(1, 0.02) and offset to zeros, reproducibly', () => {
  const a = new InstanceNormalization({ seed: 7 });
  const b = new InstanceNormalization({ seed: 7 });
  a.build([null, 4, 4, 64]);
  b.build([null, 4, 4, 64]);
  const [scale, offset] = a.getWeights();
  const s = Array.from(scale!.dataSync());
  const mean = s.reduce((p, v) => p + v, 0) / s.length;
  assert.ok(Math.abs(mean - 1) < 0.02, `scale mean ${mean}`);
  assert.ok(s.every((v) => Math.abs(v - 1) < 0.1));
  assert.ok(offset!.dataSync().every((v) => v === 0));
  assert.deepEqual(Array.from(b.getWeights()[0]!.dataSync()), Array.from(s));
  assert.deepEqual(
    a.weights.map((w) => w.name.split('/').pop()),
    ['scale', 'offset'],
  );
});

test('InstanceNormalization rejects bad options and inputs, quoting the value', () => {
  assert.throws(() => new InstanceNormalization({ epsilon: -1 }), /epsilon.*-1/);
  assert.throws(() => new InstanceNormalization({ affine: 'yes' as unknown as boolean }), /affine.*"yes"/);
  assert.throws(() => new InstanceNormalization().build([null, 4, 3]), /rank 4.*\[null,4,3\]/);
});

test('InstanceNormalization config round-trips through serialization', () => {
  const layer = new InstanceNormalization({ epsilon: 1e-3, affine: false, name: 'in1' });
  const config = layer.getConfig();
  assert.equal(config['epsilon'], 1e-3);
  assert.equal(config['affine'], false);
  const copy = InstanceNormalization.fromConfig(InstanceNormalization, config) as InstanceNormalization;
  assert.equal(copy.epsilon, 1e-3);
  assert.equal(copy.affine, false);
  assert.equal(copy.name, 'in1');
});

test('InstanceNormalization is differentiable on cpu and wasm, with the same forward', async () => {
  // x is a variable too: the gradient must flow through the statistics into the input.
  const x = tf.variable(tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 1), true, 'in_test_x') as tf.Variable<tf.Rank.R4>;
  const layer = new InstanceNormalization({ seed: 3 });
  layer.build(x.shape);
  const run = () => {
    const weight = tf.randomNormal([2, 3, 3, 2], 0, 1, 'float32', 2);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, weight)) as tf.Scalar,
      [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)],
    );
    return {
      y: Array.from((layer.apply(x) as tf.Tensor).dataSync()),
      value: value.dataSync()[0]!,
      grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Array.from(g.dataSync())])),
    };
  };
  const cpu = run();
  assert.equal(Object.keys(cpu.grads).length, 3);
  for (const g of Object.values(cpu.grads)) assert.ok(g.every(Number.isFinite) && g.some((v) => v !== 0));
  await useBackend('wasm');
  try {
    const wasm = run();
    assertClose(wasm.y, cpu.y, 1e-4);
    for (const k of Object.keys(cpu.grads)) assertClose(wasm.grads[k]!, cpu.grads[k]!, 1e-3);
  } finally {
    await useBackend('cpu');
  }
});

test('InstanceNormalization gradients equal autodiff of the op-by-op formula (affine and plain)', () => {
  for (const affine of [true, false]) {
    const x = tf.variable(tf.randomNormal([2, 5, 4, 3], 0.5, 2, 'float32', 4), true, `in_ref_x_${affine}`) as tf.Variable<tf.Rank.R4>;
    const layer = new InstanceNormalization({ seed: 5, affine, epsilon: 1e-3 });
    layer.build(x.shape);
    const params = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const weight = tf.randomNormal([2, 5, 4, 3], 0, 1, 'float32', 6);
    // The formula differentiated op by op by tfjs, as the layer did before its gradient was written out.
    const reference = (input: tf.Tensor4D) => {
      const mean = tf.mean(input, [1, 2], true);
      const centered = tf.sub(input, mean);
      const normalized = tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), [1, 2], true), 1e-3)));
      return affine ? tf.add(tf.mul(normalized, params[0]!), params[1]!) : normalized;
    };
    const vars = [x, ...params];
    const ours = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, weight)) as tf.Scalar, vars);
    const theirs = tf.variableGrads(() => tf.sum(tf.mul(reference(x), weight)) as tf.Scalar, vars);
    assert.equal(Object.keys(ours.grads).length, affine ? 3 : 1);
    assertClose(Array.from(ours.value.dataSync()), Array.from(theirs.value.dataSync()), 1e-4);
    for (const v of vars) {
      assert.deepEqual(ours.grads[v.name]!.shape, v.shape);
      assertClose(Array.from(ours.grads[v.name]!.dataSync()), Array.from(theirs.grads[v.name]!.dataSync()), 1e-4);
    }
    tf.dispose([x, weight, ours.value, theirs.value, ...Object.values(ours.grads), ...Object.values(theirs.grads)]);
  }
});

test('ReflectionPadding2D mirrors without repeating the edge', () => {
  // 1×3 row [1,2,3] padded by 2 left, 1 right: [3,2 | 1,2,3 | 2].
  const row = tf.tensor4d([1, 2, 3], [1, 1, 3, 1]);
  const padRow = new ReflectionPadding2D({
    padding: [
      [0, 0],
      [2, 1],
    ],
  });
  assert.deepEqual(Array.from((padRow.apply(row) as tf.Tensor).dataSync()), [3, 2, 1, 2, 3, 2]);
  // 2×2 [[1,2],[3,4]] padded by 1 everywhere:
  //   [[4,3,4,3],[2,1,2,1],[4,3,4,3],[2,1,2,1]]
  const sq = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
  const pad1 = new ReflectionPadding2D({ padding: 1 });
  const y = pad1.apply(sq) as tf.Tensor;
  assert.deepEqual(y.shape, [1, 4, 4, 1]);
  assert.deepEqual(Array.from(y.dataSync()), [4, 3, 4, 3, 2, 1, 2, 1, 4, 3, 4, 3, 2, 1, 2, 1]);
});

test('ReflectionPadding2D shapes, config and errors', () => {
  const layer = new ReflectionPadding2D({
    padding: [
      [1, 2],
      [3, 0],
    ],
  });
  assert.deepEqual(layer.computeOutputShape([null, 10, null, 3]), [null, 13, null, 3]);
  const input = tf.input({ shape: [8, 8, 3] });
  assert.deepEqual((new ReflectionPadding2D({ padding: 3 }).apply(input) as tf.SymbolicTensor).shape, [null, 14, 14, 3]);
  const copy = ReflectionPadding2D.fromConfig(ReflectionPadding2D, layer.getConfig()) as ReflectionPadding2D;
  assert.deepEqual(copy.padding, [
    [1, 2],
    [3, 0],
  ]);
  assert.throws(() => new ReflectionPadding2D({ padding: -1 }), /padding.*-1/);
  assert.throws(() => new ReflectionPadding2D({ padding: [1, 2] as never }), /\[1,2\]/);
  assert.throws(() => new ReflectionPadding2D({ padding: 3 }).apply(tf.input({ shape: [3, 3, 1] })), /too large.*3×3/);
});

test('SeededDropout: same seed same mask, new seed or next call a new mask, identity at inference', () => {
  const x = tf.ones([1, 8, 8, 4]);
  const layer = new SeededDropout({ rate: 0.5 });
  setDropoutSeed(42);
  const a = Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync());
  const a2 = Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync());
  assert.deepEqual(getDropoutSeedState(), { seed: 42, calls: 2 });
  setDropoutSeed(42);
  const b = Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync());
  setDropoutSeed(43);
  const c = Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync());
  assert.deepEqual(b, a, 'same seed, same mask');
  assert.notDeepEqual(a2, a, 'the next call draws a new mask');
  assert.notDeepEqual(c, a, 'another seed draws another mask');
  // Inverted dropout: survivors are scaled by 1/(1-0.5) = 2, roughly half survive.
  assert.ok(a.every((v) => v === 0 || v === 2));
  const kept = a.filter((v) => v === 2).length;
  assert.ok(kept > 80 && kept < 176, `kept ${kept} of 256`);
  // Resuming from a stored state replays the stream.
  setDropoutSeedState({ seed: 42, calls: 1 });
  assert.deepEqual(Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync()), a2);
  // Inference: no training flag, or training false, is the identity and does not advance the stream.
  const before = getDropoutSeedState();
  assert.deepEqual(Array.from((layer.apply(x) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
  assert.deepEqual(Array.from((layer.apply(x, { training: false }) as tf.Tensor).dataSync()), Array.from(x.dataSync()));
  assert.deepEqual(getDropoutSeedState(), before);
});

test('SeededDropout options and config', () => {
  assert.throws(() => new SeededDropout({ rate: 1 }), /rate.*1/);
  assert.throws(() => setDropoutSeed(Number.NaN), /NaN/);
  const copy = SeededDropout.fromConfig(SeededDropout, new SeededDropout({ rate: 0.25 }).getConfig()) as SeededDropout;
  assert.equal(copy.rate, 0.25);
});
