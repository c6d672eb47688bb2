/**
 * The official PyTorch U-Net generator (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py:
 * `UnetGenerator(3, 3, num_downs, ngf)`, `--netG unet_256` is num_downs 8, `unet_128` is 7) in
 * this project's layers, and its state_dict keys.
 *
 * The official network nests `UnetSkipConnectionBlock`s, level 1 the outermost:
 *   outermost   Conv2d → [level 2] → ReLU → ConvTranspose2d → Tanh
 *   middle      LeakyReLU(0.2) → Conv2d → norm → [next level] → ReLU → ConvTranspose2d → norm (→ Dropout)
 *   innermost   LeakyReLU(0.2) → Conv2d → ReLU → ConvTranspose2d → norm
 * and every block but the outermost returns cat([x, block(x)]) over channels. Built here flat: the
 * down path keeps each level's input for its skip, the up path concatenates it in front. Every
 * conv is 4×4, stride 2, padding 1, with a bias (use_bias is true with instance norm, the
 * CycleGAN default); the norm is instance norm without affine parameters.
 *
 * The official LeakyReLU is in place, so the skip PyTorch concatenates is LeakyReLU(x), not x;
 * the ReLU that every concatenation goes into next makes that the same value (ReLU(LeakyReLU(x)) =
 * ReLU(x)), so the skip here is x. Dropout (pix2pix's use_dropout) drops nothing in eval mode and
 * adds no keys: the inference build has none.
 */
import * as tf from '@tensorflow/tfjs';
import { Crop2D } from './layers/crop.ts';
import { checkPositiveInt, convInit, normLayer, toRng, type SeedSource } from './norm.ts';
import type { LayerKey } from './official.ts';

/** The official --netG U-Nets and their num_downs. */
export const OFFICIAL_UNETS = { unet_256: 8, unet_128: 7 } as const;
/** `unet_<2^num_downs>`: unet_256 and unet_128 are --netG choices; other depths are UnetGenerator's. */
export type OfficialUnet = `unet_${number}`;
/** The official code builds five levels at least (num_downs - 5 repeated middle blocks). */
export const MIN_NUM_DOWNS = 5;
/** The deepest this import builds (unet_65536): a bound on what a file's keys may claim. */
export const MAX_NUM_DOWNS = 16;

/** Whether `numDowns` is a U-Net depth this project builds. */
export function isOfficialUnetDepth(numDowns: unknown): numDowns is number {
  return typeof numDowns === 'number' && Number.isInteger(numDowns) && numDowns >= MIN_NUM_DOWNS && numDowns <= MAX_NUM_DOWNS;
}

/** The official name of a U-Net with `numDowns` levels: unet_<the input size it brings down to 1×1>. */
export function officialUnetName(numDowns: number): OfficialUnet {
  return `unet_${2 ** checkNumDowns(numDowns)}`;
}

/** The num_downs of an official U-Net name (unet_256 → 8), or null for a name that is none. */
export function unetNumDowns(net: string): number | null {
  const size = /^unet_(\d+)$/.exec(net)?.[1];
  const numDowns = size === undefined ? NaN : Math.log2(Number(size));
  return isOfficialUnetDepth(numDowns) ? numDowns : null;
}

function checkNumDowns(numDowns: unknown): number {
  if (!isOfficialUnetDepth(numDowns)) {
    throw new Error(
      `official U-Net num_downs must be an integer from ${MIN_NUM_DOWNS} to ${MAX_NUM_DOWNS}, got ${JSON.stringify(numDowns)}`,
    );
  }
  return numDowns;
}

/** The state_dict prefix of level `level`'s nn.Sequential: model.model, then `.1.model` and `.3.model` per level. */
function levelPrefix(level: number): string {
  return level === 1 ? 'model.model' : `model.model.1.model${'.3.model'.repeat(level - 2)}`;
}

/**
 * The U-Net's convs, derived from the module structure: level 1's Sequential is [downconv,
 * submodule, uprelu, upconv, tanh], a middle level's [downrelu, downconv, downnorm, submodule,
 * uprelu, upconv, upnorm], the innermost's [downrelu, downconv, uprelu, upconv, upnorm].
 */
