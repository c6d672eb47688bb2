/**
 * CUT and FastCUT (Park et al., ECCV 2020; taesungp/contrastive-unpaired-translation,
 * models/cut_model.py): one generator G: A→B, one PatchGAN discriminator on B, and instead of
 * CycleGAN's second generator and cycle loss, PatchNCE between the encoder features of the input
 * and of its translation (src/models/patch-nce.ts). One step is optimize_parameters: the forward
 * pass, the discriminator update on real B against G(A), then G and the projection heads together
 * on
 *   L_G = λ_GAN·adv(D(G(a))) + λ_NCE·NCE(a, G(a))                         (FastCUT)
 *   L_G = λ_GAN·adv(D(G(a))) + λ_NCE·(NCE(a, G(a)) + NCE(b, G(b)))/2      (CUT: NCE identity on B)
 * with the D loss halved as in CycleGAN. CUT never pools fakes (pool_size 0).
 */
import * as tf from '@tensorflow/tfjs';
import { buildPatchDiscriminator } from '../models/discriminator.ts';
import { buildResnetGenerator } from '../models/generators.ts';
import { discriminatorLoss, generatorAdversarialLoss } from '../models/losses.ts';
import {
  buildFeatureTaps,
  buildProjectionHeads,
  CUT_TAP_LAYERS,
  DEFAULT_HEAD_UNITS,
  encodePatches,
  headName,
  multiLayerPatchNceLoss,
  samplePatchIdsForTaps,
  type FeatureTaps,
} from '../models/patch-nce.ts';
import type { BackboneIdentity, FeatureBackbone } from '../models/backbones/backbone.ts';
import { Rng } from '../util/rng.ts';
import { Adam } from './adam.ts';
import { hasFeatureDisc, isCutConfig, resolveConfig, type CutConfig } from './config.ts';
import { FeatureCritic } from './feature-critic.ts';
import { validateCutConfig } from './cut-config.ts';
import { variableGradsFrugal } from './gradients.ts';

export * from './cut-config.ts';
export type { CutConfig };

/**
 * A full CUT configuration (method 'cut' unless given): resolveConfig with the method set, which
 * puts the method's training defaults and CUT options between the preset and `overrides`.
 */
export function resolveCutConfig(overrides: Partial<CutConfig> = {}): CutConfig {
  const config = resolveConfig({ ...overrides, method: overrides.method ?? 'cut' });
  if (!isCutConfig(config)) throw new Error(`resolveCutConfig: method ${JSON.stringify(config.method)} is not CUT's`);
  return config;
}

// A type, not an interface, so that it is a Record<string, number> (what the loop sums by name).
export type CutLosses = {
  /** λ_GAN·adversarial loss of G, fooling D_B (cut_model.py's G_GAN). */
  genAtoB: number;
  /** λ_NCE·NCE(a, G(a)) (its NCE). */
  nce: number;
  /** λ_NCE·NCE(b, G(b)) (its NCE_Y); 0 when the identity term is off. */
  nceIdentity: number;
  /** D_B's loss, 0.5·(real + fake) (its D_real and D_fake, halved and summed). */
  discB: number;
};

/** What a CUT step with a feature discriminator (on B) reports besides CutLosses. */
export type CutFeatureLosses = {
  /** λ_feature·the feature discriminator's adversarial loss of G. */
  featAtoB: number;
  /** Its heads' loss, halved as D's. */
  discFeatB: number;
};

export const CUT_LOSS_NAMES: (keyof CutLosses)[] = ['genAtoB', 'nce', 'nceIdentity', 'discB'];
/** What a step with a feature discriminator (on B) reports besides CUT_LOSS_NAMES. */
export const CUT_FEATURE_LOSS_NAMES: (keyof CutFeatureLosses)[] = ['featAtoB', 'discFeatB'];

/** Networks by checkpoint name: the generator, the discriminator and one head per tap. */
export type CutNetworks = Record<string, tf.LayersModel>;

function trainableVariables(models: tf.LayersModel[]): tf.Variable[] {
  return models.flatMap((m) => m.trainableWeights.map((w) => w.read() as tf.Variable));
}

/** Backends whose tensors live on a device that Node reads back only asynchronously. */
const GPU_BACKENDS = ['webgpu', 'webgl'];

/**
 * Adds every gradient of `grads` into `sums` (by position in `variables`), noting which came. On a
 * GPU backend the sums stay on the device (a read-back per gradient would stall it); elsewhere
 * they are JS arrays, read asynchronously.
 */
