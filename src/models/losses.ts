/**
 * CycleGAN objectives. The discriminators output logits (no sigmoid), so 'bce' is computed from
 * logits in the numerically stable form; 'lsgan' is the paper's least-squares variant, which it
 * reports trains more stably than the log loss.
 */
import * as tf from '@tensorflow/tfjs';

export type AdversarialLossKind = 'bce' | 'lsgan';
export const ADVERSARIAL_LOSS_KINDS: readonly AdversarialLossKind[] = ['bce', 'lsgan'];

function checkKind(kind: unknown): AdversarialLossKind {
  if (!ADVERSARIAL_LOSS_KINDS.includes(kind as AdversarialLossKind)) {
    throw new Error(`unknown adversarial loss ${JSON.stringify(kind)} (expected one of ${ADVERSARIAL_LOSS_KINDS.join(', ')})`);
  }
  return kind as AdversarialLossKind;
}

/**
 * Mean binary cross-entropy of logits x against the constant label z:
 * max(x, 0) - x·z + log(1 + exp(-|x|)), which never exponentiates a large positive number.
 */
function bceWithLogits(logits: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.tidy(() => {
    let loss = tf.add(tf.relu(logits), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
    if (label === 1) loss = tf.sub(loss, logits);
    return tf.mean(loss) as tf.Scalar;
  });
}

function lsgan(logits: tf.Tensor, label: 0 | 1): tf.Scalar {
  return tf.tidy(() => tf.mean(label === 1 ? tf.squaredDifference(logits, 1) : tf.square(logits)) as tf.Scalar);
}

/**
 * The loss of `logits` against a constant target label, as a function; `adversarialLoss('bce')`
 * is the tutorial's BinaryCrossentropy(from_logits=True), `'lsgan'` the mean squared error.
 */
export function adversarialLoss(kind: AdversarialLossKind): (logits: tf.Tensor, label: 0 | 1) => tf.Scalar {
  return checkKind(kind) === 'bce' ? bceWithLogits : lsgan;
}

/** 0.5·(L(real, 1) + L(fake, 0)): halved, as in the paper, to slow D relative to G. */
export function discriminatorLoss(realLogits: tf.Tensor, fakeLogits: tf.Tensor, kind: AdversarialLossKind): tf.Scalar {
  const loss = adversarialLoss(kind);
  return tf.tidy(() => tf.mul(tf.add(loss(realLogits, 1), loss(fakeLogits, 0)), 0.5) as tf.Scalar);
}

/** L(fake, 1): the generator wants the discriminator to call its output real. */
export function generatorAdversarialLoss(fakeLogits: tf.Tensor, kind: AdversarialLossKind): tf.Scalar {
  return adversarialLoss(kind)(fakeLogits, 1);
}

/** λ·mean|real − cycled|: an image translated there and back should come back unchanged. */
export function cycleLoss(real: tf.Tensor, cycled: tf.Tensor, lambda = 10): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.abs(tf.sub(real, cycled))), lambda) as tf.Scalar);
}

/**
 * weight·λ·mean|real − same|, where `same` is the generator applied to an image already in its
 * target domain; the tutorial's 0.5·LAMBDA·loss. Keeps colours from drifting.
 */
export function identityLoss(real: tf.Tensor, same: tf.Tensor, lambda = 10, weight = 0.5): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.mean(tf.abs(tf.sub(real, same))), lambda * weight) as tf.Scalar);
}
