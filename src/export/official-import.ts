/**
 * `cyclegan import`: generators of the official PyTorch CycleGAN (a state_dict as `torch.save`
 * wrote it, or as safetensors) into an export folder that every command and the web page load. The architecture
 * is read off the keys and shapes unless given: the ResNet generators have `model.1.weight`, the
 * 7×7 stem, and one `model.N.conv_block` per residual block; the U-Nets nest one `.model` per
 * level under `model.model`. Two files (G_A and G_B of one model) make one folder with both
 * directions. Only instance norm (CycleGAN's default) imports; batch norm is refused by name.
 */
import type * as tf from '@tensorflow/tfjs';
import { basename } from 'node:path';
import { EXPORT_FORMAT, type Direction, type ExportManifest } from '../infer/manifest.ts';
import { isIgnoredKey, loadOfficialWeights, readStateDictFile } from '../models/official.ts';
import {
  buildOfficialGenerator,
  officialGeneratorKeys,
  parseOfficialGenerator,
  type OfficialGenerator,
} from '../models/official-generators.ts';
import { isOfficialUnetDepth, MAX_NUM_DOWNS, MIN_NUM_DOWNS, officialUnetName } from '../models/official-unet.ts';
import type { NamedArray } from '../models/safetensors.ts';
import { writeExportFolder } from './tfjs.ts';

/** The official training crop (crop_size 256): what the manifest's `size` says when nothing else does. */
const OFFICIAL_CROP_SIZE = 256;

export interface ImportOptions {
  /** One generator's state_dict, or two (G_A and G_B of one model). */
  files: string[];
  /** The official --netG (resnet_9blocks, resnet_6blocks, unet_256, unet_128); inferred from the keys when absent. */
  net?: OfficialGenerator;
  /** The official --ngf; inferred from the shapes when absent. */
  ngf?: number;
  /** The direction of a single file (default A→B; G_B in its name: B→A). */
  direction?: Direction;
  out: string;
  /** What was inferred, one line per file. */
  onInferred?: (line: string) => void;
}

export interface ImportedGenerator {
  direction: Direction;
  net: OfficialGenerator;
  ngf: number;
  file: string;
}

/**
 * Refuses the norms that do not import: batch norm (the official --norm batch, pix2pix's default)
 * has a scale and offset per norm layer, 1-D `.weight`s no conv has, and its convs no bias;
 * --norm none has neither. `firstConv` is the key prefix of the network's first conv.
 */
function refuseOtherNorms(tensors: Map<string, NamedArray>, file: string, firstConv: string): void {
  const scale = [...tensors].find(([k, t]) => k.endsWith('.weight') && t.shape.length === 1)?.[0];
  if (scale !== undefined) {
    throw new Error(
      `${file}: a generator with batch norm (${scale} is a norm layer's scale: the official --norm batch); batch norm is not supported, only --norm instance (CycleGAN's default, instance norm without affine parameters) imports`,
    );
  }
  if (tensors.has(`${firstConv}.weight`) && !tensors.has(`${firstConv}.bias`)) {
    throw new Error(
      `${file}: ${firstConv} has no bias, as with the official --norm none or batch; only --norm instance (CycleGAN's default, whose convs all have a bias) imports`,
    );
  }
}

/** The official generator a state_dict is, from its keys and shapes. */
export function inferOfficialGenerator(tensors: Map<string, NamedArray>, file: string): { net: OfficialGenerator; ngf: number } {
  const keys = [...tensors.keys()].filter((k) => !isIgnoredKey(k));
  if (keys.some((k) => k.startsWith('model.model.'))) return inferOfficialUnet(tensors, keys, file);
  const stem = tensors.get('model.1.weight');
  if (!stem || stem.shape.length !== 4 || stem.shape[2] !== 7) {
    throw new Error(
      `${file}: not an official generator's state_dict (neither a ResNet's 7×7 stem conv model.1.weight nor a U-Net's model.model.0.weight; keys start ${keys.slice(0, 3).join(', ') || 'nowhere: it is empty'})`,
    );
  }
  refuseOtherNorms(tensors, file, 'model.1');
  const blocks = new Set(keys.flatMap((k) => /^model\.(\d+)\.conv_block\./.exec(k)?.[1] ?? [])).size;
  const net = `resnet_${blocks}blocks`;
  if (net !== 'resnet_9blocks' && net !== 'resnet_6blocks')
    throw new Error(`${file}: a ResNet generator with ${blocks} residual blocks; 6 or 9 import`);
  return { net, ngf: stem.shape[0]! };
}

