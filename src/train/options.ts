/**
 * The training options a user can set, each described once: its flag, the kind of value it takes
 * and the range or choices allowed, the config key it sets, and its help text. The CLI builds
 * `cyclegan train`'s options from this table (src/cli/main.ts) and turns what it parsed into a
 * `Partial<TrainConfig>` with `trainConfigFromValues`; nothing else lists the options.
 *
 * Defaults are not here: they are the presets' (PRESETS in config.ts, CUT_PRESETS and
 * CUT_TRAIN_DEFAULTS in cut-config.ts), which `resolveConfig` layers under what the user gave. An
 * option the user did not give maps to `undefined`, so the preset decides; help texts that quote a
 * default read it from those presets.
 *
 * To add a training option: add its key to TrainConfig and its default to the presets (config.ts),
 * then one entry here. Nothing in the CLI changes.
 *
 * No commander here: this is library code, usable without the CLI.
 */
import { resolve } from 'node:path';
import { BUILTIN_SPLITS } from '../data/splits.ts';
import { BUILTIN_FEATURE_BACKBONES, NO_FEATURE_DISC } from '../models/backbones/registry.ts';
import { CUT_PRESETS } from './cut-config.ts';
import {
  EPOCH_LENGTHS,
  GAN_LOSSES,
  GENERATOR_ARCHS,
  NETWORK_STYLES,
  PRESETS,
  PRESET_NAMES,
  RESIZE_METHODS,
  TRAIN_METHODS,
  type TrainConfig,
} from './config.ts';

/** A value of the wrong kind or out of range; the message is what the CLI prints. */
export class OptionValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionValueError';
  }
}

/** What every option has. `flag` is the long flag as typed (for a toggle, its positive form). */
interface Described {
  readonly flag: `--${string}`;
  readonly description: string;
  /** CUT's options: a new CycleGAN run refuses them (they would be ignored). */
  readonly cutOnly?: boolean;
  /** The feature discriminator's options: a new run without --feature-disc refuses them. */
  readonly featureOnly?: boolean;
}

/** The kinds of value, with their checks. */
export type OptionKind =
  /** An integer >= min; `--flag <placeholder>`. */
  | { readonly kind: 'int'; readonly placeholder: string; readonly min: number }
  /** A finite number >= min. */
  | { readonly kind: 'float'; readonly placeholder: string; readonly min: number }
  /** One of `choices`. */
  | { readonly kind: 'choice'; readonly placeholder: string; readonly choices: readonly string[] }
  /** Any string, taken as is. */
  | { readonly kind: 'string'; readonly placeholder: string }
  /** A path, made absolute against the current folder (a run records where it came from). */
  | { readonly kind: 'path'; readonly placeholder: string }
  /** A built-in validation split's name, or else a path to a split file (made absolute). */
  | { readonly kind: 'split'; readonly placeholder: string }
  /** `--flag` and `--no-flag`; neither given: undefined (the preset decides). */
  | { readonly kind: 'toggle'; readonly negatedDescription: string }
  /** `--no-x` only (the flag given is the negated one): false when given, else undefined. */
  | { readonly kind: 'negation' };

/**
 * One option. `toConfig` takes what a command-line parser produced (a parsed value, the raw text,
 * a boolean for toggles, or undefined when the option was not given) and returns the config
 * value, or undefined to leave the preset's; it throws OptionValueError on a bad value.
 */
export type TrainOptionSpec<T> = Described & OptionKind & { readonly toConfig: (value: unknown) => T | undefined };

export function integerMessage(flag: string, min: number, text: string): string {
  return `${flag} must be an integer >= ${min}, got '${text}'`;
}

export function numberMessage(flag: string, min: number, text: string): string {
  return `${flag} must be a number >= ${min}, got '${text}'`;
}

/** Text → integer >= min, or OptionValueError with the CLI's message. */
export function parseIntegerText(flag: string, min = 0): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new OptionValueError(integerMessage(flag, min, text));
    return n;
  };
}

/** Text → finite number >= min, or OptionValueError with the CLI's message. */
export function parseNumberText(flag: string, min = 0): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < min) throw new OptionValueError(numberMessage(flag, min, text));
    return n;
  };
}

