/**
 * The official PyTorch CycleGAN networks (junyanz/pytorch-CycleGAN-and-pix2pix, models/networks.py)
 * in this project's layers, weight by weight: which of our layers each state_dict key belongs to,
 * and the layout change (PyTorch's OIHW conv and IOHW transposed-conv weights are HWIO and HWOI
 * here: both are the (2, 3, 1, 0) transpose).
 *
 * The official networks use instance norm without affine parameters, a bias in every conv,
 * LeakyReLU 0.2 in the PatchGAN and PyTorch's symmetric padding in the stride-2 layers; the
 * builders here configure ours that way, so a network built here computes what the official one
 * computes.
 */
import * as tf from '@tensorflow/tfjs';
import { buildPatchDiscriminator } from './discriminator.ts';
import { buildResnetGenerator } from './generators.ts';
import type { SeedSource } from './norm.ts';
import { readFile } from 'node:fs/promises';
import { parseSafetensors, type NamedArray } from './safetensors.ts';
import { parseTorchCheckpoint } from './torch-checkpoint.ts';

export const OFFICIAL_RESNETS = { resnet_9blocks: 9, resnet_6blocks: 6 } as const;
export type OfficialResnet = keyof typeof OFFICIAL_RESNETS;

/** One of our layers and the state_dict prefix of its official counterpart. */
export interface LayerKey {
  layer: string;
  prefix: string;
  /** Whether instance norm follows the conv, cancelling its bias (whose true gradient is then zero). */
  normAfter: boolean;
}

/** The ResNet generator's convs: model.1 stem, model.4/7 downsamplings, blocks, model.{10+n}/{13+n} ups, model.{17+n} head. */
export function officialResnetKeys(nBlocks: number): LayerKey[] {
  const keys: LayerKey[] = [
    { layer: 'stem_conv', prefix: 'model.1', normAfter: true },
    { layer: 'down1_conv', prefix: 'model.4', normAfter: true },
    { layer: 'down2_conv', prefix: 'model.7', normAfter: true },
  ];
  for (let b = 1; b <= nBlocks; b++) {
    keys.push({ layer: `res${b}_conv1`, prefix: `model.${9 + b}.conv_block.1`, normAfter: true });
    keys.push({ layer: `res${b}_conv2`, prefix: `model.${9 + b}.conv_block.5`, normAfter: true });
  }
  keys.push({ layer: 'up1_convT', prefix: `model.${10 + nBlocks}`, normAfter: true });
  keys.push({ layer: 'up2_convT', prefix: `model.${13 + nBlocks}`, normAfter: true });
  keys.push({ layer: 'head_conv', prefix: `model.${17 + nBlocks}`, normAfter: false });
  return keys;
}

/** The PatchGAN's convs: model.0, then every third module (conv, norm, LeakyReLU), the logits last. */
export function officialPatchGanKeys(nLayers: number): LayerKey[] {
  const keys: LayerKey[] = [{ layer: 'down1_conv', prefix: 'model.0', normAfter: false }];
  for (let i = 2; i <= nLayers; i++) keys.push({ layer: `down${i}_conv`, prefix: `model.${2 + 3 * (i - 2)}`, normAfter: true });
  keys.push({ layer: 'conv', prefix: `model.${2 + 3 * (nLayers - 1)}`, normAfter: true });
  keys.push({ layer: 'logits', prefix: `model.${5 + 3 * (nLayers - 1)}`, normAfter: false });
  return keys;
}

/** What makes our ResNet generator the official one: no affine norm, PyTorch's stride padding. */
export const OFFICIAL_RESNET_OPTIONS = { norm: 'instance-no-affine', padding: 'torch' } as const;
/** What makes our PatchGAN the official one: no affine norm, LeakyReLU 0.2, a bias in every conv. */
export const OFFICIAL_PATCHGAN_OPTIONS = { norm: 'instance-no-affine', leakySlope: 0.2, biasEverywhere: true } as const;

/** The official ResNet generator in our layers. */
export function buildOfficialResnet(kind: OfficialResnet, options: { ngf: number; name?: string; seed?: SeedSource }): tf.LayersModel {
  return buildResnetGenerator({ ...options, nBlocks: OFFICIAL_RESNETS[kind], ...OFFICIAL_RESNET_OPTIONS });
}

/** The official PatchGAN (`basic` is nLayers 3) in our layers. */
export function buildOfficialPatchGan(options: { ndf: number; nLayers?: number; name?: string; seed?: SeedSource }): tf.LayersModel {
  return buildPatchDiscriminator({ ...options, ...OFFICIAL_PATCHGAN_OPTIONS });
}

