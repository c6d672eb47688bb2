/**
 * The CycleGAN: two generators (G: A→B, F: B→A), two PatchGAN discriminators, their optimizers and
 * one training step. The step follows the official formulation: one generator objective
 *   L = adv(D_B(G(a))) + adv(D_A(F(b))) + λ·(|F(G(a)) − a| + |G(F(b)) − b|) + λ_id·λ·(|G(b) − b| + |F(a) − a|)
 * differentiated with respect to both generators (which is exactly the TF tutorial's two separate
 * tapes, since each generator's own terms are the only ones that depend on it), then the
 * discriminators on real images versus (pooled) fakes, each loss halved.
 */
import * as tf from '@tensorflow/tfjs';
import { buildPatchDiscriminator } from '../models/discriminator.ts';
import { buildResnetGenerator, buildUnetGenerator } from '../models/generators.ts';
import { setDropoutSeed } from '../models/layers/seeded-dropout.ts';
import {
  cycleLoss,
  discriminatorLoss,
  generatorAdversarialLoss,
  identityLoss,
} from '../models/losses.ts';
import { Rng } from '../util/rng.ts';
import { Adam } from './adam.ts';
import { variableGradsFrugal } from './gradients.ts';
import type { TrainConfig } from './config.ts';
import { ImagePool } from './image-pool.ts';

export interface StepLosses {
  /** Adversarial loss of G (A→B), fooling D_B. */
  genAtoB: number;
  /** Adversarial loss of F (B→A), fooling D_A. */
  genBtoA: number;
  /** Total cycle-consistency loss, both directions, λ applied. */
  cycle: number;
  /** Total identity loss, both generators, weight applied (0 when off). */
  identity: number;
  discA: number;
  discB: number;
}

export const LOSS_NAMES: (keyof StepLosses)[] = ['genAtoB', 'genBtoA', 'cycle', 'identity', 'discA', 'discB'];

/** Builds a generator for the configuration; fully convolutional for the ResNet. */
export function buildGenerator(config: TrainConfig, seed: number | Rng, name: string, size: number | null = config.cropSize): tf.LayersModel {
  if (config.generator === 'unet') {
    return buildUnetGenerator({ size: size ?? config.cropSize, ngf: config.ngf, seed, name });
  }
  return buildResnetGenerator({ ngf: config.ngf, nBlocks: config.generator === 'resnet9' ? 9 : 6, seed, name });
}

function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => w.read() as tf.Variable);
}

export class CycleGan {
  readonly genAtoB: tf.LayersModel;
  readonly genBtoA: tf.LayersModel;
  readonly discA: tf.LayersModel;
  readonly discB: tf.LayersModel;
  readonly optimizers: { genAtoB: Adam; genBtoA: Adam; discA: Adam; discB: Adam };
  readonly poolA: ImagePool;
  readonly poolB: ImagePool;

  /**
   * @param rng the run's training Rng (dropout seeds, image pool); initial weights come from
   *   `config.seed` alone so that a model rebuilt for loading has the same structure and names.
   */
  constructor(
    readonly config: TrainConfig,
    readonly rng: Rng,
    models?: { genAtoB: tf.LayersModel; genBtoA: tf.LayersModel; discA: tf.LayersModel; discB: tf.LayersModel },
  ) {
    const init = new Rng(config.seed ^ 0x5eed);
    this.genAtoB = models?.genAtoB ?? buildGenerator(config, init.seed(), 'G_AtoB');
    this.genBtoA = models?.genBtoA ?? buildGenerator(config, init.seed(), 'G_BtoA');
    const d = (name: string) =>
      buildPatchDiscriminator({ ndf: config.ndf, nLayers: config.nLayersD, seed: init.seed(), name });
    this.discA = models?.discA ?? d('D_A');
    this.discB = models?.discB ?? d('D_B');
    const adam = (m: tf.LayersModel) =>
      new Adam(trainableVariables(m), {
        lr: config.lr,
        beta1: config.beta1,
        beta2: config.beta2,
        epsilon: config.adamEpsilon,
      });
    this.optimizers = {
      genAtoB: adam(this.genAtoB),
      genBtoA: adam(this.genBtoA),
      discA: adam(this.discA),
      discB: adam(this.discB),
    };
    this.poolA = new ImagePool(config.poolSize, rng);
    this.poolB = new ImagePool(config.poolSize, rng);
  }

  setLearningRate(lr: number): void {
    for (const opt of Object.values(this.optimizers)) opt.lr = lr;
  }