export function officialUnetKeys(numDowns: number): LayerKey[] {
  checkNumDowns(numDowns);
  const keys: LayerKey[] = [];
  for (let level = 1; level <= numDowns; level++) {
    const p = levelPrefix(level);
    const [down, up] = level === 1 ? [0, 3] : level === numDowns ? [1, 3] : [1, 5];
    keys.push({ layer: `down${level}_conv`, prefix: `${p}.${down}`, normAfter: level > 1 && level < numDowns });
    keys.push({ layer: `up${level}_convT`, prefix: `${p}.${up}`, normAfter: level > 1 });
  }
  return keys;
}

export interface OfficialUnetOptions {
  /** Levels (stride-2 convs down, and as many up): 8 for unet_256, 7 for unet_128; at least 5. */
  numDowns: number;
  /** Filters of the first conv; each level doubles them up to 8·ngf. */
  ngf: number;
  /**
   * Input height = width: a multiple of 2^numDowns (every level halves it). Default 2^numDowns,
   * the size the innermost level brings to 1×1 (256 for unet_256), as the official network trains.
   */
  size?: number;
  /** Image channels in and out. Default 3. */
  channels?: number;
  /** Initializer seed (or an Rng to draw seeds from). Default 0. */
  seed?: SeedSource;
  /** Model name. Default 'official_unet'. */
  name?: string;
}

/**
 * The official U-Net in our layers. PyTorch's Conv2d(k4, s2, padding=1) is a one-pixel zero pad
 * and a 'valid' conv, and its ConvTranspose2d(k4, s2, padding=1) the 'valid' transposed conv
 * (2n + 2) less one row and column on every side, as the ResNet builder's 'torch' padding does.
 */
export function buildOfficialUnet(options: OfficialUnetOptions): tf.LayersModel {
  const { ngf, channels = 3, name = 'official_unet' } = options;
  const numDowns = checkNumDowns(options.numDowns);
  const size = options.size ?? 2 ** numDowns;
  if (!(Number.isInteger(size) && size > 0 && size % 2 ** numDowns === 0)) {
    throw new Error(`official U-Net size must be a positive multiple of 2^${numDowns} = ${2 ** numDowns}, got ${JSON.stringify(size)}`);
  }
  checkPositiveInt('ngf', ngf);
  checkPositiveInt('channels', channels);
  const rng = toRng(options.seed);
  const apply = (layer: tf.layers.Layer, t: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(t) as tf.SymbolicTensor;
  const filters = (level: number) => ngf * Math.min(2 ** (level - 1), 8);

  const input = tf.input({ shape: [size, size, channels], name: 'input_image' });
  // skips[level - 1]: the input of `level`, which its block concatenates in front of its output.
  const skips: tf.SymbolicTensor[] = [];
  let x: tf.SymbolicTensor = input;
  for (let level = 1; level <= numDowns; level++) {
    const p = `down${level}`;
    skips.push(x);
    if (level > 1) x = apply(tf.layers.leakyReLU({ alpha: 0.2, name: `${p}_lrelu` }), x);
    x = apply(tf.layers.zeroPadding2d({ padding: 1, name: `${p}_pad` }), x);
    x = apply(
      tf.layers.conv2d({
        filters: filters(level),
        kernelSize: 4,
        strides: 2,
        padding: 'valid',
        kernelInitializer: convInit(rng),
        name: `${p}_conv`,
      }),
      x,
    );
    if (level > 1 && level < numDowns) x = apply(normLayer('instance-no-affine', rng, `${p}_norm`), x);
  }
  for (let level = numDowns; level >= 1; level--) {
    const p = `up${level}`;
    x = apply(tf.layers.reLU({ name: `${p}_relu` }), x);
    x = apply(
      tf.layers.conv2dTranspose({
        filters: level === 1 ? channels : filters(level - 1),
        kernelSize: 4,
        strides: 2,
        padding: 'valid',
        kernelInitializer: convInit(rng),
        name: `${p}_convT`,
      }),
      x,
    );
    const crop = new Crop2D({
      cropping: [
        [1, 1],
        [1, 1],
      ],
      name: `${p}_crop`,
    });
    x = apply(crop, x);
    if (level === 1) x = apply(tf.layers.activation({ activation: 'tanh', name: `${p}_tanh` }), x);
    else {
      x = apply(normLayer('instance-no-affine', rng, `${p}_norm`), x);
      x = apply(tf.layers.concatenate({ name: `${p}_concat` }), [skips[level - 1]!, x]);
    }
  }
  return tf.model({ inputs: input, outputs: x, name });
}
