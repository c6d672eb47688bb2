/** The PatchGAN discriminator shared by the paper, pix2pix and the TF tutorial. */
import * as tf from '@tensorflow/tfjs';
import { checkNorm, checkPositiveInt, convInit, normLayer, toRng, type NormType, type SeedSource } from './norm.ts';

export interface PatchDiscriminatorOptions {
  /** Filters of the first conv; later ones double, capped at 8×. Default 64. */
  ndf?: number;
  /** Stride-2 convs before the two stride-1 ones. Default 3 (the 70×70 PatchGAN). */
  nLayers?: number;
  /** Input channels. Default 3. */
  channels?: number;
  /** Default 'instance'. */
  norm?: NormType;
  /** Initializer seed (or an Rng to draw seeds from). Default 0. */
  seed?: SeedSource;
  /** Fixed input height = width; omitted, the model takes any size (outputs scale with it). */
  size?: number;
  /** LeakyReLU negative slope. Default 0.3, Keras' default that the tutorial keeps (the paper: 0.2). */
  leakySlope?: number;
  /**
   * A bias in every conv, as the official PatchGAN has with instance norm (true), or in the last
   * one only, as the tutorial's (false, default). Before a norm a bias cancels out; it matters in
   * the first conv, which has no norm after it.
   */
  biasEverywhere?: boolean;
  /** Model name. Default 'patch_discriminator'. */
  name?: string;
}

/**
 * Side of the logit map a size×size input gives: each stride-2 conv halves (rounding up), then the
 * two padded 4×4 convolutions take 1 each. Below 1 there is no patch to judge, and the engines do
 * not agree on what a loss over an empty map is (tfjs-wasm's mean of one reads stale memory).
 */
export function patchDiscriminatorOutputSize(size: number, nLayers: number): number {
  return Math.ceil(size / 2 ** nLayers) - 2;
}

/**
 * As the tutorial's `pix2pix.discriminator(norm_type='instancenorm', target=False)`: conv 4×4 s2
 * ndf + LeakyReLU, (nLayers-1) × [conv 4×4 s2 no bias, instance norm, LeakyReLU], zero-pad 1,
 * conv 4×4 s1 no bias, instance norm, LeakyReLU, zero-pad 1, conv 4×4 s1 → 1 channel of logits
 * (no sigmoid: the losses take logits). Every output pixel judges a 70×70 input patch at
 * nLayers 3; a 256×256 input gives 30×30×1, and the model has 2,765,569 parameters.
 */
export function buildPatchDiscriminator(options: PatchDiscriminatorOptions = {}): tf.LayersModel {
  const { ndf = 64, nLayers = 3, channels = 3, norm = 'instance', size, leakySlope = 0.3, biasEverywhere = false } = options;
  const name = options.name ?? 'patch_discriminator';
  checkPositiveInt('ndf', ndf);
  checkPositiveInt('nLayers', nLayers);
  checkPositiveInt('channels', channels);
  checkNorm(norm);
  if (size !== undefined) {
    checkPositiveInt('size', size);
    const out = patchDiscriminatorOutputSize(size, nLayers);
    if (out < 1) {
      throw new Error(`discriminator size ${size} is too small for nLayers ${nLayers} (output would be ${out}×${out})`);
    }
  }
  const rng = toRng(options.seed);
  const apply = (layer: tf.layers.Layer, t: tf.SymbolicTensor) => layer.apply(t) as tf.SymbolicTensor;
  const conv = (filters: number, strides: number, useBias: boolean, layerName: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize: 4,
      strides,
      padding: strides === 1 ? 'valid' : 'same',
      useBias,
      kernelInitializer: convInit(rng),
      name: layerName,
    });

  const input = tf.input({ shape: [size ?? null, size ?? null, channels], name: 'input_image' });
  let x: tf.SymbolicTensor = input;
  for (let i = 0; i < nLayers; i++) {
    const p = `down${i + 1}`;
    x = apply(conv(ndf * Math.min(2 ** i, 8), 2, biasEverywhere, `${p}_conv`), x);
    if (i > 0) x = apply(normLayer(norm, rng, `${p}_norm`), x);
    x = apply(tf.layers.leakyReLU({ alpha: leakySlope, name: `${p}_lrelu` }), x);
  }
  x = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'pad1' }), x);
  x = apply(conv(ndf * Math.min(2 ** nLayers, 8), 1, biasEverywhere, 'conv'), x);
  x = apply(normLayer(norm, rng, 'norm'), x);
  x = apply(tf.layers.leakyReLU({ alpha: leakySlope, name: 'lrelu' }), x);
  x = apply(tf.layers.zeroPadding2d({ padding: 1, name: 'pad2' }), x);
  const output = apply(conv(1, 1, true, 'logits'), x);
  return tf.model({ inputs: input, outputs: output, name });
}
