/**
 * `cyclegan import`: generators of the official PyTorch CycleGAN (a state_dict as `torch.save`
 * wrote it, or as safetensors) into an export folder that every command and the web page load. The architecture
 * is read off the keys and shapes (the ResNet generators: `model.1.weight` is the 7×7 stem, one
 * `model.N.conv_block` per residual block) unless given; two files (G_A and G_B of one model)
 * make one folder with both directions.
 */
import type * as tf from '@tensorflow/tfjs';
import { basename } from 'node:path';
import { EXPORT_FORMAT, type Direction, type ExportManifest } from '../infer/manifest.ts';
import {
  buildOfficialResnet,
  isIgnoredKey,
  loadOfficialWeights,
  officialResnetKeys,
  readStateDictFile,
  type OfficialResnet,
} from '../models/official.ts';
import type { NamedArray } from '../models/safetensors.ts';
import { writeExportFolder } from './tfjs.ts';

/** The official training crop (crop_size 256): what the manifest's `size` says when nothing else does. */
const OFFICIAL_CROP_SIZE = 256;

export interface ImportOptions {
  /** One generator's state_dict, or two (G_A and G_B of one model). */
  files: string[];
  /** The official --netG; inferred from the keys when absent. */
  net?: OfficialResnet;
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
  net: OfficialResnet;
  ngf: number;
  file: string;
}

/** The official generator a state_dict is, from its keys and shapes. */
export function inferOfficialGenerator(tensors: Map<string, NamedArray>, file: string): { net: OfficialResnet; ngf: number } {
  const keys = [...tensors.keys()].filter((k) => !isIgnoredKey(k));
  if (keys.some((k) => k.startsWith('model.model.'))) {
    throw new Error(
      `${file}: an official U-Net generator (unet_256/unet_128); only the ResNet generators (resnet_9blocks, resnet_6blocks) import`,
    );
  }
  const stem = tensors.get('model.1.weight');
  if (!stem || stem.shape.length !== 4 || stem.shape[2] !== 7) {
    throw new Error(
      `${file}: not an official ResNet generator's state_dict (no 7×7 stem conv model.1.weight; keys start ${keys.slice(0, 3).join(', ') || 'nowhere: it is empty'})`,
    );
  }
  const blocks = new Set(keys.flatMap((k) => /^model\.(\d+)\.conv_block\./.exec(k)?.[1] ?? [])).size;
  const net = `resnet_${blocks}blocks`;
  if (net !== 'resnet_9blocks' && net !== 'resnet_6blocks')
    throw new Error(`${file}: a ResNet generator with ${blocks} residual blocks; 6 or 9 import`);
  return { net, ngf: stem.shape[0]! };
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
      const model = buildOfficialResnet(net, { ngf, name: direction === 'AtoB' ? 'G_AtoB' : 'G_BtoA' });
      models.set(direction, model);
      loadOfficialWeights(model, officialResnetKeys(net === 'resnet_9blocks' ? 9 : 6), tensors, file);
      imported.push({ direction, net, ngf, file });
      options.onInferred?.(`${file}: ${net}, ngf ${ngf}, instance norm without affine → ${direction === 'AtoB' ? 'A→B' : 'B→A'}`);
    }
    const first = imported[0]!;
    const manifest: ExportManifest & Record<string, unknown> = {
      format: EXPORT_FORMAT,
      version: 1,
      method: 'cyclegan',
      generator: first.net === 'resnet_9blocks' ? 'resnet9' : 'resnet6',
      size: OFFICIAL_CROP_SIZE,
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
