/**
 * Checkpoints that know themselves: a folder with the model's networks (tfjs layers format), one
 * binary file with every optimizer moment and the image pools, and `cyclegan.json` describing the
 * full configuration and the exact position of the run (epoch, step, RNG, data order, running
 * loss sums). `train --resume` continues bit for bit; every other command loads a generator from
 * it without being told the architecture.
 *
 *   RUN_DIR/checkpoints/epoch-0005/{cyclegan.json, state.bin, G_AtoB/, G_BtoA/, D_A/, D_B/}      CycleGAN
 *   RUN_DIR/checkpoints/epoch-0005/{cyclegan.json, state.bin, G_AtoB/, D_B/, F_stem_pad/, ...}    CUT
 *   … FD_A/, FD_B/ (CUT: FD_B/) with --feature-disc: the feature discriminator's heads. Its frozen
 *   backbone is never stored; `featureBackbone` in cyclegan.json names it (and its version), and a
 *   resume loads that very backbone or stops (train/feature-critic.ts).
 *   RUN_DIR/checkpoints/latest      (text: the name of the newest checkpoint folder)
 *
 * Which networks there are is whatever the model's networks() returns, recorded in `networks`
 * (key → folder); `generators` always lists the generator folders, which is all that the
 * translator, the exports, eval and the web page read. Finding a checkpoint from a run folder or
 * RUN:best and reading its cyclegan.json for that is src/infer/model-folder.ts's; this file writes
 * checkpoints and loads all of one (networks, optimizer state, pools) to resume or warm-start.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import type { PipelineState } from '../data/pipeline.ts';
import type { BackboneIdentity } from '../models/backbones/backbone.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, MANIFEST_FILE } from '../infer/manifest.ts';
import {
  isCheckpointName,
  LATEST_POINTER,
  readCheckpointMeta,
  resolveCheckpointDir,
  type CheckpointHeader,
} from '../infer/model-folder.ts';
import { loadLayersModel, saveLayersModel } from '../models/io.ts';
import { writeDirAtomic, writeFileAtomic, writeFileSynced } from '../util/atomic.ts';
import type { RngState } from '../util/rng.ts';
import type { AdamState } from './adam.ts';
import type { TrainConfig } from './config.ts';
import type { Losses, TrainModel } from './model.ts';

/** The folders of the networks both methods share; any other network is stored under its key. */
const NETWORK_DIRS: Record<string, string> = {
  genAtoB: 'G_AtoB',
  genBtoA: 'G_BtoA',
  discA: 'D_A',
  discB: 'D_B',
};
/** The feature discriminator's heads (`--feature-disc`). */
const FEATURE_DIRS: Record<string, string> = { featDiscA: 'FD_A', featDiscB: 'FD_B' };
/** What a checkpoint written before `networks` was recorded holds: CycleGAN's four networks. */
const LEGACY_NETWORKS: Record<string, string> = { ...NETWORK_DIRS };
/** A network folder: one plain name inside the checkpoint. */
const SAFE_DIR = /^[A-Za-z0-9_-]+$/;

/** Where a run stands; everything needed to continue it exactly. */
export interface RunPosition {
  /** Epoch in progress (0-based); equals the number of finished epochs at an epoch boundary. */
  epoch: number;
  /** Steps already done in `epoch`. */
  stepInEpoch: number;
  globalStep: number;
  rng: RngState;
  pipeline: PipelineState;
  /** Loss sums over the steps of `epoch` done so far (for the epoch's log line). */
  running: { sums: Losses; count: number };
  /** The data folder the run trains on. */
  data: string;
  /**
   * Compute spent on the run so far, over all its sessions: process CPU seconds (every thread)
   * and wall seconds of training. Absent in checkpoints written before it was recorded.
   */
  compute?: { cpuSeconds: number; wallSeconds: number };
  /** The best validation score so far (mean KID×1000 over the evaluated directions) and its step. */
  best?: { score: number; globalStep: number } | null;
}

interface BlobEntry {
  name: string;
  length: number;
  shape?: number[] | null;
}

