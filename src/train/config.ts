/**
 * Training configuration: the two presets, user overrides, validation, and the check that a resumed
 * run or a loaded checkpoint matches the options it was made with. The defaults live here (and in
 * cut-config.ts for CUT and FastCUT); the flags that override them are described in options.ts.
 */
import type { EpochLength, ResizeMethod } from '../data/pipeline.ts';
import { isFeatureBackboneName, NO_FEATURE_DISC } from '../models/backbones/registry.ts';
import { patchDiscriminatorOutputSize } from '../models/discriminator.ts';
import { CUT_METHODS, CUT_PRESETS, CUT_TRAIN_DEFAULTS, validateCutConfig, type CutMethod, type CutOptions } from './cut-config.ts';

export type TrainMethod = 'cyclegan' | CutMethod;
export const TRAIN_METHODS: readonly TrainMethod[] = ['cyclegan', ...CUT_METHODS];
/** The allowed values of the options that are a choice (the CLI's --x <choice> lists them). */
export const GENERATOR_ARCHS = ['unet', 'resnet9', 'resnet6'] as const;
export type GeneratorArch = (typeof GENERATOR_ARCHS)[number];
export const GAN_LOSSES = ['bce', 'lsgan'] as const;
export type GanLoss = (typeof GAN_LOSSES)[number];
export const PRESET_NAMES = ['tutorial', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
export const RESIZE_METHODS: readonly ResizeMethod[] = ['nearest', 'bicubic'];
export const EPOCH_LENGTHS: readonly EpochLength[] = ['min', 'max'];
/**
 * How the networks' layers are made. 'tutorial': as the TF tutorial's (affine instance norm,
 * LeakyReLU 0.3 and no bias before a norm in the PatchGAN, Keras' 'same' stride padding).
 * 'official': exactly as the official PyTorch code's (instance norm without affine parameters,
 * LeakyReLU 0.2 and a bias in every conv, PyTorch's symmetric stride padding), so that its
 * checkpoints load and a run here computes what it computes (ResNet generators only).
 */
export const NETWORK_STYLES = ['tutorial', 'official'] as const;
export type NetworkStyle = (typeof NETWORK_STYLES)[number];

/** Every training option; CUT's (cut-config.ts) are carried unused by a CycleGAN run. */
export interface TrainConfig extends Omit<CutOptions, 'method'> {
  preset: PresetName;
  /** What is trained: CycleGAN (two generators, cycle loss) or CUT/FastCUT (one generator, PatchNCE). */
  method: TrainMethod;
  generator: GeneratorArch;
  /** How the networks' layers are made (see NETWORK_STYLES). */
  networks: NetworkStyle;
  /** Generator width (filters of the first layer). */
  ngf: number;
  /** Discriminator width. */
  ndf: number;
  /** Stride-2 layers of the PatchGAN (3 gives the 70x70 receptive field). */
  nLayersD: number;
  ganLoss: GanLoss;
  lambdaCycle: number;
  /** Identity weight as a fraction of lambdaCycle; 0 turns the identity loss off. */
  lambdaIdentity: number;
  /** Generated images kept for the discriminators (0 = use the newest fakes only). */
  poolSize: number;
  /**
   * Images per domain in each step (the official --batch_size). Instance norm is per image, so
   * batch 1 is the paper's setting; the last step of an epoch takes what is left of it.
   */
  batchSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  adamEpsilon: number;
  /** Epochs at the initial learning rate. */
  epochs: number;
  /** Epochs of linear decay to zero after `epochs`. */
  epochsDecay: number;
  loadSize: number;
  cropSize: number;
  resize: ResizeMethod;
  flip: boolean;
  epochLength: EpochLength;
  saveEvery: number;
  /** Also write a step checkpoint (replacing the previous one) every N steps; 0 = off. */
  saveLatestEvery: number;
  keep: number;
  seed: number;
  /** Validation list held out of trainA/trainB (a built-in name or a file); null: valA/valB folders if any. */
  valSplit: string | null;
  /** Evaluate on the validation images every N steps (0 = off). */
  evalEvery: number;
  /** Size (square) the validation images are translated at. */
  evalSize: number;
  /** ImageNet class names of domains A and B for the validation class rates (null: KID only). */
  evalClassA: string | null;
  evalClassB: string | null;
  /** Checkpoint, run or export whose generators a new run started from (null: fresh weights). */
  initFrom: string | null;
  /**
   * The feature discriminator's backbone ('none': off): a second discriminator per domain, small
   * heads on a frozen pretrained network's maps, beside the PatchGAN (train/feature-critic.ts).
   * 'mobilenetv2' is built in; the library may register others (models/backbones/registry.ts).
   */
  featureDisc: string;
  /** Weight of the feature discriminator's adversarial term in the generators' loss. */
  lambdaFeature: number;
  /** DiffAugment (colour, translation, cutout) of the real and fake images the feature discriminator sees. */
  featureAugment: boolean;
}

/** A CUT or FastCUT run's configuration. */
export type CutConfig = TrainConfig & CutOptions;

/** CUT's options with CUT's own defaults: what a CycleGAN configuration carries unused. */
const { method: _cutMethod, ...CUT_FIELDS } = CUT_PRESETS.cut;

/** What both presets share: the architecture widths, the losses' weights, Adam, crops, saving, validation. */
const SHARED = {
  method: 'cyclegan',
  networks: 'tutorial',
  ngf: 64,
  ndf: 64,
  nLayersD: 3,
  lambdaCycle: 10,
  lambdaIdentity: 0.5,
  batchSize: 1,
  lr: 2e-4,
  beta1: 0.5,
  beta2: 0.999,
  loadSize: 286,
  cropSize: 256,
  flip: true,
  saveEvery: 5,
  saveLatestEvery: 250,
  keep: 3,
  seed: 0,
  valSplit: null,
  evalEvery: 0,
  evalSize: 256,
  evalClassA: null,
  evalClassB: null,
  initFrom: null,
  featureDisc: NO_FEATURE_DISC,
  lambdaFeature: 1,
  featureAugment: false,
  ...CUT_FIELDS,
} as const;

/**
 * The TF2 tutorial's setup and the official CycleGAN's. The paper preset is the default: its
 * ResNet generator, least-squares loss and image pool are what produced the published zebras,
 * and the ResNet generator is fully convolutional, so it translates images of any size.
 */
export const PRESETS: Record<PresetName, TrainConfig> = {
  tutorial: {
    ...SHARED,
    preset: 'tutorial',
    generator: 'unet',
    ganLoss: 'bce',
    poolSize: 0,
    adamEpsilon: 1e-7,
    epochs: 40,
    epochsDecay: 0,
    resize: 'nearest',
    epochLength: 'min',
  },
  paper: {
    ...SHARED,
    preset: 'paper',
    generator: 'resnet9',
    ganLoss: 'lsgan',
    poolSize: 50,
    adamEpsilon: 1e-8,
    epochs: 100,
    epochsDecay: 100,
    resize: 'bicubic',
    epochLength: 'max',
  },
};

export const DEFAULT_PRESET: PresetName = 'paper';

/**
 * Options a resumed run may change: how long it goes and how it saves. Every other option
 * (the method and CUT's options among them) changes what the run computes, so a resume must keep
 * the checkpoint's value.
 */
export const RESUME_OVERRIDABLE: readonly (keyof TrainConfig)[] = [
  'epochs',
  'epochsDecay',
  'saveEvery',
  'saveLatestEvery',
  'keep',
  'evalEvery',
  'evalSize',
  'evalClassA',
  'evalClassB',
];

export function resolveConfig(overrides: Partial<TrainConfig> = {}): TrainConfig {
  const preset = overrides.preset ?? DEFAULT_PRESET;
  if (!(preset in PRESETS)) throw new Error(`unknown preset '${preset}' (expected tutorial or paper)`);
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const method = overrides.method ?? PRESETS[preset].method;
  // CUT's scripts train with their own defaults (no pool, run lengths) and options: those come
  // between the preset and what the user asked for.
  const cut = isCutMethod(method) ? { ...CUT_TRAIN_DEFAULTS[method], ...CUT_PRESETS[method] } : {};
  // Checkpoints written before an option existed lack it: the preset's value fills the gap (an
  // old checkpoint without `method` is a CycleGAN's).
  const config: TrainConfig = { ...PRESETS[preset], ...cut, ...defined, preset };
  validateConfig(config);
  return config;
}

export function isCutMethod(method: unknown): method is CutMethod {
  return (CUT_METHODS as readonly unknown[]).includes(method);
}

/** Whether `config` has a feature discriminator (`--feature-disc` other than none). */
export function hasFeatureDisc(config: Pick<TrainConfig, 'featureDisc'>): boolean {
  return config.featureDisc !== NO_FEATURE_DISC;
}

/** Whether `config` trains CUT or FastCUT (and so is a full CutConfig). */
export function isCutConfig(config: TrainConfig): config is CutConfig {
  return isCutMethod(config.method);
}

export function validateConfig(c: TrainConfig): void {
  const fail = (what: string, value: unknown) => {
    throw new Error(`invalid training option ${what}: ${JSON.stringify(value)}`);
  };
  if (!TRAIN_METHODS.includes(c.method)) {
    throw new Error(`unknown method ${JSON.stringify(c.method)} (expected ${TRAIN_METHODS.join(', ')})`);
  }
  // First, so that `--method cut --generator unet` gets the one error that names the real problem.
  if (isCutConfig(c)) validateCutConfig(c);
  if (!GENERATOR_ARCHS.includes(c.generator)) fail('generator', c.generator);
  if (!GAN_LOSSES.includes(c.ganLoss)) fail('ganLoss', c.ganLoss);
  if (!NETWORK_STYLES.includes(c.networks)) fail('networks', c.networks);
  if (c.networks === 'official' && (c.method !== 'cyclegan' || c.generator === 'unet')) {
    throw new Error(
      `--networks official builds the official CycleGAN's ResNet generators and PatchGANs; it does not apply to ${c.method === 'cyclegan' ? 'the U-Net' : c.method}`,
    );
  }
  for (const key of ['ngf', 'ndf', 'nLayersD', 'batchSize', 'loadSize', 'cropSize', 'saveEvery', 'keep', 'evalSize'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) fail(key, c[key]);
  }
  for (const key of ['epochs', 'epochsDecay', 'poolSize', 'seed', 'saveLatestEvery', 'evalEvery'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 0) fail(key, c[key]);
  }
  for (const key of ['lambdaCycle', 'lambdaIdentity', 'lr', 'adamEpsilon', 'lambdaFeature'] as const) {
    if (!Number.isFinite(c[key]) || c[key] < 0) fail(key, c[key]);
  }
  for (const key of ['beta1', 'beta2'] as const) if (!(c[key] >= 0 && c[key] < 1)) fail(key, c[key]);
  for (const key of ['valSplit', 'initFrom', 'evalClassA', 'evalClassB'] as const) {
    if (c[key] !== null && (typeof c[key] !== 'string' || c[key] === '')) fail(key, c[key]);
  }
  // The name only: whether such a backbone exists is known when it is loaded (a checkpoint whose
  // backbone is missing must still open for translation and export, which do not need it).
  if (!isFeatureBackboneName(c.featureDisc)) fail('featureDisc', c.featureDisc);
  if (typeof c.featureAugment !== 'boolean') fail('featureAugment', c.featureAugment);
  if (c.loadSize < c.cropSize) {
    throw new Error(`--load-size (${c.loadSize}) must be at least --crop-size (${c.cropSize})`);
  }
  if (c.generator === 'unet' && (c.cropSize & (c.cropSize - 1)) !== 0) {
    throw new Error(`the U-Net needs a power-of-two --crop-size, got ${c.cropSize}`);
  }
  if (c.generator !== 'unet' && c.cropSize % 4 !== 0) {
    throw new Error(`the ResNet generator needs a --crop-size divisible by 4, got ${c.cropSize}`);
  }
  if (patchDiscriminatorOutputSize(c.cropSize, c.nLayersD) < 1) {
    const least = 2 ** (c.nLayersD + 1) + 1;
    throw new Error(
      `--crop-size ${c.cropSize} is too small for a PatchGAN of ${c.nLayersD} stride-2 layers (--n-layers-d): it leaves no patch to judge; it needs at least ${least} px`,
    );
  }
  if (c.epochs + c.epochsDecay < 1) throw new Error('--epochs plus --epochs-decay must be at least 1');
}

/** Learning rate for a (0-based) epoch: constant for `epochs`, then linear to zero over `epochsDecay`. */
export function learningRateAt(c: TrainConfig, epoch: number): number {
  if (epoch < c.epochs || c.epochsDecay === 0) return c.lr;
  const into = epoch - c.epochs + 1;
  return c.lr * Math.max(0, 1 - into / (c.epochsDecay + 1));
}

/** Lists the requested options that differ from a checkpoint's and may not change on resume. */
export function incompatibleOptions(saved: TrainConfig, requested: Partial<TrainConfig>): string[] {
  return (Object.keys(requested) as (keyof TrainConfig)[])
    .filter((key) => requested[key] !== undefined && !RESUME_OVERRIDABLE.includes(key) && requested[key] !== saved[key])
    .map((key) => `${key}: checkpoint has ${JSON.stringify(saved[key])}, requested ${JSON.stringify(requested[key])}`);
}
