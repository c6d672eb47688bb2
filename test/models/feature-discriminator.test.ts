/** The feature discriminator's heads and losses, and DiffAugment. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { applyAugment, diffAugment, drawAugment, type AugmentDraw } from '../../src/models/diff-augment.ts';
import {
  buildFeatureHeads,
  checkHeadsFit,
  featureAdversarialLoss,
  featureDiscriminatorLoss,
  featureHeadChannels,
  headLogits,
} from '../../src/models/feature-discriminator.ts';
import { Rng } from '../../src/util/rng.ts';
import { tinyBackbone } from '../helpers/tiny-backbone.ts';

const values = (t: tf.Tensor) => Array.from(t.dataSync());
const none: AugmentDraw = { brightness: 0, saturation: 1, contrast: 1, dy: 0, dx: 0, top: 0, left: 0, size: 0 };

describe('feature discriminator heads', () => {
  it('one patch-logit map per tapped map, at its size; seeded; the fit to a backbone is checked by name', async () => {
    await useBackend('cpu');
    const heads = buildFeatureHeads({ channels: [4, 6], width: 5, seed: 3, name: 'FD_B' });
    const again = buildFeatureHeads({ channels: [4, 6], width: 5, seed: 3, name: 'FD_B2' });
    assert.deepEqual(featureHeadChannels(heads), [4, 6]);
    const maps = [tf.randomNormal([2, 16, 16, 4], 0, 1, 'float32', 1), tf.randomNormal([2, 8, 8, 6], 0, 1, 'float32', 2)] as tf.Tensor4D[];
    const logits = headLogits(heads, maps);
    assert.deepEqual(
      logits.map((l) => l.shape),
      [
        [2, 16, 16, 1],
        [2, 8, 8, 1],
      ],
    );
    assert.deepEqual(values(headLogits(again, maps)[1]!), values(logits[1]!), 'the same seed, the same heads');
    // conv1×1 C→5, conv3×3 5→5, conv1×1 5→1, each with a bias.
    assert.equal(heads.countParams(), 4 * 5 + 5 + 25 * 9 + 5 + 5 + 1 + (6 * 5 + 5 + 25 * 9 + 5 + 5 + 1));
    const backbone = tinyBackbone();
    assert.doesNotThrow(() => checkHeadsFit(heads, backbone));
    const other = buildFeatureHeads({ channels: [24, 32, 64], width: 2, name: 'FD_A' });
    assert.throws(
      () => checkHeadsFit(other, backbone),
      /FD_A takes maps of \[24, 32, 64\] channels; backbone tiny-test gives \[4, 6\] \(conv1, conv2\)/,
    );
    tf.dispose([...maps, ...logits]);
    for (const m of [heads, again, other]) m.dispose();
    backbone.dispose();
  });

  it('losses: the mean over taps of the run’s GAN loss, the heads’ halved as the PatchGAN’s', async () => {
    await useBackend('cpu');
    const real = [tf.fill([1, 2, 2, 1], 1), tf.fill([1, 1, 1, 1], 0.5)];
    const fake = [tf.fill([1, 2, 2, 1], 0.2), tf.fill([1, 1, 1, 1], -1)];
    // LSGAN: real (0 + 0.25)/2; fake against 0: (0.04 + 1)/2; the heads 0.5·(0.125 + 0.52).
    assert.ok(Math.abs(featureAdversarialLoss(real, 1, 'lsgan').dataSync()[0]! - 0.125) < 1e-7);
    assert.ok(Math.abs(featureAdversarialLoss(fake, 0, 'lsgan').dataSync()[0]! - 0.52) < 1e-7);
    assert.ok(Math.abs(featureDiscriminatorLoss(real, fake, 'lsgan').dataSync()[0]! - 0.3225) < 1e-7);
    // BCE from logits, for a run with --gan-loss bce: log(1 + e^-x) against 1.
    assert.ok(Math.abs(featureAdversarialLoss([tf.zeros([1, 1, 1, 1])], 1, 'bce').dataSync()[0]! - Math.log(2)) < 1e-6);
  });
});

describe('DiffAugment', () => {
  it('translation shifts with zeros coming in; cutout zeroes a square, clipped at the border', async () => {
    await useBackend('cpu');
    const x = tf.tensor4d(
      Array.from({ length: 16 }, (_, i) => i + 1),
      [1, 4, 4, 1],
    );
    // out(i, j) = in(i + 1, j − 1)
    assert.deepEqual(
      values(applyAugment(x, { ...none, dy: 1, dx: -1 }, ['translation'])),
      [0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 0, 0, 0],
    );
    assert.deepEqual(
      values(applyAugment(x, { ...none, top: -1, left: 3, size: 2 }, ['cutout'])),
      [1, 2, 3, 0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
    );
    // Colour: brightness, then saturation about each pixel's mean over its channels, then contrast
    // about the image mean, as DiffAugment's rand_brightness, rand_saturation, rand_contrast.
    // Pixel 1 (0.5, 0, -0.5) + 0.25 → (0.75, 0.25, -0.25), its mean 0.25, saturation 0.5 →
    // (0.5, 0.25, 0); pixel 2 (0, 0, 0.3) + 0.25 → (0.25, 0.25, 0.55), mean 0.35 → (0.3, 0.3, 0.45).
    // Image mean (0.5 + 0.25 + 0 + 0.3 + 0.3 + 0.45) / 6 = 0.3; contrast 2 → 2·v − 0.3.
    const rgb = tf.tensor4d([0.5, 0, -0.5, 0, 0, 0.3], [1, 1, 2, 3]);
    const colour = values(applyAugment(rgb, { ...none, brightness: 0.25, saturation: 0.5, contrast: 2 }, ['color']));
    const expected = [0.5, 0.25, 0, 0.3, 0.3, 0.45].map((v) => 2 * v - 0.3);
    colour.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) < 1e-6, `${colour} against ${expected}`));
  });

  it("draws one parameter set per image from the run's Rng, the same for the same state, within the reference's ranges", () => {
    const a = new Rng(5);
    const draws = Array.from({ length: 200 }, () => drawAugment(32, 32, a));
    for (const d of draws) {
      assert.ok(
        d.brightness >= -0.5 && d.brightness < 0.5 && d.saturation >= 0 && d.saturation < 2 && d.contrast >= 0.5 && d.contrast < 1.5,
      );
      assert.ok(Math.abs(d.dy) <= 4 && Math.abs(d.dx) <= 4, 'translation up to 1/8 of 32');
      assert.equal(d.size, 16);
      assert.ok(d.top >= -8 && d.top <= 24 && d.left >= -8 && d.left <= 24, 'the centre anywhere on the image');
    }
    assert.ok(new Set(draws.map((d) => d.dx)).size === 9, 'every shift from −4 to 4 occurs');
    const b = new Rng(5);
    assert.deepEqual(
      Array.from({ length: 200 }, () => drawAugment(32, 32, b)),
      draws,
    );
  });

  it('is differentiable: the gradient of a cutout image is its mask, and passes through translation and colour', async () => {
    await useBackend('cpu');
    const x = tf.randomUniform([2, 8, 8, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
    const rng = new Rng(1);
    const state = rng.getState();
    const g = tf.grad((v: tf.Tensor) => tf.sum(diffAugment(v as tf.Tensor4D, rng, ['cutout'])))(x);
    // A 4×4 square per image (half of 8), clipped where its centre is near the border.
    const zeros = values(g).filter((v) => v === 0).length;
    assert.ok(zeros > 0 && zeros <= 2 * 16 * 3, `${zeros} zero gradients`);
    assert.ok(values(g).every((v) => v === 0 || v === 1));
    rng.setState(state);
    const full = tf.grad((v: tf.Tensor) => tf.sum(tf.square(diffAugment(v as tf.Tensor4D, rng))))(x);
    assert.ok(values(full).some((v) => Math.abs(v) > 0.01) && values(full).every(Number.isFinite));
    assert.throws(() => diffAugment(x, rng, ['blur' as never]), /unknown DiffAugment policy "blur"/);
  });
});
