import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { classRate } from '../../src/eval/class-rate.ts';
import { DirectionEvaluator, type TranslateFn } from '../../src/eval/evaluator.ts';
import type { FeatureNetwork } from '../../src/eval/feature-net.ts';
import { colourNet, flat, flatProbs, noisy } from './helpers.ts';

let net: FeatureNetwork;
before(async () => {
  await useBackend('wasm');
  net = colourNet(4);
});
after(() => net.dispose());

const RED: [number, number, number] = [220, 30, 30];
const GREEN: [number, number, number] = [30, 200, 40];
const BLUE: [number, number, number] = [20, 40, 230];

// Sources: 5 reddish (one of them blue). Targets: 6 green and 2 blue.
const sources = [...[1, 2, 3, 4].map((s) => noisy(RED, s, 32, 20)), flat(BLUE)];
const targets = [...[5, 6, 7, 8, 9, 10].map((s) => noisy(GREEN, s, 32, 20)), flat(BLUE), noisy(BLUE, 11, 32, 20)];

/** Swaps the red and green channels: red sources become green. */
const swapRedGreen: TranslateFn = (x) =>
  tf.tidy(() => {
    const [r, g, b] = tf.split(x, 3, 3);
    return tf.concat([g!, r!, b!], 3) as tf.Tensor4D;
  });

describe('DirectionEvaluator', () => {
  it('reports the class rate and mean probability of translations, floor and ceiling', async () => {
    const ev = await DirectionEvaluator.create(net, sources, targets, { direction: 'AtoB', targetClass: 'green', subsets: 5 });
    assert.equal(ev.sourceCount, 5);
    assert.equal(ev.targetCount, 8);
    // Floor: no source is green. Ceiling: 6 of the 8 targets are.
    assert.equal(ev.floor.classRate!.rate, 0);
    assert.equal(ev.ceiling.classRate!.rate, 6 / 8);
    const model = await ev.evaluate(swapRedGreen);
    // After the swap the four reddish sources are green, the blue one stays blue.
    assert.equal(model.classRate!.rate, 4 / 5);
    const pBlue = flatProbs(BLUE)[1]!;
    assert.ok(model.classRate!.meanProb > (4 * 0.99 + pBlue) / 5 - 0.01 && model.classRate!.meanProb <= 1);
    assert.ok(
      model.kid.mean < ev.floor.kid.mean,
      `translations (${model.kid.mean}) are closer to the targets than the sources (${ev.floor.kid.mean})`,
    );
    const report = ev.report(model);
    assert.equal(report.direction, 'AtoB');
    assert.equal(report.targetClass, 'green');
    assert.deepEqual(report.model, model);
    assert.equal(report.ceiling.kid.subsetSize, 4, 'halves of 4');
    assert.equal(report.floor.kid.subsetSize, 5);
  });

  it('scores the identity exactly as the floor', async () => {
    const ev = await DirectionEvaluator.create(net, sources, targets, { direction: 'AtoB', targetClass: 'green', subsets: 7, seed: 3 });
    assert.deepEqual(await ev.evaluate((x) => x), ev.floor);
    // An async translate function that returns a copy is as good.
    assert.deepEqual(await ev.evaluate(async (x) => tf.clone(x)), ev.floor);
  });

  it('leaves no tensors behind, also when the translation throws or returns a wrong shape', async () => {
    const ev = await DirectionEvaluator.create(net, sources, targets, { direction: 'BtoA', subsets: 3 });
    const before = tf.memory().numTensors;
    await ev.evaluate(swapRedGreen);
    assert.equal(tf.memory().numTensors, before);
    let calls = 0;
    await assert.rejects(
      ev.evaluate((x) => {
        if (++calls === 3) throw new Error('generator failed');
        return tf.neg(x) as tf.Tensor4D;
      }),
      /generator failed/,
    );
    assert.equal(tf.memory().numTensors, before, 'after a throwing translation');
    await assert.rejects(
      ev.evaluate((x) => tf.slice(x, [0, 0, 0, 0], [1, 16, 32, 3])),
      /returned shape \[1,16,32,3\], expected the same shape/,
    );
    await assert.rejects(
      ev.evaluate((x) => tf.mul(x, NaN) as tf.Tensor4D),
      /non-finite value \(NaN\)/,
    );
    assert.equal(tf.memory().numTensors, before, 'after bad outputs');
  });

  it('refuses too few images and unknown classes', async () => {
    await assert.rejects(
      DirectionEvaluator.create(net, sources.slice(0, 1), targets, { direction: 'AtoB' }),
      /AtoB: KID needs at least 2 source images, got 1/,
    );
    await assert.rejects(DirectionEvaluator.create(net, sources, targets.slice(0, 3), { direction: 'AtoB' }), /at least 4 target images/);
    await assert.rejects(
      DirectionEvaluator.create(net, sources, targets, { direction: 'AtoB', targetClass: 'gren' }),
      /class 'gren' is not a label of colourNet \(close: 'green'/,
    );
  });
});

describe('classRate', () => {
  it('counts top-1 hits and averages the probability over every image', () => {
    const probs = new Float32Array([0.7, 0.2, 0.1, 0.3, 0.4, 0.3, 0.5, 0.5, 0, 0.1, 0.1, 0.8]);
    const stats = { probs, classes: 3, features: { count: 4, dim: 1, data: new Float64Array(4) } };
    const r = classRate(stats, 0);
    assert.equal(r.rate, 2 / 4, 'a tie goes to the lower index, as argmax');
    assert.ok(Math.abs(r.meanProb - (0.7 + 0.3 + 0.5 + 0.1) / 4) < 1e-7);
    assert.equal(classRate(stats, 2, [3]).rate, 1);
    assert.throws(() => classRate(stats, 3), /class index 3 is outside 0..2/);
  });
});
