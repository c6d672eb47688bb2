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
import { OFFICIAL_PATCHGAN_OPTIONS, OFFICIAL_RESNET_OPTIONS } from '../models/official.ts';
import { cycleLoss, discriminatorLoss, generatorAdversarialLoss, identityLoss } from '../models/losses.ts';
import { Rng } from '../util/rng.ts';
import type { BackboneIdentity, FeatureBackbone } from '../models/backbones/backbone.ts';
import { Adam } from './adam.ts';
import { variableGradsFrugal } from './gradients.ts';
import { hasFeatureDisc, type TrainConfig } from './config.ts';
import { FeatureCritic } from './feature-critic.ts';
import { ImagePool } from './image-pool.ts';

// A type, not an interface, so that it is a Record<string, number> (what the loop sums by name).
export type StepLosses = {
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
};

/** What a step with a feature discriminator (`--feature-disc`) reports besides StepLosses. */
export type FeatureStepLosses = {
  /** λ_feature·the feature discriminator's adversarial loss of G (A→B) and of F (B→A). */
  featAtoB: number;
  featBtoA: number;
  /** The feature discriminators' (heads') losses, halved as D's. */
  discFeatA: number;
  discFeatB: number;
};

/** Backends whose tensors live on a device that Node reads back only asynchronously. */
const GPU_BACKENDS = ['webgpu', 'webgl'];

export const LOSS_NAMES: (keyof StepLosses)[] = ['genAtoB', 'genBtoA', 'cycle', 'identity', 'discA', 'discB'];
/** What a step with a feature discriminator reports besides LOSS_NAMES. */
export const FEATURE_LOSS_NAMES: (keyof FeatureStepLosses)[] = ['featAtoB', 'featBtoA', 'discFeatA', 'discFeatB'];

/** Builds a generator for the configuration; fully convolutional for the ResNet. */
export function buildGenerator(
  config: TrainConfig,
  seed: number | Rng,
  name: string,
  size: number | null = config.cropSize,
): tf.LayersModel {
  if (config.generator === 'unet') {
    return buildUnetGenerator({ size: size ?? config.cropSize, ngf: config.ngf, seed, name });
  }
  const style = config.networks === 'official' ? OFFICIAL_RESNET_OPTIONS : {};
  return buildResnetGenerator({ ngf: config.ngf, nBlocks: config.generator === 'resnet9' ? 9 : 6, seed, name, ...style });
}

/** Builds a discriminator for the configuration. */
export function buildDiscriminator(config: TrainConfig, seed: number | Rng, name: string): tf.LayersModel {
  const style = config.networks === 'official' ? OFFICIAL_PATCHGAN_OPTIONS : {};
  return buildPatchDiscriminator({ ndf: config.ndf, nLayers: config.nLayersD, seed, name, ...style });
}

/**
 * Whether the generator step runs one backward pass per loss term. Six passes of the ResNet's
 * activations at 256 px do not fit the wasm heap beside everything else, while its 11M weights
 * make summing per-term gradients in JS cheap; the U-Net is the opposite (54M weights, small
 * activations), so it keeps a single backward pass.
 */