/** A checkpoint's cyclegan.json (what model-folder.ts reads of it, and what only training needs). */
export interface CheckpointMeta extends CheckpointHeader {
  config: TrainConfig;
  position: RunPosition;
  /** Network key (as the model's networks() names it) → its folder; absent in older checkpoints (CycleGAN's four). */
  networks?: Record<string, string>;
  discriminators: { A?: string; B?: string };
  /** The frozen backbone the feature discriminator's heads were trained on (absent: no feature discriminator). */
  featureBackbone?: BackboneIdentity;
  /** Optimizer key (as the model's optimizerRecord() names it) → its step count. */
  optimizers: Record<string, { step: number }>;
  /** The Float32 arrays of state.bin, in order. */
  blobs: BlobEntry[];
}

export interface LoadedCheckpoint {
  dir: string;
  meta: CheckpointMeta;
  /** Networks by key, as the model's networks() names them. */
  models: Record<string, tf.LayersModel>;
  optimizerStates: Record<string, AdamState>;
  pools: { A: { images: Float32Array[]; shape: number[] | null }; B: { images: Float32Array[]; shape: number[] | null } };
}

export function checkpointName(position: RunPosition, stepsPerEpoch: number): string {
  return position.stepInEpoch === 0 || position.stepInEpoch === stepsPerEpoch
    ? `epoch-${String(position.epoch).padStart(4, '0')}`
    : `step-${String(position.globalStep).padStart(8, '0')}`;
}

/**
 * Writes a checkpoint folder atomically and points `latest` at it (unless `latest` is false, as
 * for the `best` checkpoint, which is never what a resume continues from). Returns its path.
 */
export async function saveCheckpoint(
  runDir: string,
  name: string,
  model: TrainModel,
  position: RunPosition,
  options: { latest?: boolean } = {},
): Promise<string> {
  const dir = join(runDir, 'checkpoints', name);
  const blobs: BlobEntry[] = [];
  const arrays: Float32Array[] = [];
  const optimizers: CheckpointMeta['optimizers'] = {};
  for (const [key, optimizer] of Object.entries(model.optimizerRecord())) {
    const state = await optimizer.getState();
    optimizers[key] = { step: state.step };
    state.moments.forEach((m, i) => {
      blobs.push({ name: `${key}/moment${i}`, length: m.length });
      arrays.push(m);
    });
  }
  for (const [label, pool] of [
    ['A', model.poolA],
    ['B', model.poolB],
  ] as const) {
    if (!pool) continue;
    const state = pool.getState();
    state.images.forEach((img, i) => {
      blobs.push({ name: `pool${label}/${i}`, length: img.length, shape: state.shape });
      arrays.push(img);
    });
  }
  const networks = model.networks();
  const dirs = Object.fromEntries(Object.keys(networks).map((key) => [key, NETWORK_DIRS[key] ?? FEATURE_DIRS[key] ?? key]));
  const bad = Object.values(dirs).find((d) => !SAFE_DIR.test(d));
  if (bad !== undefined) throw new Error(`network folder name ${JSON.stringify(bad)} is not a plain name`);
  const file = (key: string) => `${dirs[key]}/model.json`;
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    createdAt: new Date().toISOString(),
    config: model.config,
    position,
    networks: dirs,
    generators: { AtoB: file('genAtoB'), ...(networks.genBtoA ? { BtoA: file('genBtoA') } : {}) },
    discriminators: { ...(networks.discA ? { A: file('discA') } : {}), ...(networks.discB ? { B: file('discB') } : {}) },
    ...(model.backboneIdentity ? { featureBackbone: model.backboneIdentity } : {}),
    optimizers,
    blobs,
  };
  await writeDirAtomic(dir, async (tmp) => {
    for (const [key, network] of Object.entries(networks)) await saveLayersModel(network, join(tmp, dirs[key]!));
    const total = arrays.reduce((n, a) => n + a.length, 0);
    const bin = new Float32Array(total);
    let offset = 0;
    for (const a of arrays) {
      bin.set(a, offset);
      offset += a.length;
    }
    await writeFileSynced(join(tmp, 'state.bin'), new Uint8Array(bin.buffer));
    await writeFileSynced(join(tmp, MANIFEST_FILE), JSON.stringify(meta, null, 1));
  });
  if (options.latest !== false) await writeFileAtomic(join(runDir, 'checkpoints', LATEST_POINTER), `${name}\n`);
  return dir;
}