async function accumulate(
  variables: tf.Variable[],
  grads: tf.NamedTensorMap,
  sums: (Float32Array | tf.Tensor)[],
  reached: Set<string>,
): Promise<void> {
  for (const [i, v] of variables.entries()) {
    const g = grads[v.name];
    if (!g) continue;
    reached.add(v.name);
    const sum = sums[i]!;
    if (sum instanceof tf.Tensor) {
      sums[i] = tf.add(sum, g);
      sum.dispose();
      continue;
    }
    const values = await g.data();
    for (let j = 0; j < sum.length; j++) sum[j]! += values[j]!;
  }
}

export class Cut {
  readonly genAtoB: tf.LayersModel;
  readonly discB: tf.LayersModel;
  /** One projection head per tap, in tap order (CUT's netF). */
  readonly heads: tf.LayersModel[];
  readonly taps: FeatureTaps;
  /**
   * As cut_model.py: an Adam for G, one for D, and one for all the heads (its optimizer_F), the
   * heads stepped together with G from the same loss.
   */
  readonly optimizers: { genAtoB: Adam; discB: Adam; heads: Adam };
  /** Whether the last step flipped its inputs (cut_model.py's flipped_for_equivariance). */
  lastStepFlipped = false;
  /** The feature discriminator (`--feature-disc`), on B; null without one. */
  readonly featureCritic: FeatureCritic | null;

  /**
   * @param rng the run's training Rng (flips, patch positions); initial weights come from
   *   `config.seed` alone so that a model rebuilt for loading has the same structure and names.
   * @param models networks as `networks()` names them (e.g. loaded from a checkpoint).
   */
  constructor(
    readonly config: CutConfig,
    readonly rng: Rng,
    models?: CutNetworks,
    options: { backbone?: FeatureBackbone | null } = {},
  ) {
    if (hasFeatureDisc(config) !== Boolean(options.backbone)) {
      options.backbone?.dispose();
      throw new Error(`--feature-disc ${config.featureDisc}: the model needs exactly its backbone (loadRunBackbone)`);
    }
    validateCutConfig(config);
    const init = new Rng(config.seed ^ 0x5eed);
    // The seeds CycleGan draws for G_AtoB, G_BtoA, D_A and D_B: a CUT and a CycleGAN run with the
    // same seed start from the same G and D_B.
    const [gSeed, , , dSeed, headSeed] = [init.seed(), init.seed(), init.seed(), init.seed(), init.seed()];
    const given = (key: string) => {
      const m = models?.[key];
      if (models && !m) throw new Error(`CUT networks lack '${key}' (have ${Object.keys(models).join(', ')})`);
      return m;
    };
    this.genAtoB =
      given('genAtoB') ??
      buildResnetGenerator({ ngf: config.ngf, nBlocks: config.generator === 'resnet9' ? 9 : 6, seed: gSeed, name: 'G_AtoB' });
    this.discB = given('discB') ?? buildPatchDiscriminator({ ndf: config.ndf, nLayers: config.nLayersD, seed: dSeed, name: 'D_B' });
    this.taps = buildFeatureTaps(this.genAtoB, CUT_TAP_LAYERS);
    if (models) {
      this.heads = this.taps.layers.map((tap, i) => {
        const head = given(headName(tap))!;
        const inputs = head.inputs[0]!.shape[1];
        if (inputs !== this.taps.channels[i]) {
          throw new Error(`CUT head ${headName(tap)} takes ${inputs} channels, the generator's ${tap} has ${this.taps.channels[i]}`);
        }
        return head;
      });
    } else {
      this.heads = buildProjectionHeads(this.taps, headSeed, DEFAULT_HEAD_UNITS);
    }
    const adam = (ms: tf.LayersModel[]) =>
      new Adam(trainableVariables(ms), { lr: config.lr, beta1: config.beta1, beta2: config.beta2, epsilon: config.adamEpsilon });
    this.optimizers = { genAtoB: adam([this.genAtoB]), discB: adam([this.discB]), heads: adam(this.heads) };
    this.featureCritic = options.backbone ? new FeatureCritic(config, options.backbone, rng, ['B'], models) : null;
  }

  /** What a checkpoint records of the feature discriminator's backbone (null: none). */
  get backboneIdentity(): BackboneIdentity | null {
    return this.featureCritic?.identity ?? null;
  }

  /** Every network by the name a checkpoint stores it under (never the feature backbone). */
  networks(): CutNetworks {
    const out: CutNetworks = { genAtoB: this.genAtoB, discB: this.discB, ...this.featureCritic?.networks() };
    this.taps.layers.forEach((tap, i) => (out[headName(tap)] = this.heads[i]!));
    return out;
  }