/**
 * A U-Net's depth is its deepest key's level: level L's Sequential is `model.model`, then
 * `.1.model` and `.3.model` per level below, so a key at level L names `model` L + 1 times.
 */
function inferOfficialUnet(tensors: Map<string, NamedArray>, keys: string[], file: string): { net: OfficialGenerator; ngf: number } {
  const first = tensors.get('model.model.0.weight');
  if (!first || first.shape.length !== 4 || first.shape[2] !== 4 || first.shape[3] !== 4) {
    throw new Error(
      `${file}: not an official U-Net generator's state_dict (no 4×4 outermost conv model.model.0.weight; keys start ${keys.slice(0, 3).join(', ')})`,
    );
  }
  refuseOtherNorms(tensors, file, 'model.model.0');
  const numDowns = Math.max(...keys.map((k) => k.split('.').filter((s) => s === 'model').length - 1));
  if (!isOfficialUnetDepth(numDowns))
    throw new Error(
      `${file}: a U-Net generator with ${numDowns} levels; the official ones have ${MIN_NUM_DOWNS} to ${MAX_NUM_DOWNS} (unet_256: 8)`,
    );
  return { net: officialUnetName(numDowns), ngf: first.shape[0]! };
}

/** Which direction a file is when two are given: G_A is A→B, G_B is B→A, as the official code names them. */
function directionFromName(file: string): Direction | null {
  const name = basename(file);
  if (/G_A\b|G_A[._]/.test(name)) return 'AtoB';
  if (/G_B\b|G_B[._]/.test(name)) return 'BtoA';
  return null;
}

/** Imports official generators into an export folder; returns what each file was taken for. */
export async function importOfficial(options: ImportOptions): Promise<ImportedGenerator[]> {
  const { files } = options;
  if (files.length < 1 || files.length > 2) throw new Error(`import takes one or two generator files (G_A, G_B), got ${files.length}`);
  const directions =
    files.length === 1
      ? [options.direction ?? directionFromName(files[0]!) ?? 'AtoB']
      : files.map((f) => directionFromName(f) ?? fail(`${f}: two files need G_A and G_B in their names, to tell the directions apart`));
  if (files.length === 2 && directions[0] === directions[1])
    throw new Error(`${files[0]} and ${files[1]} are both ${directions[0]} (G_A or G_B in both names)`);
  const models = new Map<Direction, tf.LayersModel>();
  const imported: ImportedGenerator[] = [];
  try {
    for (const [i, file] of files.entries()) {
      const tensors = await readStateDictFile(file);
      const inferred = inferOfficialGenerator(tensors, file);
      const net = options.net ?? inferred.net;
      const ngf = options.ngf ?? inferred.ngf;
      const direction = directions[i]!;
      const model = buildOfficialGenerator(net, { ngf, name: direction === 'AtoB' ? 'G_AtoB' : 'G_BtoA' });
      models.set(direction, model);
      loadOfficialWeights(model, officialGeneratorKeys(net), tensors, file);
      imported.push({ direction, net, ngf, file });
      const arch = parseOfficialGenerator(net);
      const depth = arch.kind === 'unet' ? ` (num_downs ${arch.numDowns}, ${2 ** arch.numDowns}×${2 ** arch.numDowns} input)` : '';
      options.onInferred?.(`${file}: ${net}${depth}, ngf ${ngf}, instance norm without affine → ${direction === 'AtoB' ? 'A→B' : 'B→A'}`);
    }
    const first = imported[0]!;
    const arch = parseOfficialGenerator(first.net);
    const manifest: ExportManifest & Record<string, unknown> = {
      format: EXPORT_FORMAT,
      version: 1,
      method: 'cyclegan',
      // A U-Net takes only its one input size (the translator tiles to it); a ResNet any.
      generator: arch.kind === 'unet' ? first.net : first.net === 'resnet_9blocks' ? 'resnet9' : 'resnet6',
      size: arch.kind === 'unet' ? 2 ** arch.numDowns : OFFICIAL_CROP_SIZE,
      domains: { A: 'A', B: 'B' },
      directions: {},
      source: { official: imported.map(({ file, net, ngf, direction }) => ({ file, net, ngf, direction })) },
    };
    await writeExportFolder(options.out, models, manifest);
  } finally {
    for (const model of models.values()) model.dispose();
  }
  return imported;
}

function fail(message: string): never {
  throw new Error(message);
}