const wrongKind = (flag: string, what: string, value: unknown) =>
  new OptionValueError(`${flag} takes ${what}, got ${JSON.stringify(value)}`);

function numeric(
  flag: `--${string}`,
  placeholder: string,
  min: number,
  description: string,
  integer: boolean,
): Described & { readonly placeholder: string; readonly min: number; readonly toConfig: (value: unknown) => number | undefined } {
  const parse = integer ? parseIntegerText(flag, min) : parseNumberText(flag, min);
  return {
    flag,
    placeholder,
    min,
    description,
    toConfig: (value) => {
      if (value === undefined) return undefined;
      if (typeof value === 'string') return parse(value);
      if (typeof value === 'number') return parse(String(value));
      throw wrongKind(flag, integer ? 'an integer' : 'a number', value);
    },
  };
}

function int(flag: `--${string}`, placeholder: string, min: number, description: string): TrainOptionSpec<number> {
  return { kind: 'int', ...numeric(flag, placeholder, min, description, true) };
}

function float(flag: `--${string}`, placeholder: string, min: number, description: string): TrainOptionSpec<number> {
  return { kind: 'float', ...numeric(flag, placeholder, min, description, false) };
}

function choice<C extends string>(
  flag: `--${string}`,
  placeholder: string,
  choices: readonly C[],
  description: string,
): TrainOptionSpec<C> {
  return {
    kind: 'choice',
    flag,
    placeholder,
    choices,
    description,
    toConfig: (value) => {
      if (value === undefined) return undefined;
      const found = choices.find((c) => c === value);
      if (found === undefined) throw new OptionValueError(`${flag}: ${JSON.stringify(value)} is not one of ${choices.join(', ')}`);
      return found;
    },
  };
}

function text(kind: 'string' | 'path' | 'split', flag: `--${string}`, placeholder: string, description: string): TrainOptionSpec<string> {
  return {
    kind,
    flag,
    placeholder,
    description,
    toConfig: (value) => {
      if (value === undefined) return undefined;
      if (typeof value !== 'string') throw wrongKind(flag, 'a string', value);
      if (kind === 'path' || (kind === 'split' && !BUILTIN_SPLITS.includes(value))) return resolve(value);
      return value;
    },
  };
}

function toggle(flag: `--${string}`, description: string, negatedDescription: string): TrainOptionSpec<boolean> {
  return {
    kind: 'toggle',
    flag,
    description,
    negatedDescription,
    toConfig: (value) => {
      if (value === undefined || typeof value === 'boolean') return value;
      throw wrongKind(flag, 'true or false', value);
    },
  };
}

/** `--no-x`: a parser reports x=true when it is absent (commander does), so only false counts. */
function negation(flag: `--no-${string}`, description: string): TrainOptionSpec<boolean> {
  return {
    kind: 'negation',
    flag,
    description,
    toConfig: (value) => {
      if (value === undefined || value === true) return undefined;
      if (value === false) return false;
      throw wrongKind(flag, 'true or false', value);
    },
  };
}

const cut = <T>(spec: TrainOptionSpec<T>): TrainOptionSpec<T> => ({ ...spec, cutOnly: true });
const feature = <T>(spec: TrainOptionSpec<T>): TrainOptionSpec<T> => ({ ...spec, featureOnly: true });

const { cut: CUT, fastcut: FASTCUT } = CUT_PRESETS;
const onOff = (b: boolean) => (b ? 'on' : 'off');

/**
 * The table, keyed by config key, in the order `cyclegan train --help` lists the options.
 * `satisfies` checks each entry's value type against TrainConfig's for its key.
 */
