/**
 * A stand-in for the feature discriminator's backbone in training tests: two seeded random 3×3
 * convolutions (stride 2, ReLU), tapped after each (4 channels at stride 2, 6 at stride 4). Frozen
 * like the real one (constants, no variables), and a thousand times cheaper than MobileNetV2.
 */
import * as tf from '@tensorflow/tfjs';
import { checkFeatures, type FeatureBackbone } from '../../src/models/backbones/backbone.ts';
import { registerFeatureBackbone } from '../../src/models/backbones/registry.ts';

export const TINY_BACKBONE = 'tiny-test';

export function tinyBackbone(version = 'test 1'): FeatureBackbone {
  const k1 = tf.randomNormal([3, 3, 3, 4], 0, 0.5, 'float32', 11) as tf.Tensor4D;
  const k2 = tf.randomNormal([3, 3, 4, 6], 0, 0.5, 'float32', 12) as tf.Tensor4D;
  const backbone: FeatureBackbone = {
    identity: { name: TINY_BACKBONE, version, taps: ['conv1', 'conv2'] },
    channels: [4, 6],
    strides: [2, 4],
    features: (images) =>
      checkFeatures(
        backbone,
        tf.tidy(() => {
          const a = tf.relu(tf.conv2d(images, k1, 2, 'same'));
          return [a, tf.relu(tf.conv2d(a, k2, 2, 'same'))];
        }),
      ),
    weights: () => [k1, k2],
    dispose: () => tf.dispose([k1, k2]),
  };
  return backbone;
}

/** Registers the stand-in (again) under TINY_BACKBONE, with this version string. */
export function registerTinyBackbone(version = 'test 1'): void {
  registerFeatureBackbone(TINY_BACKBONE, async () => tinyBackbone(version));
}