  /** One optimisation step on a pair of unaligned batches (NHWC in [-1, 1]). */
  trainStep(realA: tf.Tensor4D, realB: tf.Tensor4D): StepLosses {
    const { ganLoss: kind, lambdaCycle, lambdaIdentity } = this.config;
    const training = { training: true };
    setDropoutSeed(this.rng.seed());

    let fakeA: tf.Tensor4D | null = null;
    let fakeB: tf.Tensor4D | null = null;
    let genParts: tf.Tensor1D | null = null;
    const genVars = [...this.optimizers.genAtoB.variables, ...this.optimizers.genBtoA.variables];
    const gen = variableGradsFrugal(() => {
      const fakeB_ = this.genAtoB.apply(realA, training) as tf.Tensor4D;
      const cycledA = this.genBtoA.apply(fakeB_, training) as tf.Tensor4D;
      const fakeA_ = this.genBtoA.apply(realB, training) as tf.Tensor4D;
      const cycledB = this.genAtoB.apply(fakeA_, training) as tf.Tensor4D;
      const advAtoB = generatorAdversarialLoss(this.discB.apply(fakeB_) as tf.Tensor, kind);
      const advBtoA = generatorAdversarialLoss(this.discA.apply(fakeA_) as tf.Tensor, kind);
      const cycle = cycleLoss(realA, cycledA, lambdaCycle).add(cycleLoss(realB, cycledB, lambdaCycle));
      let identity: tf.Scalar = tf.scalar(0);
      if (lambdaIdentity > 0) {
        const sameB = this.genAtoB.apply(realB, training) as tf.Tensor4D;
        const sameA = this.genBtoA.apply(realA, training) as tf.Tensor4D;
        identity = identityLoss(realB, sameB, lambdaCycle, lambdaIdentity).add(
          identityLoss(realA, sameA, lambdaCycle, lambdaIdentity),
        );
      }
      fakeA = tf.keep(fakeA_);
      fakeB = tf.keep(fakeB_);
      genParts = tf.keep(tf.stack([advAtoB, advBtoA, cycle, identity]) as tf.Tensor1D);
      return advAtoB.add(advBtoA).add(cycle).add(identity) as tf.Scalar;
    }, genVars);
    this.applyGrads(gen.grads, this.optimizers.genAtoB);
    this.applyGrads(gen.grads, this.optimizers.genBtoA);
    tf.dispose([gen.value, ...Object.values(gen.grads)]);

    const pooledA = this.poolA.query(fakeA!);
    const pooledB = this.poolB.query(fakeB!);
    tf.dispose([fakeA!, fakeB!]);
    let discParts: tf.Tensor1D | null = null;
    const discVars = [...this.optimizers.discA.variables, ...this.optimizers.discB.variables];
    const disc = variableGradsFrugal(() => {
      const lossA = discriminatorLoss(this.discA.apply(realA) as tf.Tensor, this.discA.apply(pooledA) as tf.Tensor, kind);
      const lossB = discriminatorLoss(this.discB.apply(realB) as tf.Tensor, this.discB.apply(pooledB) as tf.Tensor, kind);
      discParts = tf.keep(tf.stack([lossA, lossB]) as tf.Tensor1D);
      return lossA.add(lossB) as tf.Scalar;
    }, discVars);
    this.applyGrads(disc.grads, this.optimizers.discA);
    this.applyGrads(disc.grads, this.optimizers.discB);
    tf.dispose([disc.value, ...Object.values(disc.grads), pooledA, pooledB]);

    const g = genParts!.dataSync();
    const d = discParts!.dataSync();
    tf.dispose([genParts!, discParts!]);
    return { genAtoB: g[0]!, genBtoA: g[1]!, cycle: g[2]!, identity: g[3]!, discA: d[0]!, discB: d[1]! };
  }

  private applyGrads(grads: tf.NamedTensorMap, optimizer: Adam): void {
    optimizer.apply(
      optimizer.variables.map((v) => {
        const g = grads[v.name];
        if (!g) throw new Error(`no gradient for variable ${v.name}`);
        return g;
      }),
    );
  }

  /** Translates a batch without dropout (inference). */
  translate(images: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D {
    const model = direction === 'AtoB' ? this.genAtoB : this.genBtoA;
    return tf.tidy(() => model.apply(images, { training: false }) as tf.Tensor4D);
  }

  dispose(): void {
    for (const opt of Object.values(this.optimizers)) opt.dispose();
    for (const m of [this.genAtoB, this.genBtoA, this.discA, this.discB]) m.dispose();
  }
}