export const TRAIN_OPTIONS = {
  preset: choice('--preset', '<name>', PRESET_NAMES, 'starting configuration'),
  method: choice(
    '--method',
    '<name>',
    TRAIN_METHODS,
    'what to train: CycleGAN (both directions), CUT or FastCUT (A→B only, contrastive; ResNet generator)',
  ),
  lambdaGan: cut(float('--lambda-gan', '<x>', 0, `CUT: adversarial weight (default ${CUT.lambdaGan})`)),
  lambdaNce: cut(float('--lambda-nce', '<x>', 0, `CUT: PatchNCE weight (default CUT ${CUT.lambdaNce}, FastCUT ${FASTCUT.lambdaNce})`)),
  nceIdentity: cut(
    toggle(
      '--nce-idt',
      `CUT: also PatchNCE on G(B) against B (default ${onOff(CUT.nceIdentity)} for CUT, ${onOff(FASTCUT.nceIdentity)} for FastCUT)`,
      'CUT: no identity PatchNCE',
    ),
  ),
  flipEquivariance: cut(
    toggle(
      '--flip-equivariance',
      `CUT: flip the inputs horizontally on half the steps (default ${onOff(CUT.flipEquivariance)} for CUT, ${onOff(FASTCUT.flipEquivariance)} for FastCUT)`,
      'CUT: no flip-equivariance augmentation',
    ),
  ),
  ncePatches: cut(int('--nce-patches', '<n>', 1, `CUT: patches sampled per layer (default ${CUT.ncePatches})`)),
  nceTemperature: cut(float('--nce-temperature', '<x>', 0, `CUT: PatchNCE softmax temperature (default ${CUT.nceTemperature})`)),
  generator: choice('--generator', '<arch>', GENERATOR_ARCHS, 'generator architecture'),
  networks: choice(
    '--networks',
    '<style>',
    NETWORK_STYLES,
    "layers as the TF tutorial's (affine instance norm, LeakyReLU 0.3) or exactly the official PyTorch CycleGAN's",
  ),
  ngf: int('--ngf', '<n>', 1, 'generator width'),
  ndf: int('--ndf', '<n>', 1, 'discriminator width'),
  nLayersD: int('--n-layers-d', '<n>', 1, 'discriminator stride-2 layers'),
  ganLoss: choice('--gan-loss', '<kind>', GAN_LOSSES, 'adversarial loss'),
  lambdaCycle: float('--lambda-cycle', '<x>', 0, 'cycle-consistency weight'),
  lambdaIdentity: float('--lambda-identity', '<x>', 0, 'identity weight as a fraction of lambda-cycle (0 = off)'),
  poolSize: int('--pool-size', '<n>', 0, 'image pool for the discriminators (0 = off)'),
  batchSize: int('--batch-size', '<n>', 1, 'images per domain in each step (instance norm is per image; default 1, the paper)'),
  lr: float('--lr', '<x>', 0, 'Adam learning rate'),
  beta1: float('--beta1', '<x>', 0, 'Adam beta1'),
  epochs: int('--epochs', '<n>', 0, 'epochs at the initial learning rate'),
  epochsDecay: int('--epochs-decay', '<n>', 0, 'epochs of linear decay to zero after --epochs'),
  loadSize: int('--load-size', '<px>', 8, 'resize before cropping'),
  cropSize: int('--crop-size', '<px>', 8, 'training crop size'),
  resize: choice('--resize', '<filter>', RESIZE_METHODS, 'resize filter'),
  epochLength: choice('--epoch-length', '<rule>', EPOCH_LENGTHS, 'steps per epoch: shorter (min) or longer (max) domain'),
  flip: negation('--no-flip', 'no random horizontal flips'),
  saveEvery: int('--save-every', '<n>', 1, 'checkpoint every N epochs'),
  saveLatestEvery: int(
    '--save-latest-every',
    '<n>',
    0,
    `also checkpoint every N steps, replacing the previous step checkpoint (0 = off; default ${PRESETS.paper.saveLatestEvery})`,
  ),
  keep: int('--keep', '<n>', 1, 'keep the last N epoch checkpoints'),
  valSplit: text(
    'split',
    '--val-split',
    '<name-or-file>',
    `hold these images out of trainA/trainB for validation (built-in: ${BUILTIN_SPLITS.join(', ')}); default valA/ and valB/ when present`,
  ),
  evalEvery: int(
    '--eval-every',
    '<n>',
    0,
    'evaluate on the validation images every N steps (KID; writes log.jsonl and keeps a best checkpoint; 0 = off)',
  ),
  evalSize: int('--eval-size', '<px>', 8, `translate the validation images at this size (default ${PRESETS.paper.evalSize})`),
  evalClassA: text('string', '--eval-class-a', '<label>', 'ImageNet class of domain A for the validation class rate, e.g. sorrel'),
  evalClassB: text('string', '--eval-class-b', '<label>', 'ImageNet class of domain B for the validation class rate, e.g. zebra'),
  featureDisc: choice(
    '--feature-disc',
    '<backbone>',
    [NO_FEATURE_DISC, ...BUILTIN_FEATURE_BACKBONES],
    "a second discriminator per domain beside the PatchGAN: small heads on a frozen pretrained network's feature maps (mobilenetv2: the MobileNetV2 inside npm nsfwjs; default none)",
  ),
  lambdaFeature: feature(
    float(
      '--lambda-feature',
      '<x>',
      0,
      `weight of the feature discriminator in the generators' loss (default ${PRESETS.paper.lambdaFeature})`,
    ),
  ),
  featureAugment: feature(
    toggle(
      '--feature-augment',
      `DiffAugment (colour, translation, cutout) of the real and fake images the feature discriminator sees (default ${onOff(PRESETS.paper.featureAugment)})`,
      'no DiffAugment for the feature discriminator',
    ),
  ),
  initFrom: text(
    'path',
    '--init-from',
    '<model>',
    'start a new run from the generators of this checkpoint, run or export (fresh discriminators and optimizer)',
  ),
  seed: int('--seed', '<n>', 0, 'random seed (runs are reproducible on cpu and wasm)'),
} satisfies { readonly [K in keyof TrainConfig]?: TrainOptionSpec<TrainConfig[K]> };

