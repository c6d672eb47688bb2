import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { Rng } from '../../src/util/rng.ts';
import { buildPatchDiscriminator, buildResnetGenerator, buildUnetGenerator, setDropoutSeed } from '../../src/models/index.ts';

await useBackend('cpu');

function withModel<T>(model: tf.LayersModel, fn: (m: tf.LayersModel) => T): T {
  try {
    return fn(model);
  } finally {
    model.dispose();
  }
}

const image = (h: number, w = h, seed = 1) => tf.randomUniform([1, h, w, 3], -1, 1, 'float32', seed) as tf.Tensor4D;

function assertImageRange(y: tf.Tensor): void {
  const v = y.dataSync();
  assert.ok(
    v.every((x) => Number.isFinite(x) && x >= -1 && x <= 1),
    'generator output in [-1, 1]',
  );
}

test('reference parameter counts at 256 (ngf = ndf = 64)', () => {
  withModel(buildUnetGenerator({ size: 256 }), (m) => {
    assert.equal(m.countParams(), 54_414_979);
    assert.deepEqual(m.outputs[0]!.shape, [null, 256, 256, 3]);
  });
  withModel(buildResnetGenerator({ nBlocks: 9 }), (m) => assert.equal(m.countParams(), 11_388_675));
  // Only the innermost norm's scale and offset (2·512) go.
  withModel(buildUnetGenerator({ size: 256, innermostNorm: false }), (m) => assert.equal(m.countParams(), 54_413_955));
  withModel(buildPatchDiscriminator({ size: 256 }), (m) => {
    assert.equal(m.countParams(), 2_765_569);
    assert.deepEqual(m.outputs[0]!.shape, [null, 30, 30, 1]);
  });
});

test('U-Net depth follows the size; refuses sizes that are not powers of two ≥ 8', () => {
  withModel(buildUnetGenerator({ size: 64, ngf: 4 }), (m) => {
    assert.equal(m.layers.filter((l) => /^down\d+_conv$/.test(l.name)).length, 6);
    assert.equal(m.layers.filter((l) => /^up\d+_convT$/.test(l.name)).length, 5);
    assert.equal(m.layers.filter((l) => l.getClassName() === 'SeededDropout').length, 3);
  });
  for (const bad of [48, 4, 0, 256.5, -64]) {
    assert.throws(() => buildUnetGenerator({ size: bad }), new RegExp(`power of two.*got ${bad}`));
  }
  assert.throws(() => buildUnetGenerator({ size: 32, norm: 'batch' as never }), /"batch"/);
  assert.throws(() => buildResnetGenerator({ size: 30 }), /got 30/);
  assert.throws(() => buildPatchDiscriminator({ size: 16 }), /too small/);
});

test('generator and discriminator outputs at small sizes', () => {
  withModel(buildUnetGenerator({ size: 32, ngf: 8, seed: 1 }), (m) => {
    const y = m.predict(image(32)) as tf.Tensor;
    assert.deepEqual(y.shape, [1, 32, 32, 3]);
    assertImageRange(y);
  });
  withModel(buildResnetGenerator({ ngf: 4, nBlocks: 6, seed: 2 }), (m) => {
    // Fully convolutional: any size divisible by 4, non-square too.
    assert.deepEqual(m.inputs[0]!.shape, [null, null, null, 3]);
    for (const [h, w] of [
      [32, 32],
      [24, 40],
    ] as const) {
      const y = m.predict(image(h, w)) as tf.Tensor;
      assert.deepEqual(y.shape, [1, h, w, 3]);
      assertImageRange(y);
    }
  });
  withModel(buildResnetGenerator({ size: 32, ngf: 4, nBlocks: 6, seed: 2 }), (m) =>
    assert.deepEqual(m.outputs[0]!.shape, [null, 32, 32, 3]),
  );
  withModel(buildPatchDiscriminator({ ndf: 8, seed: 3 }), (m) => {
    assert.deepEqual((m.predict(image(64)) as tf.Tensor).shape, [1, 6, 6, 1]);
    assert.deepEqual((m.predict(image(32)) as tf.Tensor).shape, [1, 2, 2, 1]);
  });
  withModel(buildPatchDiscriminator({ ndf: 4, nLayers: 2, size: 32 }), (m) => assert.deepEqual(m.outputs[0]!.shape, [null, 6, 6, 1]));
});

test('initialisation is seeded: same seed same weights, other seed other weights', () => {
  const weights = (m: tf.LayersModel) => withModel(m, (x) => x.getWeights().map((w) => Array.from(w.dataSync())));
  const a = weights(buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 5 }));
  const b = weights(buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: new Rng(5) }));
  const c = weights(buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 6 }));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  // Conv kernels ~ N(0, 0.02).
  const kernel = a[0]!;
  const std = Math.sqrt(kernel.reduce((s, v) => s + v * v, 0) / kernel.length);
  assert.ok(std > 0.015 && std < 0.025, `kernel std ${std}`);
});

