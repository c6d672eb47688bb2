/**
 * A frozen pretrained feature extractor for the feature discriminator (`--feature-disc`): images
 * in, feature maps at a few depths out. Its weights are constants, never variables: nothing can
 * train them, and no checkpoint stores them; a checkpoint records the backbone's identity and a
 * resume checks it (src/train/feature-critic.ts).
 */
import type * as tf from '@tensorflow/tfjs';

/** What a checkpoint records of its backbone; a resume needs the very same. */
export interface BackboneIdentity {
  /** The registered name (`--feature-disc NAME`). */
  name: string;
  /** Where the weights come from and which version, e.g. `nsfwjs@4.4.0 …/mobilenet_v2 sha256:…`. */
  version: string;
  /** The tapped layers, in output order. */
  taps: string[];
}

export interface FeatureBackbone {
  readonly identity: BackboneIdentity;
  /** Channels of each tapped map. */
  readonly channels: readonly number[];
  /** Stride of each tapped map relative to the input (a 128-px image gives 128/stride px maps). */
  readonly strides: readonly number[];
  /**
   * Images NHWC in [-1, 1] (this project's range; the backbone converts to its own) → the tapped
   * maps, in tap order. Differentiable with respect to the images.
   */
  features(images: tf.Tensor4D): tf.Tensor4D[];
  /** The backbone's weight tensors (constants; for tests that check they never change). */
  weights(): readonly tf.Tensor[];
  dispose(): void;
}

/** A loader for a backbone, registered under a name. */
export type BackboneLoader = () => Promise<FeatureBackbone>;

/** The checks every backbone's output must pass: one 4-D map per tap, with the stated channels. */
export function checkFeatures(backbone: FeatureBackbone, maps: readonly tf.Tensor[]): tf.Tensor4D[] {
  const { taps } = backbone.identity;
  if (maps.length !== taps.length) throw new Error(`backbone ${backbone.identity.name} gave ${maps.length} maps for ${taps.length} taps`);
  maps.forEach((m, i) => {
    if (m.rank !== 4 || m.shape[3] !== backbone.channels[i]) {
      throw new Error(`backbone ${backbone.identity.name}: tap ${taps[i]} is [${m.shape}], expected [b, h, w, ${backbone.channels[i]}]`);
    }
  });
  return maps as tf.Tensor4D[];
}

/** Whether two identities are the same backbone (name, version and taps). */
export function sameBackbone(a: BackboneIdentity, b: BackboneIdentity): boolean {
  return a.name === b.name && a.version === b.version && a.taps.length === b.taps.length && a.taps.every((t, i) => t === b.taps[i]);
}

export function describeBackbone(id: BackboneIdentity): string {
  return `${id.name} (${id.version}; taps ${id.taps.join(', ')})`;
}
