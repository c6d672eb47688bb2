/** Tiny stand-ins for the evaluation tests: a classifier whose output is known, and flat images. */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../../src/data/pixels.ts';
import { FeatureNetwork } from '../../src/eval/feature-net.ts';
import { Rng } from '../../src/util/rng.ts';

export const COLOUR_LABELS = ['red', 'green', 'blue'];

/**
 * A 16x16 classifier: logits = 20 x (mean R, G, B) in [0, 1], so a flat colour is called by its
 * strongest channel with a probability we can compute; features = 8 seeded conv filters, pooled.
 */
export function colourNet(batchSize = 16): FeatureNetwork {
  return new FeatureNetwork(colourModel(), { featureLayer: 'features', labels: COLOUR_LABELS, batchSize, source: 'colourNet' });
}

/** The colourNet's classifier alone. */
export function colourModel(): tf.LayersModel {
  const input = tf.input({ shape: [16, 16, 3] });
  const conv = tf.layers
    .conv2d({
      filters: 8,
      kernelSize: 3,
      activation: 'relu',
      name: 'features',
      kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }),
    })
    .apply(input) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(conv) as tf.SymbolicTensor;
  const mean = tf.layers.globalAveragePooling2d({ name: 'mean_rgb' }).apply(input) as tf.SymbolicTensor;
  // The conv branch feeds the logits with zero weights: it must be on the model's path to be a layer of it.
  const both = tf.layers.concatenate().apply([mean, pooled]) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3, name: 'logits', useBias: false });
  const logits = dense.apply(both) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits });
  const w = tf.tidy(() => tf.concat([tf.mul(tf.eye(3), 20), tf.zeros([8, 3])]));
  dense.setWeights([w]);
  w.dispose();
  return model;
}

export function flat(rgb: [number, number, number], size = 32): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { width: size, height: size, data };
}

/** Seeded noise around a colour, so feature sets have spread. */
export function noisy(rgb: [number, number, number], seed: number, size = 32, spread = 60): RgbImage {
  const rng = new Rng(seed);
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(rgb[i % 3]! + (rng.next() - 0.5) * 2 * spread)));
  return { width: size, height: size, data };
}

/** Softmax of 20 x the channel means of a flat colour: the colourNet's exact probabilities. */
export function flatProbs(rgb: [number, number, number]): number[] {
  const z = rgb.map((c) => (20 * c) / 255);
  const max = Math.max(...z);
  const e = z.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