/**
 * Removes the oldest epoch checkpoints beyond `keep`, every step checkpoint but the latest, and
 * what killed writers left behind.
 */
export async function pruneCheckpoints(runDir: string, keep: number): Promise<void> {
  const root = join(runDir, 'checkpoints');
  const latest = (await readFile(join(root, LATEST_POINTER), 'utf8').catch(() => '')).trim();
  const names = (await readdir(root).catch(() => [] as string[])).filter(isCheckpointName).sort();
  const epochs = names.filter((n) => n.startsWith('epoch-'));
  const doomed = new Set(epochs.slice(0, Math.max(0, epochs.length - keep)));
  for (const n of names) if (n.startsWith('step-') && n !== latest) doomed.add(n);
  doomed.delete(latest);
  // A process killed while writing a checkpoint leaves its temporary folder (hundreds of MB for
  // the full networks); those of processes other than this one are dead.
  for (const n of await readdir(root).catch(() => [] as string[])) {
    const m = /^\.(?:(?:epoch|step)-\d+|best|latest)\.(?:tmp|old)-(\d+)-/.exec(n);
    if (m && Number(m[1]) !== process.pid) doomed.add(n);
  }
  for (const n of doomed) await rm(join(root, n), { recursive: true, force: true });
}

/** A checkpoint's cyclegan.json, format and version checked. */
export async function readMeta(dir: string): Promise<CheckpointMeta> {
  return readCheckpointMeta<CheckpointMeta>(dir);
}

export async function loadCheckpoint(path: string): Promise<LoadedCheckpoint> {
  const dir = await resolveCheckpointDir(path);
  const meta = await readMeta(dir);
  const binFile = join(dir, 'state.bin');
  const raw = await readFile(binFile).catch(() => {
    throw new Error(`${binFile}: missing`);
  });
  const expected = meta.blobs.reduce((n, b) => n + b.length, 0) * 4;
  if (raw.byteLength !== expected) {
    throw new Error(`${binFile}: ${raw.byteLength} bytes, cyclegan.json expects ${expected} (truncated or corrupt)`);
  }
  const floats = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const byName = new Map<string, { data: Float32Array; shape?: number[] | null }>();
  let offset = 0;
  for (const blob of meta.blobs) {
    byName.set(blob.name, { data: floats.subarray(offset, offset + blob.length), shape: blob.shape });
    offset += blob.length;
  }
  const file = join(dir, MANIFEST_FILE);
  const networks = meta.networks ?? LEGACY_NETWORKS;
  for (const [key, sub] of Object.entries(networks)) {
    if (typeof sub !== 'string' || !SAFE_DIR.test(sub))
      throw new Error(`${file}: network ${key} has folder ${JSON.stringify(sub)}, expected a plain name`);
  }
  const models: LoadedCheckpoint['models'] = {};
  try {
    for (const [key, sub] of Object.entries(networks)) models[key] = await loadLayersModel(join(dir, sub));
  } catch (error) {
    for (const m of Object.values(models)) m.dispose();
    throw error;
  }
  const optimizerStates: LoadedCheckpoint['optimizerStates'] = {};
  for (const [key, { step }] of Object.entries(meta.optimizers)) {
    const moments: Float32Array[] = [];
    for (let i = 0; byName.has(`${key}/moment${i}`); i++) moments.push(byName.get(`${key}/moment${i}`)!.data);
    optimizerStates[key] = { step, moments };
  }
  const pool = (label: 'A' | 'B') => {
    const images: Float32Array[] = [];
    let shape: number[] | null = null;
    for (let i = 0; byName.has(`pool${label}/${i}`); i++) {
      const entry = byName.get(`pool${label}/${i}`)!;
      images.push(entry.data);
      shape = entry.shape ?? null;
    }
    return { images, shape };
  };
  return { dir, meta, models, optimizerStates, pools: { A: pool('A'), B: pool('B') } };
}
