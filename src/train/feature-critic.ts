/**
 * The feature discriminator in training (`--feature-disc NAME --lambda-feature W`): per judged
 * domain, trainable heads (models/feature-discriminator.ts) on the maps of a frozen pretrained
 * backbone (models/backbones/), beside the PatchGAN and on the same images:
 *
 *   generator:  + W · mean_t L(head_t(φ_t(aug(G(x)))), 1)          (inside its gradient)
 *   heads:      0.5 · (mean_t L(head_t(φ_t(aug(real))), 1) + mean_t L(head_t(φ_t(aug(fake))), 0))
 *
 * with L the run's adversarial loss (LSGAN in the paper preset), t over the backbone's taps, the
 * fakes those the PatchGAN gets (the image pool's) and aug DiffAugment when `--feature-augment`
 * (else nothing). The generators' gradients pass through the backbone; its weights are constants,
 * so nothing trains them and no checkpoint stores them: a checkpoint records the backbone's
 * identity, and a resume loads the same backbone or stops (loadCheckpointBackbone).
 */
import * as tf from '@tensorflow/tfjs';
import { describeBackbone, sameBackbone, type BackboneIdentity, type FeatureBackbone } from '../models/backbones/backbone.ts';
import { loadFeatureBackbone } from '../models/backbones/registry.ts';
import { diffAugment } from '../models/diff-augment.ts';
import {
  buildFeatureHeads,
  checkHeadsFit,
  featureAdversarialLoss,
  featureDiscriminatorLoss,
  headLogits,
} from '../models/feature-discriminator.ts';
import { Rng } from '../util/rng.ts';
import { Adam } from './adam.ts';
import { hasFeatureDisc, type TrainConfig } from './config.ts';
import { variableGradsFrugal } from './gradients.ts';

/** The domain whose images a set of heads judges (CycleGAN: both; CUT: B). */
export type FeatureDomain = 'A' | 'B';
const DOMAINS: readonly FeatureDomain[] = ['A', 'B'];

/** The network and optimizer key of a domain's heads (their checkpoint folder is FD_A or FD_B). */
export function featureHeadsKey(domain: FeatureDomain): string {
  return `featDisc${domain}`;
}

/** Mixed into config.seed for the heads' initial weights, apart from every other network's. */
const HEADS_SEED = 0xfea7;

/** The backbone of a new run with `config`; null without a feature discriminator. The caller owns it. */
export async function loadRunBackbone(config: TrainConfig): Promise<FeatureBackbone | null> {
  return hasFeatureDisc(config) ? loadFeatureBackbone(config.featureDisc) : null;
}

/**
 * The backbone a checkpoint's feature discriminator was trained on: the same name, version and
 * taps as `recorded`, or an error saying what it needs and what there is.
 */