  optimizerRecord(): Record<string, Adam> {
    return { ...this.optimizers, ...this.featureCritic?.optimizerRecord() };
  }

  setLearningRate(lr: number): void {
    for (const opt of Object.values(this.optimizers)) opt.lr = lr;
    this.featureCritic?.setLearningRate(lr);
  }

  /**
   * One optimisation step on a pair of unaligned batches (NHWC in [-1, 1], the same batch size).
   * Asynchronous because a GPU backend in Node reads tensors back only asynchronously. With a
   * feature discriminator the losses also hold CutFeatureLosses.
   */
  async trainStep(realA: tf.Tensor4D, realB: tf.Tensor4D): Promise<CutLosses> {
    const { ganLoss: kind, lambdaGan, lambdaNce, nceIdentity, ncePatches, nceTemperature } = this.config;
    const training = { training: true };
    // cut_model.py forward(): one coin per step for the whole batch.
    const flipped = this.config.flipEquivariance && this.rng.next() < 0.5;
    this.lastStepFlipped = flipped;
    const flip = (x: tf.Tensor4D) => tf.reverse(x, 2) as tf.Tensor4D;

    // Outside any gradient: G(a) for D's step, and the keys of NCE, which patchnce.py detaches.
    // Unflipped, one pass gives both; flipped, the keys are still of the unflipped input.
    const { fakeB, keyFeatsA } = tf.tidy(() => {
      if (!flipped) {
        const [image, ...feats] = this.taps.withImage.apply(realA, training) as tf.Tensor4D[];
        return { fakeB: image!, keyFeatsA: feats };
      }
      return {
        fakeB: this.genAtoB.apply(flip(realA), training) as tf.Tensor4D,
        keyFeatsA: this.taps.encoder.apply(realA, training) as tf.Tensor4D[],
      };
    });
    // Positions drawn per NCE term and tap, shared by the term's keys and queries (PatchSampleF's
    // sample_ids), in the order cut_model.py draws them: NCE(a, G(a)) then NCE(b, G(b)).
    const idsA = samplePatchIdsForTaps(keyFeatsA, ncePatches, this.rng);
    const keysA = encodePatches(this.heads, keyFeatsA, idsA);
    tf.dispose(keyFeatsA);
    let idsB: Int32Array[] = [];
    let keysB: tf.Tensor3D[] = [];
    if (nceIdentity) {
      const keyFeatsB = tf.tidy(() => this.taps.encoder.apply(realB, training) as tf.Tensor4D[]);
      idsB = samplePatchIdsForTaps(keyFeatsB, ncePatches, this.rng);
      keysB = encodePatches(this.heads, keyFeatsB, idsB);
      tf.dispose(keyFeatsB);
    }

    // D step, on the newest fake (no pool).
    const pass = (model: tf.LayersModel, x: tf.Tensor4D) => tf.tidy(() => model.apply(x, training) as tf.Tensor4D);
    let discLoss: tf.Scalar;
    let featDisc: tf.Tensor1D | null = null;
    try {
      const disc = variableGradsFrugal(
        () => discriminatorLoss(pass(this.discB, realB), pass(this.discB, fakeB), kind),
        this.optimizers.discB.variables,
      );
      try {
        this.optimizers.discB.applyNamed(disc.grads);
      } catch (error) {
        disc.value.dispose();
        throw error;
      } finally {
        tf.dispose(Object.values(disc.grads));
      }
      // Read with the other losses at the end: one wait for the device instead of two.
      discLoss = disc.value;
      featDisc = this.featureCritic?.discriminatorStep([{ domain: 'B', real: realB, fake: fakeB }]) ?? null;
    } catch (error) {
      tf.dispose([...keysA, ...keysB, ...(featDisc ? [featDisc] : [])]);
      throw error;
    } finally {
      fakeB.dispose();
    }

    // G and heads step against the updated D. The queries' features are of G(x) through the same
    // encoder; flipped, they are flipped back so that position i faces key i.
    const queries = (x: tf.Tensor4D, ids: Int32Array[], adversarial?: (image: tf.Tensor4D) => tf.Scalar) => {
      const input = flipped ? flip(x) : x;
      const image = pass(this.genAtoB, input);
      const adv = adversarial ? adversarial(image) : null;
      const feats = tf.tidy(() => (this.taps.encoder.apply(image, training) as tf.Tensor4D[]).map((f) => (flipped ? flip(f) : f)));
      return { adv, qs: encodePatches(this.heads, feats, ids) };
    };
    // Reported as cut_model.py does, λ applied; with the identity term G gets their mean.
    const parts: { adv?: tf.Scalar; nceA?: tf.Scalar; nceB?: tf.Scalar; feat?: tf.Scalar } = {};
    const critic = this.featureCritic;
    const share = nceIdentity ? 0.5 : 1;
    // Two independent terms with one backward pass each, gradients summed in JS (as CycleGan does
    // for the ResNet): G(a) and G(b) apart instead of cut_model.py's one batch of [a; b], which is
    // the same function (instance norm keeps the samples apart) at half the saved activations.
    const terms: (() => tf.Scalar)[] = [
      () => {
        const { adv, qs } = queries(realA, idsA, (image) => {
          if (critic) parts.feat = tf.keep(critic.generatorLoss('B', image));
          return tf.mul(generatorAdversarialLoss(pass(this.discB, image), kind), lambdaGan) as tf.Scalar;
        });
        const nce = tf.mul(multiLayerPatchNceLoss(qs, keysA, nceTemperature), lambdaNce) as tf.Scalar;
        parts.adv = tf.keep(adv!);
        parts.nceA = tf.keep(nce);
        return tf.addN([adv!, tf.mul(nce, share), ...(parts.feat ? [parts.feat] : [])]) as tf.Scalar;
      },
    ];
    if (nceIdentity) {
      terms.push(() => {
        const { qs } = queries(realB, idsB);
        const nce = tf.mul(multiLayerPatchNceLoss(qs, keysB, nceTemperature), lambdaNce) as tf.Scalar;
        parts.nceB = tf.keep(nce);
        return tf.mul(nce, share) as tf.Scalar;
      });
    }
    const genVars = this.optimizers.genAtoB.variables;
    const headVars = this.optimizers.heads.variables;
    const vars = [...genVars, ...headVars];
    const onDevice = GPU_BACKENDS.includes(tf.getBackend());
    const sums: (Float32Array | tf.Tensor)[] = vars.map((v) => (onDevice ? tf.zeros(v.shape) : new Float32Array(v.size)));
    const reached = new Set<string>();
    try {
      for (const term of terms) {
        const { value, grads } = variableGradsFrugal(term, vars);
        try {
          await accumulate(vars, grads, sums, reached);
        } finally {
          tf.dispose([value, ...Object.values(grads)]);
        }
      }
      const unreached = vars.find((v) => !reached.has(v.name));
      if (unreached) throw new Error(`no gradient for variable ${unreached.name}`);
      this.optimizers.genAtoB.apply(sums.slice(0, genVars.length));
      this.optimizers.heads.apply(sums.slice(genVars.length));
    } catch (error) {
      tf.dispose([...Object.values(parts), discLoss, ...(featDisc ? [featDisc] : [])]);
      throw error;
    } finally {
      tf.dispose([...keysA, ...keysB]);
      tf.dispose(sums.filter((x): x is tf.Tensor => x instanceof tf.Tensor));
    }

    const stacked = tf.tidy(() =>
      tf.stack([parts.adv!, parts.nceA!, parts.nceB ?? tf.scalar(0), discLoss, ...(critic ? [parts.feat!, featDisc!.squeeze()] : [])]),
    );
    tf.dispose([...Object.values(parts), discLoss, ...(featDisc ? [featDisc] : [])]);
    const values = await stacked.data();
    stacked.dispose();
    const losses: CutLosses & Partial<CutFeatureLosses> = {
      genAtoB: values[0]!,
      nce: values[1]!,
      nceIdentity: values[2]!,
      discB: values[3]!,
    };
    if (critic) Object.assign(losses, { featAtoB: values[4]!, discFeatB: values[5]! });
    return losses;
  }

  /** Translates a batch A→B (inference). CUT learns one direction only. */
  translate(images: tf.Tensor4D, direction: 'AtoB' | 'BtoA'): tf.Tensor4D {
    if (direction !== 'AtoB') {
      throw new Error(
        `a ${this.config.method === 'fastcut' ? 'FastCUT' : 'CUT'} model translates A→B only (it has no B→A generator); got direction ${JSON.stringify(direction)}`,
      );
    }
    return tf.tidy(() => this.genAtoB.apply(images, { training: false }) as tf.Tensor4D);
  }

  dispose(): void {
    for (const opt of Object.values(this.optimizers)) opt.dispose();
    // The taps share the generator's layers: disposing the generator frees them.
    for (const m of [this.genAtoB, this.discB, ...this.heads]) m.dispose();
    this.featureCritic?.dispose();
  }
}
