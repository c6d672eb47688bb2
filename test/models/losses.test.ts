import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { adversarialLoss, cycleLoss, discriminatorLoss, generatorAdversarialLoss, identityLoss } from '../../src/models/losses.ts';

await useBackend('cpu');

function close(actual: tf.Scalar, expected: number, tol = 1e-5): void {
  const v = actual.dataSync()[0]!;
  assert.ok(Math.abs(v - expected) <= tol, `got ${v}, expected ${expected}`);
}

// real logits [2, -1], fake logits [0.5, -3].
const real = () => tf.tensor1d([2, -1]);
const fake = () => tf.tensor1d([0.5, -3]);

test('BCE from logits against 1 and 0', () => {
  const bce = adversarialLoss('bce');
  // label 1: max(x,0) - x + log(1+e^-|x|)
  //   x=2:  0 + log(1 + e^-2) = log(1.1353353) = 0.1269280
  //   x=-1: 1 + log(1 + e^-1) = 1 + 0.3132617  = 1.3132617   → mean 0.7200948
  close(bce(real(), 1), 0.7200948);
  // label 0: max(x,0) + log(1+e^-|x|): 2.1269280, 0.3132617 → mean 1.2200948
  close(bce(real(), 0), 1.2200948);
});

test('BCE from logits stays finite for large logits', () => {
  const bce = adversarialLoss('bce');
  // [100, -100] vs 1: 0 + log(1+e^-100) ≈ 0 and 100 + ≈0 → mean 50; vs 0: 100 and 0 → 50.
  close(bce(tf.tensor1d([100, -100]), 1), 50, 1e-4);
  close(bce(tf.tensor1d([100, -100]), 0), 50, 1e-4);
});

test('discriminator and generator losses, bce', () => {
  // L(fake, 0): x=0.5: 0.5 + log(1+e^-0.5) = 0.5 + 0.4740770 = 0.9740770
  //             x=-3:  0 + log(1+e^-3) = 0.0485874          → mean 0.5113322
  // D = 0.5·(0.7200948 + 0.5113322) = 0.6157135
  close(discriminatorLoss(real(), fake(), 'bce'), 0.6157135);
  // G = L(fake, 1): x=0.5: 0.4740770; x=-3: 3 + 0.0485874 = 3.0485874 → mean 1.7613322
  close(generatorAdversarialLoss(fake(), 'bce'), 1.7613322);
});

test('discriminator and generator losses, lsgan', () => {
  // L(real, 1) = mean((2-1)², (-1-1)²) = mean(1, 4) = 2.5
  // L(fake, 0) = mean(0.5², (-3)²) = mean(0.25, 9) = 4.625
  // D = 0.5·(2.5 + 4.625) = 3.5625
  close(discriminatorLoss(real(), fake(), 'lsgan'), 3.5625);
  // G = mean((0.5-1)², (-3-1)²) = mean(0.25, 16) = 8.125
  close(generatorAdversarialLoss(fake(), 'lsgan'), 8.125);
});

test('cycle and identity losses', () => {
  const a = tf.tensor4d([0.5, -0.5, 1, 0], [1, 2, 2, 1]);
  const b = tf.tensor4d([0.25, -0.5, 0, 0.5], [1, 2, 2, 1]);
  // |a-b| = [0.25, 0, 1, 0.5], mean 0.4375
  close(cycleLoss(a, b), 4.375); // 10 · 0.4375
  close(cycleLoss(a, b, 2), 0.875); // 2 · 0.4375
  close(identityLoss(a, b), 2.1875); // 0.5 · 10 · 0.4375
  close(identityLoss(a, b, 10, 1), 4.375);
});

test('losses are differentiable and reject unknown kinds', () => {
  const x = tf.variable(tf.tensor1d([0.5, -3]));
  const { grads } = tf.variableGrads(() => generatorAdversarialLoss(x, 'bce'), [x]);
  // d/dx mean(softplus(-x)) = -sigmoid(-x)/2: x=0.5 → -0.3775407/2 = -0.1887703; x=-3 → -0.9525741/2 = -0.4762871
  const g = grads[x.name]!.dataSync();
  assert.ok(Math.abs(g[0]! + 0.1887703) < 1e-5 && Math.abs(g[1]! + 0.4762871) < 1e-5, `grads ${g}`);
  assert.throws(() => adversarialLoss('wgan' as never), /"wgan"/);
});
