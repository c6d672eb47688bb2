/** Shared builder pieces for the generators and the discriminator. */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.ts';
import { InstanceNormalization } from './layers/instance-norm.ts';

/**
 * 'instance': instance norm with learned scale and offset (the TF tutorial's layer, which the
 * reference parameter counts assume); 'instance-no-affine': plain instance norm, the paper's
 * (PyTorch) default.
 */
export type NormType = 'instance' | 'instance-no-affine';
export const NORM_TYPES: readonly NormType[] = ['instance', 'instance-no-affine'];

/** A seed number, or an Rng to draw the initializer seeds from (advancing it). */
export type SeedSource = number | Rng;

export function toRng(seed: SeedSource | undefined): Rng {
  if (seed instanceof Rng) return seed;
  if (seed === undefined) return new Rng(0);
  if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number or an Rng, got ${seed}`);
  return new Rng(seed);
}

export function checkNorm(norm: unknown): NormType {
  if (!NORM_TYPES.includes(norm as NormType)) {
    throw new Error(`unknown norm ${JSON.stringify(norm)} (expected one of ${NORM_TYPES.join(', ')})`);
  }
  return norm as NormType;
}

export function checkPositiveInt(what: string, value: unknown): number {
  if (!(typeof value === 'number' && Number.isInteger(value) && value > 0)) {
    throw new Error(`${what} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function normLayer(norm: NormType, rng: Rng, name: string): tf.layers.Layer {
  return new InstanceNormalization({ affine: norm === 'instance', seed: rng.seed(), name });
}

/** Conv weights N(0, 0.02) as in the paper and the tutorial; biases start at zero. */
export function convInit(rng: Rng): ReturnType<typeof tf.initializers.randomNormal> {
  return tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: rng.seed() });
}