export function backwardPerTerm(config: TrainConfig): boolean {
  return config.generator !== 'unet';
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
  /** Whether trainStep's generator backward pass runs per loss term (see backwardPerTerm). */
  readonly perTermBackward: boolean;
  /** The feature discriminator (`--feature-disc`), on both domains; null without one. */
  readonly featureCritic: FeatureCritic | null;

  /**
   * @param rng the run's training Rng (dropout seeds, image pool); initial weights come from
   *   `config.seed` alone so that a model rebuilt for loading has the same structure and names.
   * @param models the networks by name (e.g. from a checkpoint), the feature heads included when
   *   the run has them.
   * @param options.backwardPerTerm overrides backwardPerTerm(config); only the tests set it, to
   *   compare the per-term pass with the single pass on the same networks.
   * @param options.backbone the feature discriminator's backbone, required with --feature-disc
   *   (loadRunBackbone); owned by the model from here on.
   */
  constructor(
    readonly config: TrainConfig,
    readonly rng: Rng,
    models?: { genAtoB: tf.LayersModel; genBtoA: tf.LayersModel; discA: tf.LayersModel; discB: tf.LayersModel } & Record<
      string,
      tf.LayersModel
    >,
    options: { backwardPerTerm?: boolean; backbone?: FeatureBackbone | null } = {},
  ) {
    if (hasFeatureDisc(config) !== Boolean(options.backbone)) {
      options.backbone?.dispose();
      throw new Error(
        hasFeatureDisc(config)
          ? `--feature-disc ${config.featureDisc} needs its backbone loaded (loadRunBackbone) and passed to the model`
          : 'a feature backbone was given to a model without --feature-disc',
      );
    }
    this.perTermBackward = options.backwardPerTerm ?? backwardPerTerm(config);
    const init = new Rng(config.seed ^ 0x5eed);
    this.genAtoB = models?.genAtoB ?? buildGenerator(config, init.seed(), 'G_AtoB');
    this.genBtoA = models?.genBtoA ?? buildGenerator(config, init.seed(), 'G_BtoA');
    const d = (name: string) => buildDiscriminator(config, init.seed(), name);
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
    this.featureCritic = options.backbone ? new FeatureCritic(config, options.backbone, rng, ['A', 'B'], models) : null;
  }

  /** What a checkpoint records of the feature discriminator's backbone (null: none). */
  get backboneIdentity(): BackboneIdentity | null {
    return this.featureCritic?.identity ?? null;
  }

  /** Every network by the name a checkpoint stores it under (never the feature backbone). */
  networks(): Record<'genAtoB' | 'genBtoA' | 'discA' | 'discB', tf.LayersModel> & Record<string, tf.LayersModel> {
    return { genAtoB: this.genAtoB, genBtoA: this.genBtoA, discA: this.discA, discB: this.discB, ...this.featureCritic?.networks() };
  }

  optimizerRecord(): Record<'genAtoB' | 'genBtoA' | 'discA' | 'discB', Adam> & Record<string, Adam> {
    return { ...this.optimizers, ...this.featureCritic?.optimizerRecord() };
  }

  setLearningRate(lr: number): void {
    for (const opt of Object.values(this.optimizers)) opt.lr = lr;
    this.featureCritic?.setLearningRate(lr);
  }

  /**
   * One optimisation step on a pair of unaligned batches (NHWC in [-1, 1]). Asynchronous because
   * a GPU backend in Node reads tensors back only asynchronously (the losses, the pooled fakes).
   * With a feature discriminator the losses also hold FeatureStepLosses.
   */
  async trainStep(realA: tf.Tensor4D, realB: tf.Tensor4D): Promise<StepLosses> {
    const { ganLoss: kind, lambdaCycle, lambdaIdentity } = this.config;
    const training = { training: true };
    setDropoutSeed(this.rng.seed());

    // Each network application in its own tidy: what backprop needs is kept by the engine, and
    // the rest of a pass is freed before the next pass starts instead of at the end of the forward.
    const pass = (model: tf.LayersModel, x: tf.Tensor4D, kwargs: { training?: boolean } = {}) =>
      tf.tidy(() => model.apply(x, kwargs) as tf.Tensor4D);
    const fakes: { A: tf.Tensor4D | null; B: tf.Tensor4D | null } = { A: null, B: null };
    const parts: Record<'advAtoB' | 'advBtoA' | 'cycle' | 'identity' | 'featAtoB' | 'featBtoA', tf.Scalar[]> = {
      advAtoB: [],
      advBtoA: [],
      cycle: [],
      identity: [],
      featAtoB: [],
      featBtoA: [],
    };
    const critic = this.featureCritic;
    /**
     * adv(D(forward(real))) + λ·|back(forward(real)) − real| (+ λ_feature·feature adv), keeping
     * the fake for the discriminator step.
     */
    const cycleTerm =
      (
        forward: tf.LayersModel,
        back: tf.LayersModel,
        disc: tf.LayersModel,
        real: tf.Tensor4D,
        fake: 'A' | 'B',
        adversarial: 'advAtoB' | 'advBtoA',
      ) =>
      () => {
        const translated = pass(forward, real, training);
        const cycled = pass(back, translated, training);
        const adv = generatorAdversarialLoss(pass(disc, translated), kind);
        const cycle = cycleLoss(real, cycled, lambdaCycle);
        fakes[fake] = tf.keep(translated);
        parts[adversarial].push(tf.keep(adv));
        parts.cycle.push(tf.keep(cycle));
        if (!critic) return adv.add(cycle) as tf.Scalar;
        const feat = critic.generatorLoss(fake, translated);
        parts[adversarial === 'advAtoB' ? 'featAtoB' : 'featBtoA'].push(tf.keep(feat));
        return tf.addN([adv, cycle, feat]) as tf.Scalar;
      };
    // The generator objective is a sum of three independent terms, in the order their passes run
    // (so dropout draws the same seeds however they are grouped).
    const terms: (() => tf.Scalar)[] = [
      cycleTerm(this.genAtoB, this.genBtoA, this.discB, realA, 'B', 'advAtoB'),
      cycleTerm(this.genBtoA, this.genAtoB, this.discA, realB, 'A', 'advBtoA'),
    ];
    if (lambdaIdentity > 0) {
      terms.push(() => {
        const sameB = pass(this.genAtoB, realB, training);
        const sameA = pass(this.genBtoA, realA, training);
        const identity = identityLoss(realB, sameB, lambdaCycle, lambdaIdentity).add(
          identityLoss(realA, sameA, lambdaCycle, lambdaIdentity),
        ) as tf.Scalar;
        parts.identity.push(tf.keep(identity.clone())); // the caller disposes the returned value
        return identity;
      });
    }
    const genVars = [...this.optimizers.genAtoB.variables, ...this.optimizers.genBtoA.variables];
    if (this.perTermBackward) {
      // One backward pass per term, gradients summed in JS memory: the wasm heap then holds the
      // saved activations of two generator passes at a time instead of six.
      // On a GPU backend the sums stay on the device (a read-back per gradient would stall it).
      const onDevice = GPU_BACKENDS.includes(tf.getBackend());
      const sums: (Float32Array | tf.Tensor)[] = genVars.map((v) => (onDevice ? tf.zeros(v.shape) : new Float32Array(v.size)));
      const reached = new Set<string>();
      try {
        for (const term of terms) {
          const { value, grads } = variableGradsFrugal(term, genVars);
          genVars.forEach((v, i) => {
            const g = grads[v.name];
            if (!g) return;
            reached.add(v.name);
            const sum = sums[i]!;
            if (sum instanceof tf.Tensor) {
              sums[i] = tf.add(sum, g);
              sum.dispose();
              return;
            }
            const values = g.dataSync();
            for (let j = 0; j < sum.length; j++) sum[j]! += values[j]!;
          });
          tf.dispose([value, ...Object.values(grads)]);
        }
        const unreached = genVars.find((v) => !reached.has(v.name));
        if (unreached) throw new Error(`no gradient for variable ${unreached.name}`);
        const nA = this.optimizers.genAtoB.variables.length;
        this.optimizers.genAtoB.apply(sums.slice(0, nA));
        this.optimizers.genBtoA.apply(sums.slice(nA));
      } finally {
        tf.dispose(sums.filter((x): x is tf.Tensor => x instanceof tf.Tensor));
      }
    } else {
      const gen = variableGradsFrugal(() => terms.map((term) => term()).reduce((a, b) => a.add(b) as tf.Scalar), genVars);
      this.optimizers.genAtoB.applyNamed(gen.grads);
      this.optimizers.genBtoA.applyNamed(gen.grads);
      tf.dispose([gen.value, ...Object.values(gen.grads)]);
    }
    const genParts = tf.tidy(() =>
      tf.stack([
        parts.advAtoB[0]!,
        parts.advBtoA[0]!,
        tf.addN(parts.cycle),
        parts.identity[0] ?? tf.scalar(0),
        ...(critic ? [parts.featAtoB[0]!, parts.featBtoA[0]!] : []),
      ]),
    ) as tf.Tensor1D;
    tf.dispose(Object.values(parts).flat());

    const pooledA = await this.poolA.query(fakes.A!);
    const pooledB = await this.poolB.query(fakes.B!);
    tf.dispose([fakes.A!, fakes.B!]);
    let discParts: tf.Tensor1D | null = null;
    const discVars = [...this.optimizers.discA.variables, ...this.optimizers.discB.variables];
    const disc = variableGradsFrugal(() => {
      const lossA = discriminatorLoss(pass(this.discA, realA), pass(this.discA, pooledA), kind);
      const lossB = discriminatorLoss(pass(this.discB, realB), pass(this.discB, pooledB), kind);
      discParts = tf.keep(tf.stack([lossA, lossB]) as tf.Tensor1D);
      return lossA.add(lossB) as tf.Scalar;
    }, discVars);
    this.optimizers.discA.applyNamed(disc.grads);
    this.optimizers.discB.applyNamed(disc.grads);
    tf.dispose([disc.value, ...Object.values(disc.grads)]);
    let featParts: tf.Tensor1D | null;
    try {
      // The feature discriminator judges the same real and pooled images as the PatchGANs.
      featParts =
        critic?.discriminatorStep([
          { domain: 'A', real: realA, fake: pooledA },
          { domain: 'B', real: realB, fake: pooledB },
        ]) ?? null;
    } finally {
      tf.dispose([pooledA, pooledB]);
    }

    const [g, d, f] = await Promise.all([genParts.data(), discParts!.data(), featParts?.data()]);
    tf.dispose([genParts, discParts!, ...(featParts ? [featParts] : [])]);
    const losses: StepLosses & Partial<FeatureStepLosses> = {
      genAtoB: g[0]!,
      genBtoA: g[1]!,
      cycle: g[2]!,
      identity: g[3]!,
      discA: d[0]!,
      discB: d[1]!,
    };
    if (critic) Object.assign(losses, { featAtoB: g[4]!, featBtoA: g[5]!, discFeatA: f![0]!, discFeatB: f![1]! });
    return losses;
  }

  /** Translates a batch without dropout (inference). */
  translate(images: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D {
    const model = direction === 'AtoB' ? this.genAtoB : this.genBtoA;
    return tf.tidy(() => model.apply(images, { training: false }) as tf.Tensor4D);
  }

  dispose(): void {
    for (const opt of Object.values(this.optimizers)) opt.dispose();
    for (const m of [this.genAtoB, this.genBtoA, this.discA, this.discB]) m.dispose();
    this.featureCritic?.dispose();
  }
}