export async function loadCheckpointBackbone(
  config: TrainConfig,
  recorded: BackboneIdentity | null | undefined,
  where: string,
): Promise<FeatureBackbone | null> {
  if (!hasFeatureDisc(config)) return null;
  if (!recorded) throw new Error(`${where}: trained with --feature-disc ${config.featureDisc} but records no backbone identity`);
  let backbone: FeatureBackbone;
  try {
    backbone = await loadFeatureBackbone(config.featureDisc);
  } catch (error) {
    throw new Error(`${where} needs feature backbone ${describeBackbone(recorded)}, which cannot be loaded: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!sameBackbone(recorded, backbone.identity)) {
    const have = describeBackbone(backbone.identity);
    backbone.dispose();
    throw new Error(
      `${where} was trained against feature backbone ${describeBackbone(recorded)}; this installation has ${have}: its heads would judge other features, so the run cannot continue here`,
    );
  }
  return backbone;
}

export class FeatureCritic {
  /** Each judged domain's heads, and their Adam. */
  readonly heads = new Map<FeatureDomain, tf.LayersModel>();
  readonly optimizers = new Map<FeatureDomain, Adam>();

  /**
   * @param backbone owned from here on (dispose() frees it).
   * @param rng the run's training Rng: DiffAugment's draws, so a resume draws the same.
   * @param models heads by featureHeadsKey (e.g. from a checkpoint); absent: fresh, from config.seed.
   */
  constructor(
    readonly config: TrainConfig,
    readonly backbone: FeatureBackbone,
    readonly rng: Rng,
    domains: readonly FeatureDomain[],
    models?: Record<string, tf.LayersModel>,
  ) {
    const init = new Rng((config.seed ^ HEADS_SEED) >>> 0);
    // A seed per domain whether judged or not: CUT's B heads start as a CycleGAN's with the same seed.
    const seeds = new Map(DOMAINS.map((d) => [d, init.seed()]));
    for (const domain of domains) {
      const key = featureHeadsKey(domain);
      let heads = models?.[key];
      if (models && !heads) throw new Error(`feature discriminator heads '${key}' missing (have ${Object.keys(models).join(', ')})`);
      heads ??= buildFeatureHeads({ channels: backbone.channels, width: config.ndf, seed: seeds.get(domain)!, name: `FD_${domain}` });
      checkHeadsFit(heads, backbone);
      this.heads.set(domain, heads);
      const variables = heads.trainableWeights.map((w) => w.read() as tf.Variable);
      this.optimizers.set(
        domain,
        new Adam(variables, { lr: config.lr, beta1: config.beta1, beta2: config.beta2, epsilon: config.adamEpsilon }),
      );
    }
  }

  get identity(): BackboneIdentity {
    return this.backbone.identity;
  }

  networks(): Record<string, tf.LayersModel> {
    return Object.fromEntries([...this.heads].map(([d, m]) => [featureHeadsKey(d), m]));
  }

  optimizerRecord(): Record<string, Adam> {
    return Object.fromEntries([...this.optimizers].map(([d, o]) => [featureHeadsKey(d), o]));
  }

  setLearningRate(lr: number): void {
    for (const opt of this.optimizers.values()) opt.lr = lr;
  }

  private headsOf(domain: FeatureDomain): tf.LayersModel {
    const heads = this.heads.get(domain);
    if (!heads) throw new Error(`no feature discriminator for domain ${domain}`);
    return heads;
  }

  /** The backbone's maps of the (augmented, when asked) images. */
  private maps(images: tf.Tensor4D): tf.Tensor4D[] {
    return tf.tidy(() => this.backbone.features(this.config.featureAugment ? diffAugment(images, this.rng) : images));
  }

  /** λ_feature · the generator's adversarial loss on `image` (a translation into `domain`); differentiable in it. */
  generatorLoss(domain: FeatureDomain, image: tf.Tensor4D): tf.Scalar {
    const heads = this.headsOf(domain);
    return tf.tidy(() => {
      const logits = headLogits(heads, this.maps(image));
      return tf.mul(featureAdversarialLoss(logits, 1, this.config.ganLoss), this.config.lambdaFeature) as tf.Scalar;
    });
  }

  /**
   * One update of the heads of every domain in `pairs` on its real against its fake images;
   * returns their halved losses in `pairs` order (the caller disposes it). The backbone runs
   * outside the gradient: only the heads learn here.
   */
  discriminatorStep(pairs: readonly { domain: FeatureDomain; real: tf.Tensor4D; fake: tf.Tensor4D }[]): tf.Tensor1D {
    const maps = pairs.map(({ real, fake }) => ({ real: this.maps(real), fake: this.maps(fake) }));
    let losses: tf.Tensor1D | null = null;
    try {
      const variables = pairs.flatMap(({ domain }) => this.optimizers.get(domain)?.variables ?? []);
      const step = variableGradsFrugal(() => {
        const each = pairs.map(({ domain }, i) =>
          featureDiscriminatorLoss(
            headLogits(this.headsOf(domain), maps[i]!.real),
            headLogits(this.headsOf(domain), maps[i]!.fake),
            this.config.ganLoss,
          ),
        );
        losses = tf.keep(tf.stack(each) as tf.Tensor1D);
        return tf.addN(each) as tf.Scalar;
      }, variables);
      try {
        for (const { domain } of pairs) this.optimizers.get(domain)!.applyNamed(step.grads);
      } finally {
        tf.dispose([step.value, ...Object.values(step.grads)]);
      }
    } catch (error) {
      if (losses) tf.dispose(losses);
      throw error;
    } finally {
      tf.dispose(maps.flatMap((m) => [...m.real, ...m.fake]));
    }
    return losses!;
  }

  dispose(): void {
    for (const opt of this.optimizers.values()) opt.dispose();
    for (const m of this.heads.values()) m.dispose();
    this.backbone.dispose();
  }
}