test('U-Net dropout: seeded while training, off at inference', () => {
  withModel(buildUnetGenerator({ size: 16, ngf: 4, seed: 1 }), (m) => {
    const x = image(16);
    const run = (seed: number) => {
      setDropoutSeed(seed);
      return Array.from((m.apply(x, { training: true }) as tf.Tensor).dataSync());
    };
    assert.deepEqual(run(1), run(1));
    assert.notDeepEqual(run(1), run(2));
    const p1 = Array.from((m.predict(x) as tf.Tensor).dataSync());
    const p2 = Array.from((m.apply(x, { training: false }) as tf.Tensor).dataSync());
    assert.deepEqual(p1, p2);
  });
});

/**
 * Gradients of a loss through `model` w.r.t. every trainable weight: all finite; returns the
 * names of the weights whose gradient is zero (up to rounding).
 */
function deadWeights(model: tf.LayersModel, x: tf.Tensor): string[] {
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  return tf.tidy(() => {
    setDropoutSeed(0);
    const { grads } = tf.variableGrads(() => {
      const y = model.apply(x, { training: true }) as tf.Tensor;
      // A random projection, so no output pixel's gradient vanishes by symmetry.
      return tf.sum(tf.mul(y, tf.randomNormal(y.shape, 0, 1, 'float32', 9))) as tf.Scalar;
    }, vars);
    const maxAbs = Object.fromEntries(
      model.trainableWeights.map((w, i) => {
        const g = grads[vars[i]!.name];
        assert.ok(g, `no gradient for ${w.originalName}`);
        const v = Array.from(g.dataSync());
        assert.ok(v.every(Number.isFinite), `non-finite gradient for ${w.originalName}`);
        return [w.originalName, v.reduce((m, e) => Math.max(m, Math.abs(e)), 0)];
      }),
    );
    const top = Math.max(...Object.values(maxAbs));
    assert.ok(top > 0);
    return Object.keys(maxAbs)
      .filter((k) => maxAbs[k]! <= top * 1e-5)
      .sort();
  });
}

test('gradients reach every trainable weight (cpu)', () => {
  // U-Net as the tutorial: the innermost down block works on a 1×1 map, where instance norm
  // outputs its offset whatever comes in (x - mean(x) = 0); that offset starts at 0, so the first
  // up block sees zeros, its norm outputs its (zero) offset and ReLU'(0) = 0 stops the rest.
  withModel(buildUnetGenerator({ size: 16, ngf: 4, seed: 1 }), (m) =>
    assert.deepEqual(deadWeights(m, image(16)), [
      'down4_conv/kernel',
      'down4_norm/offset',
      'down4_norm/scale',
      'up1_convT/kernel',
      'up1_norm/offset',
      'up1_norm/scale',
    ]),
  );
  // Without that one norm (pix2pix's original layout) everything trains.
  withModel(buildUnetGenerator({ size: 16, ngf: 4, seed: 1, innermostNorm: false }), (m) =>
    assert.deepEqual(deadWeights(m, image(16)), []),
  );
  // ResNet: a conv bias right before instance norm is cancelled by the mean subtraction (the
  // PyTorch model carries the same redundant biases, which the reference count includes).
  withModel(buildResnetGenerator({ ngf: 4, nBlocks: 2, seed: 1 }), (m) => {
    const expected = m.trainableWeights
      .map((w) => w.originalName)
      .filter((n) => n.endsWith('/bias') && n !== 'head_conv/bias')
      .sort();
    assert.equal(expected.length, 2 + 2 * 2 + 1 + 2);
    assert.deepEqual(deadWeights(m, image(16)), expected);
  });
  withModel(buildPatchDiscriminator({ ndf: 4, seed: 1 }), (m) => assert.deepEqual(deadWeights(m, image(32)), []));
});

test('forward passes agree between cpu and wasm', async () => {
  const models = [
    buildUnetGenerator({ size: 16, ngf: 4, seed: 1 }),
    buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 1 }),
    buildPatchDiscriminator({ ndf: 4, seed: 1 }),
  ];
  const x = image(32);
  const inputs = [image(16), x, x];
  const cpu = models.map((m, i) => Array.from((m.predict(inputs[i]!) as tf.Tensor).dataSync()));
  await useBackend('wasm');
  try {
    models.forEach((m, i) => {
      const y = (m.predict(inputs[i]!) as tf.Tensor).dataSync();
      for (let j = 0; j < y.length; j++) assert.ok(Math.abs(y[j]! - cpu[i]![j]!) < 1e-4, `${m.name}[${j}]`);
    });
  } finally {
    await useBackend('cpu');
    models.forEach((m) => m.dispose());
  }
});
