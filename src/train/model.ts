/**
 * What the training loop and the checkpoints need of a model, whatever the method: CycleGan
 * (two generators and discriminators) or Cut (one generator, one discriminator, projection
 * heads). Both name their networks and optimizers; a checkpoint stores whatever they return.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackboneIdentity, FeatureBackbone } from '../models/backbones/backbone.ts';
import type { Rng } from '../util/rng.ts';
import type { Adam } from './adam.ts';
import { isCutConfig, type TrainConfig, type TrainMethod } from './config.ts';
import { Cut, CUT_FEATURE_LOSS_NAMES, CUT_LOSS_NAMES } from './cut.ts';
import { CycleGan, FEATURE_LOSS_NAMES, LOSS_NAMES } from './cyclegan.ts';
import type { ImagePool } from './image-pool.ts';

/** One step's losses by name (StepLosses for CycleGAN, CutLosses for CUT). */
export type Losses = Record<string, number>;

export interface TrainModel {
  readonly config: TrainConfig;
  readonly rng: Rng;
  /** The A→B generator, which every method has. */
  readonly genAtoB: tf.LayersModel;
  /** CycleGAN's image pools (CUT has none). */
  readonly poolA?: ImagePool;
  readonly poolB?: ImagePool;
  /** The feature discriminator's backbone (`--feature-disc`), which a checkpoint records; null or absent: none. */
  readonly backboneIdentity?: BackboneIdentity | null;
  /** Every network a checkpoint stores, by name (never the feature backbone). */
  networks(): Record<string, tf.LayersModel>;
  optimizerRecord(): Record<string, Adam>;
  trainStep(realA: tf.Tensor4D, realB: tf.Tensor4D): Promise<Losses>;
  translate(images: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D;
  setLearningRate(lr: number): void;
  dispose(): void;
}

const CYCLEGAN_NETWORKS = ['genAtoB', 'genBtoA', 'discA', 'discB'] as const;

/**
 * The model for `config.method`: fresh (weights from config.seed) or on `models` (networks by the
 * names `networks()` gives, e.g. loaded from a checkpoint). With `--feature-disc`, `backbone` is
 * its loaded backbone (train/feature-critic.ts), which the model then owns.
 */
export function buildModel(
  config: TrainConfig,
  rng: Rng,
  models?: Record<string, tf.LayersModel>,
  backbone: FeatureBackbone | null = null,
): TrainModel {
  if (isCutConfig(config)) return new Cut(config, rng, models, { backbone });
  if (!models) return new CycleGan(config, rng, undefined, { backbone });
  const missing = CYCLEGAN_NETWORKS.filter((key) => !models[key]);
  if (missing.length > 0) {
    backbone?.dispose();
    throw new Error(`CycleGAN networks lack ${missing.map((m) => `'${m}'`).join(', ')} (have ${Object.keys(models).join(', ')})`);
  }
  const { genAtoB, genBtoA, discA, discB } = models;
  return new CycleGan(config, rng, { ...models, genAtoB: genAtoB!, genBtoA: genBtoA!, discA: discA!, discB: discB! }, { backbone });
}

/** The names of the losses a method's step reports, in log order (with a feature discriminator's when it has one). */
export function lossNames(method: TrainMethod, featureDisc = false): readonly string[] {
  const names = method === 'cyclegan' ? LOSS_NAMES : CUT_LOSS_NAMES;
  if (!featureDisc) return names;
  return [...names, ...(method === 'cyclegan' ? FEATURE_LOSS_NAMES : CUT_FEATURE_LOSS_NAMES)];
}

/** How a method is written in titles and messages. */
export function methodLabel(method: TrainMethod): string {
  return { cyclegan: 'CycleGAN', cut: 'CUT', fastcut: 'FastCUT' }[method];
}

/** Whether the method learns B→A as well (CUT learns A→B only). */
export function hasBtoA(method: TrainMethod): boolean {
  return method === 'cyclegan';
}