/** (2, 3, 1, 0): OIHW → HWIO for a conv, IOHW → HWOI for a transposed conv. */
export function torchToTfjsKernel(values: Float32Array, shape: number[]): { values: Float32Array; shape: number[] } {
  const [a, b, h, w] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((y * w + x) * b + j) * a + i] = values[((i * b + j) * h + y) * w + x]!;
  return { values: out, shape: [h, w, b, a] };
}

/** The inverse of torchToTfjsKernel: HWIO → OIHW, HWOI → IOHW. */
export function tfjsToTorchKernel(values: Float32Array, shape: number[]): { values: Float32Array; shape: number[] } {
  const [h, w, b, a] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let i = 0; i < a; i++)
    for (let j = 0; j < b; j++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((i * b + j) * h + y) * w + x] = values[((y * w + x) * b + j) * a + i]!;
  return { values: out, shape: [a, b, h, w] };
}

/** Keys the official loader ignores: old InstanceNorm running statistics and BatchNorm's counter. */
export function isIgnoredKey(key: string): boolean {
  return /\.(running_mean|running_var|num_batches_tracked)$/.test(key);
}

/**
 * Sets `model`'s conv weights from an official state_dict (`tensors`, keyed as the official
 * network's; `keyPrefix` is put before every key, e.g. 'init.G_A.'). Every key of the mapping must
 * be there with the shape the model expects; `source` names the file in errors.
 */
export function loadOfficialWeights(
  model: tf.LayersModel,
  keys: LayerKey[],
  tensors: Map<string, NamedArray>,
  source: string,
  keyPrefix = '',
): void {
  const expected = new Set(keys.flatMap(({ prefix }) => [`${keyPrefix}${prefix}.weight`, `${keyPrefix}${prefix}.bias`]));
  const unknown = [...tensors.keys()].filter((key) => key.startsWith(keyPrefix) && !expected.has(key) && !isIgnoredKey(key));
  if (unknown.length > 0) {
    throw new Error(
      `${source}: keys this network does not have (${unknown.slice(0, 3).join(', ')}${unknown.length > 3 ? `, … ${unknown.length} in all` : ''}): another architecture or size?`,
    );
  }
  for (const { layer, prefix } of keys) {
    const target = model.getLayer(layer);
    const weights = target.getWeights();
    const read = (suffix: string, expected: number[], kernel: boolean) => {
      const key = `${keyPrefix}${prefix}.${suffix}`;
      const stored = tensors.get(key);
      if (!stored) throw new Error(`${source}: missing ${key}`);
      // The official layout of what the network expects: OIHW (IOHW) for HWIO (HWOI).
      const torchShape = kernel ? [expected[3]!, expected[2]!, expected[0]!, expected[1]!] : expected;
      if (stored.shape.join() !== torchShape.join()) {
        throw new Error(`${source}: ${key} has shape [${stored.shape}], the network expects [${torchShape}]`);
      }
      const converted = kernel ? torchToTfjsKernel(stored.values, stored.shape) : stored;
      return tf.tensor(converted.values, expected);
    };
    const values = [read('weight', weights[0]!.shape, true)];
    if (weights.length > 1) values.push(read('bias', weights[1]!.shape, false));
    target.setWeights(values);
    tf.dispose(values);
  }
}

/** The model's conv weights as an official state_dict (float32, PyTorch layouts). */
export function officialStateDict(model: tf.LayersModel, keys: LayerKey[]): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const { layer, prefix } of keys) {
    const [kernel, bias] = model.getLayer(layer).getWeights();
    out.set(`${prefix}.weight`, tfjsToTorchKernel(kernel!.dataSync() as Float32Array, kernel!.shape));
    if (bias) out.set(`${prefix}.bias`, { shape: bias.shape, values: bias.dataSync() as Float32Array });
  }
  return out;
}

/**
 * A state_dict file: `torch.save`'s (.pth, .pt; a zip) or safetensors. A network saved while
 * wrapped in DataParallel has every key under `module.`; that prefix is dropped, as loading it
 * into the bare network needs.
 */
export async function readStateDictFile(file: string): Promise<Map<string, NamedArray>> {
  const bytes = await readFile(file);
  const zip = bytes.length >= 2 && bytes[0] === 0x50 && bytes[1] === 0x4b;
  const tensors = zip || /\.(pth|pt|ckpt)$/i.test(file) ? await parseTorchCheckpoint(bytes, file) : parseSafetensors(bytes, file).tensors;
  const keys = [...tensors.keys()];
  if (keys.length === 0 || !keys.every((k) => k.startsWith('module.'))) return tensors;
  return new Map([...tensors].map(([k, v]) => [k.slice('module.'.length), v]));
}
