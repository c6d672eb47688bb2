/**
 * `--init-from`: a new run starts from another model's generators (a checkpoint, run or export),
 * with fresh discriminators and optimizers; or from an official PyTorch CycleGAN checkpoint
 * (`<epoch>_net_G_A.pth` or `.safetensors` and its siblings), discriminators included when present.
 */
import type * as tf from '@tensorflow/tfjs';
import { util } from '@tensorflow/tfjs';
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Direction } from '../infer/manifest.ts';
import { locateGenerator, modelDirectionsOf } from '../infer/model-folder.ts';
import { loadLayersModel } from '../models/io.ts';
import { loadOfficialWeights, officialPatchGanKeys, officialResnetKeys, readStateDictFile } from '../models/official.ts';
import { hasBtoA, methodLabel, type TrainModel } from './model.ts';

/**
 * Copies the generators of a checkpoint, run or export into a new run's; A→B only for
 * CUT, which has no other. The architecture must match: the error names the first weight that
 * differs, so a user sees which option to change.
 */
export async function warmStart(gan: TrainModel, source: string): Promise<void> {
  const official = await officialCheckpoint(source);
  if (official) return warmStartOfficial(gan, source, official);
  const networks = gan.networks();
  const targets: [Direction, tf.LayersModel][] = [['AtoB', networks.genAtoB!]];
  if (hasBtoA(gan.config.method)) targets.push(['BtoA', networks.genBtoA!]);
  const has = await modelDirectionsOf(source);
  const lacking = has && targets.find(([d]) => !has.includes(d));
  if (lacking) {
    throw new Error(
      `--init-from ${source}: it has no ${lacking[0] === 'BtoA' ? 'B→A' : 'A→B'} generator, which this ${methodLabel(gan.config.method)} run needs (CUT models and one-direction exports have A→B only)`,
    );
  }
  for (const [direction, target] of targets) {
    const modelJson = await locateGenerator(source, direction);
    const loaded = await loadLayersModel(dirname(modelJson));
    try {
      const from = loaded.getWeights();
      const to = target.getWeights();
      const mismatch = to.findIndex((w, i) => from[i] === undefined || !util.arraysEqual(w.shape, from[i]!.shape));
      if (mismatch >= 0 || from.length !== to.length) {
        const i = mismatch >= 0 ? mismatch : to.length;
        throw new Error(
          `--init-from ${source}: its ${direction} generator does not fit this run's (${gan.config.generator} ngf ${gan.config.ngf}): weight ${i} has shape ${JSON.stringify(from[i]?.shape ?? null)}, this run needs ${JSON.stringify(to[i]?.shape ?? null)}`,
        );
      }
      target.setWeights(from);
    } finally {
      loaded.dispose();
    }
  }
}

/** Our network for each official one (the official D_A judges domain B). */
const OFFICIAL_NETWORKS = { G_A: 'genAtoB', G_B: 'genBtoA', D_A: 'discB', D_B: 'discA' } as const;
const OFFICIAL_FILE = /^(.*)_net_(G_A|G_B|D_A|D_B)\.(safetensors|pth)$/;

/**
 * The files of an official checkpoint that `source` names: one of them, or a folder holding one
 * set (`<epoch>_net_G_A.safetensors`, …); null when it is not one.
 */
async function officialCheckpoint(source: string): Promise<OfficialCheckpoint | null> {
  let folder: string;
  let prefix: string;
  const named = OFFICIAL_FILE.exec(basename(source));
  if (named) {
    folder = dirname(source);
    prefix = named[1]!;
  } else if (existsSync(source) && statSync(source).isDirectory()) {
    const prefixes = new Set((await readdir(source)).flatMap((f) => OFFICIAL_FILE.exec(f)?.[1] ?? []));
    if (prefixes.size === 0) return null;
    if (prefixes.size > 1) {
      throw new Error(
        `--init-from ${source}: it holds several official checkpoints (${[...prefixes].sort().join(', ')}); name one of its files, e.g. ${join(source, `${[...prefixes][0]}_net_G_A.safetensors`)}`,
      );
    }
    folder = source;
    prefix = [...prefixes][0]!;
  } else return null;
  const files = new Map<string, string>();
  for (const net of Object.keys(OFFICIAL_NETWORKS)) {
    const file = ['safetensors', 'pth'].map((ext) => join(folder, `${prefix}_net_${net}.${ext}`)).find((f) => existsSync(f));
    if (file) files.set(net, file);
  }
  return { folder, prefix, files };
}

interface OfficialCheckpoint {
  folder: string;
  /** What comes before `_net_`: the official code's epoch label (latest, 200, iter_5000, …). */
  prefix: string;
  /** The files present, by official network name. */
  files: Map<string, string>;
}

/** Loads an official checkpoint's networks into a run built with `--networks official`. */
async function warmStartOfficial(gan: TrainModel, source: string, { folder, prefix, files }: OfficialCheckpoint): Promise<void> {
  const { config } = gan;
  if (config.networks !== 'official') {
    throw new Error(
      `--init-from ${source}: an official PyTorch CycleGAN checkpoint needs --networks official (this run's networks are '${config.networks}')`,
    );
  }
  for (const needed of ['G_A', 'G_B']) {
    if (!files.has(needed))
      throw new Error(`--init-from ${source}: no ${needed} generator (${join(folder, `${prefix}_net_${needed}.pth`)} or .safetensors)`);
  }
  const networks = gan.networks();
  for (const [net, file] of files) {
    const generator = net.startsWith('G');
    const keys = generator ? officialResnetKeys(config.generator === 'resnet9' ? 9 : 6) : officialPatchGanKeys(config.nLayersD);
    const tensors = await readStateDictFile(file);
    loadOfficialWeights(networks[OFFICIAL_NETWORKS[net as keyof typeof OFFICIAL_NETWORKS]]!, keys, tensors, file);
  }
}
