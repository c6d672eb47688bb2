/**
 * The feature discriminator of `--feature-disc`: small trainable heads on the maps of a frozen
 * pretrained backbone (src/models/backbones/), one head per tapped map, each giving a map of
 * patch logits as the PatchGAN does. In the spirit of Projected GANs (Sauer, Chitta, Müller,
 * Geiger, NeurIPS 2021), without their random projections: the backbone's features at a few
 * depths, judged patch-wise.
 *
 * A head for a map of C channels: conv 1×1 C→w, LeakyReLU 0.2, conv 3×3 w→w ('same'), LeakyReLU
 * 0.2, conv 1×1 w→1 logits; biases everywhere (no norm), kernels N(0, 0.02) as the other
 * networks. All heads of one domain are one tfjs LayersModel (one input and one output per tap),
 * so a checkpoint stores them as one network; the backbone is never part of it.
 */
import * as tf from '@tensorflow/tfjs';
import type { FeatureBackbone } from './backbones/backbone.ts';
import { adversarialLoss, type AdversarialLossKind } from './losses.ts';
import { checkPositiveInt, convInit, toRng, type SeedSource } from './norm.ts';

export interface FeatureHeadsOptions {
  /** Channels of each tapped map, in tap order. */
  channels: readonly number[];
  /** Width of each head's hidden layers. */
  width: number;
  /** Initializer seed (or an Rng to draw the kernels' seeds from). */
  seed?: SeedSource;
  /** Model name; the layers are named `<name>_t<i>_<layer>`. */
  name: string;
}

const LEAKY_SLOPE = 0.2;

/** The heads of one domain: inputs [b, h_i, w_i, C_i] → outputs [b, h_i, w_i, 1], one per tap. */
export function buildFeatureHeads(options: FeatureHeadsOptions): tf.LayersModel {
  const { channels, width, name } = options;
  if (channels.length === 0) throw new Error('buildFeatureHeads needs at least one tapped map');
  channels.forEach((c, i) => checkPositiveInt(`channels[${i}]`, c));
  checkPositiveInt('width', width);
  const rng = toRng(options.seed);
  const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor) => layer.apply(x) as tf.SymbolicTensor;
  const inputs: tf.SymbolicTensor[] = [];
  const outputs: tf.SymbolicTensor[] = [];
  channels.forEach((c, i) => {
    const p = `${name}_t${i}`;
    const conv = (filters: number, kernelSize: number, layer: string) =>
      tf.layers.conv2d({ filters, kernelSize, padding: 'same', useBias: true, kernelInitializer: convInit(rng), name: `${p}_${layer}` });
    const input = tf.input({ shape: [null, null, c], name: `${p}_features` });
    let x = apply(conv(width, 1, 'conv1'), input);
    x = apply(tf.layers.leakyReLU({ alpha: LEAKY_SLOPE, name: `${p}_lrelu1` }), x);
    x = apply(conv(width, 3, 'conv2'), x);
    x = apply(tf.layers.leakyReLU({ alpha: LEAKY_SLOPE, name: `${p}_lrelu2` }), x);
    inputs.push(input);
    outputs.push(apply(conv(1, 1, 'logits'), x));
  });
  return tf.model({ inputs, outputs, name });
}

/** The channels each input of `heads` takes, in order. */
export function featureHeadChannels(heads: tf.LayersModel): number[] {
  return heads.inputs.map((input) => input.shape[3] ?? Number.NaN);
}

/** Checks that `heads` fit `backbone`'s maps; the message names both. */
export function checkHeadsFit(heads: tf.LayersModel, backbone: FeatureBackbone): void {
  const have = featureHeadChannels(heads);
  const want = backbone.channels;
  if (have.length !== want.length || have.some((c, i) => c !== want[i])) {
    throw new Error(
      `feature discriminator ${heads.name} takes maps of [${have.join(', ')}] channels; backbone ${backbone.identity.name} gives [${want.join(', ')}] (${backbone.identity.taps.join(', ')})`,
    );
  }
}

/** The heads' logit maps for already computed backbone maps. */
export function headLogits(heads: tf.LayersModel, maps: readonly tf.Tensor4D[]): tf.Tensor4D[] {
  const out = heads.apply([...maps], { training: true });
  return (Array.isArray(out) ? out : [out]) as tf.Tensor4D[];
}

/** Mean over taps of the loss of each logit map against `label` (LSGAN or BCE, as the run's --gan-loss). */
export function featureAdversarialLoss(logits: readonly tf.Tensor[], label: 0 | 1, kind: AdversarialLossKind): tf.Scalar {
  const loss = adversarialLoss(kind);
  return tf.tidy(() => tf.div(tf.addN(logits.map((l) => loss(l, label))), logits.length) as tf.Scalar);
}

/** The heads' loss, halved as the PatchGAN's: 0.5·(L(real, 1) + L(fake, 0)), each the mean over taps. */
export function featureDiscriminatorLoss(real: readonly tf.Tensor[], fake: readonly tf.Tensor[], kind: AdversarialLossKind): tf.Scalar {
  return tf.tidy(() => tf.mul(tf.add(featureAdversarialLoss(real, 1, kind), featureAdversarialLoss(fake, 0, kind)), 0.5) as tf.Scalar);
}
