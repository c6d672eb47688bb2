/** Shared pieces of the training tests. */
import * as tf from '@tensorflow/tfjs';
import { FeatureNetwork } from '../../src/eval/feature-net.ts';

/** A tiny classifier standing in for Darknet in validation: 8 features, 3 classes, seeded. */
export function tinyFeatureNet(): FeatureNetwork {
  const input = tf.input({ shape: [16, 16, 3] });
  const conv = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      activation: 'relu',
      name: 'features',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }),
    })
    .apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 3, kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) })
    .apply(pooled) as tf.SymbolicTensor;
  return new FeatureNetwork(tf.model({ inputs: input, outputs: logits }), {
    featureLayer: 'features',
    labels: ['horse', 'zebra', 'other'],
  });
}