export type TrainOptionKey = keyof typeof TRAIN_OPTIONS;
/** Any entry of the table. */
export type TrainOption = (typeof TRAIN_OPTIONS)[TrainOptionKey];

function isTrainOptionKey(key: string): key is TrainOptionKey {
  return Object.hasOwn(TRAIN_OPTIONS, key);
}

/** The table's keys, in its order. */
export const TRAIN_OPTION_KEYS: readonly TrainOptionKey[] = Object.keys(TRAIN_OPTIONS).filter(isTrainOptionKey);

/** Config keys no flag sets: Adam's beta2 and epsilon are the presets' (and CUT's) alone. */
export const NOT_OPTIONS: readonly (keyof TrainConfig)[] = ['beta2', 'adamEpsilon'];

/** The options only CUT and FastCUT use, in the table's order. */
export const CUT_ONLY_OPTIONS: readonly TrainOptionKey[] = TRAIN_OPTION_KEYS.filter((key) => TRAIN_OPTIONS[key].cutOnly === true);

/** The options only a run with a feature discriminator uses, in the table's order. */
export const FEATURE_ONLY_OPTIONS: readonly TrainOptionKey[] = TRAIN_OPTION_KEYS.filter((key) => TRAIN_OPTIONS[key].featureOnly === true);

/** The flags of an option: one, or two for a toggle (`--x`, `--no-x`). */
export function optionFlags(spec: TrainOption): string[] {
  return spec.kind === 'toggle' ? [spec.flag, `--no-${spec.flag.slice(2)}`] : [spec.flag];
}

function setOption<K extends keyof TrainConfig>(
  config: Partial<TrainConfig>,
  key: K,
  spec: TrainOptionSpec<TrainConfig[K]>,
  value: unknown,
): void {
  const v = spec.toConfig(value);
  if (v !== undefined) config[key] = v;
}

/**
 * What a command-line parser produced for each option (keyed by config key; undefined or absent:
 * not given) → the overrides for resolveConfig. Throws OptionValueError on a bad value.
 */
export function trainConfigFromValues(values: Partial<Record<TrainOptionKey, unknown>>): Partial<TrainConfig> {
  const config: Partial<TrainConfig> = {};
  for (const key of TRAIN_OPTION_KEYS) setOption(config, key, TRAIN_OPTIONS[key], values[key]);
  return config;
}
