import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readImage } from '../../src/data/image-io.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { closeLabels, DEFAULT_FEATURE_NET_DIR, FeatureNetwork, resizeCubic } from '../../src/eval/feature-net.ts';
import { colourModel, colourNet, flat, flatProbs, noisy } from './helpers.ts';

before(async () => {
  await useBackend('wasm');
});

describe('feature network', () => {
  it('gives pooled features and softmax probabilities in one pass, batched, without leaks', async () => {
    const net = colourNet(3);
    try {
      const colours: [number, number, number][] = [
        [200, 10, 10],
        [10, 180, 40],
        [30, 60, 250],
        [128, 128, 0],
        [0, 0, 0],
      ];
      const before = tf.memory().numTensors;
      const stats = await net.analyse([...colours.map((c) => flat(c)), noisy([100, 100, 100], 1)]);
      assert.equal(tf.memory().numTensors, before);
      assert.equal(net.inputSize, 16);
      assert.equal(stats.features.count, 6);
      assert.equal(stats.features.dim, 8);
      assert.equal(stats.classes, 3);
      colours.forEach((c, i) => {
        const want = flatProbs(c);
        for (let k = 0; k < 3; k++) assert.ok(Math.abs(stats.probs[i * 3 + k]! - want[k]!) < 1e-5, `image ${i} class ${k}`);
      });
      // The batch of 3 and a batch of 1 give the same numbers.
      const single = await net.analyse([flat(colours[4]!)]);
      assert.deepEqual(Array.from(single.features.data), Array.from(stats.features.data.subarray(4 * 8, 5 * 8)));
      assert.ok(
        stats.features.data.every((v) => Number.isFinite(v) && v >= 0),
        'relu features',
      );
    } finally {
      net.dispose();
    }
  });

  it('resolves class names exactly and lists close ones otherwise', () => {
    const net = colourNet();
    try {
      assert.equal(net.classIndex('blue'), 2);
      assert.throws(() => net.classIndex('Red'), /class 'Red' is not a label of colourNet \(close: 'red'\)/);
    } finally {
      net.dispose();
    }
    const labels = ['zebra', 'sorrel', 'horse cart', 'tiger', 'ox'];
    assert.deepEqual(closeLabels('zebr', labels), ['zebra']);
    assert.deepEqual(closeLabels('horse', labels)[0], 'horse cart');
    assert.deepEqual(closeLabels('qqqqqqqq', labels), []);
  });

  it('refuses a missing layer or a label count that does not match', () => {
    const model = colourModel();
    assert.throws(
      () => new FeatureNetwork(model, { featureLayer: 'nope', labels: ['r', 'g', 'b'], source: 'x' }),
      /x: has no layer 'nope'/,
    );
    assert.throws(
      () => new FeatureNetwork(model, { featureLayer: 'features', labels: ['r', 'g'], source: 'x' }),
      /x: output shape \[null,3\] does not match 2 labels/,
    );
    model.dispose();
  });

  it('resizes with the cubic filter and keeps flat colours exact', async () => {
    const out = await resizeCubic(flat([12, 200, 99], 40), 16);
    assert.equal(out.length, 16 * 16 * 3);
    for (let i = 0; i < out.length; i += 3) assert.deepEqual(Array.from(out.subarray(i, i + 3)), [12, 200, 99]);
  });

  it('loads the bundled Darknet-tiny: 512 features, 1000 probabilities summing to 1, zebra = 79', async () => {
    const before = tf.memory().numTensors;
    const net = await FeatureNetwork.load();
    try {
      assert.equal(net.source, DEFAULT_FEATURE_NET_DIR);
      assert.equal(net.inputSize, 224);
      assert.equal(net.featureDim, 512);
      assert.equal(net.labels.length, 1000);
      assert.equal(net.classIndex('zebra'), 79);
      assert.equal(net.classIndex('sorrel'), 38);
      const stats = await net.analyse([noisy([120, 110, 90], 1, 64), flat([30, 90, 200], 48)]);
      assert.equal(stats.features.data.length, 2 * 512);
      for (let i = 0; i < 2; i++) {
        const p = stats.probs.subarray(i * 1000, (i + 1) * 1000);
        const sum = p.reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `probabilities sum to ${sum}`);
      }
      assert.ok(stats.features.data.some((v) => v !== 0));
    } finally {
      net.dispose();
    }
    assert.equal(tf.memory().numTensors, before);
  });

  const zebras = '/work/shared/data/horse2zebra/trainB';
  it('calls real zebra photos zebra', { skip: !existsSync(zebras) && `no horse2zebra images at ${zebras}` }, async () => {
    const net = await FeatureNetwork.load();
    try {
      const files = readdirSync(zebras)
        .filter((f) => f.endsWith('.jpg'))
        .sort()
        .slice(0, 4);
      const stats = await net.analyse(await Promise.all(files.map((f) => readImage(join(zebras, f)))));
      const zebra = net.classIndex('zebra');
      const mean = files.reduce((s, _, i) => s + stats.probs[i * 1000 + zebra]!, 0) / files.length;
      assert.ok(mean > 0.5, `mean p(zebra) on ${files.length} zebra photos: ${mean}`);
    } finally {
      net.dispose();
    }
  });

  it('says which file is missing for a folder without a model', async () => {
    await assert.rejects(FeatureNetwork.load('/nonexistent/net'), /\/nonexistent\/net\/model.json: not found/);
  });
});
