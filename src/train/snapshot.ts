/**
 * A run snapshot: the smallest copy of a run that another machine continues from with
 * `train --resume`. It holds the latest checkpoint with the networks' weights quantized (uint8 by
 * default, float16 on request), Adam's moments zeroed with their step count reset (fresh moments,
 * as the official code resumes), the image pools empty, and the run's log.jsonl, laid out as a run
 * folder:
 *
 *   SNAPSHOT/{log.jsonl, checkpoints/latest, checkpoints/<name>/{cyclegan.json, state.bin, G_AtoB/, ...}}
 *
 * Why uint8: the repository holds a snapshot every ~4,000 steps of a long run within 60 MB, and a
 * ResNet-6 ngf 32 run's four networks take ~9.5 MB gzip'd in float16 against 4.6 MB in uint8. What
 * uint8 costs (`scripts/snapshot-quantization-error.ts` on the long run's step 4662, 6 validation
 * horses at 128 px): the generator's outputs move by 0.0024 on average (0.3 of a grey level),
 * 0.04 at most, against 0.00005 in float16; a restore is the rare path.
 * The zeroed moments compress to almost nothing. Restoring is copying the folder into place; the
 * continued run differs from the lost one by the rounding and the moments and pools it starts
 * without.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { MANIFEST_FILE } from '../infer/manifest.ts';
import { LATEST_POINTER } from '../infer/model-folder.ts';
import { saveLayersModel, type WeightQuantization } from '../models/io.ts';
import { writeDirAtomic, writeFileAtomic, writeFileSynced } from '../util/atomic.ts';
import { loadCheckpoint, type CheckpointMeta } from './checkpoint.ts';

export interface SnapshotInfo {
  checkpoint: string;
  globalStep: number;
  epoch: number;
}

export interface SnapshotOptions {
  /** How the networks' weights are stored (default 'uint8': see the file comment). */
  quantize?: WeightQuantization;
}

/** Writes the snapshot of `runDir`'s latest checkpoint into the new folder `outDir`. */
export async function writeRunSnapshot(runDir: string, outDir: string, options: SnapshotOptions = {}): Promise<SnapshotInfo> {
  const quantize = options.quantize ?? 'uint8';
  if (quantize !== 'uint8' && quantize !== 'float16')
    throw new Error(`unknown weight quantization ${JSON.stringify(quantize)} for a snapshot (expected uint8 or float16)`);
  if (existsSync(outDir)) throw new Error(`${outDir}: already exists; a snapshot goes into a new folder`);
  const ckpt = await loadCheckpoint(runDir);
  const name = basename(ckpt.dir);
  try {
    const networks = ckpt.meta.networks ?? { genAtoB: 'G_AtoB', genBtoA: 'G_BtoA', discA: 'D_A', discB: 'D_B' };
    const blobs: CheckpointMeta['blobs'] = [];
    const optimizers: CheckpointMeta['optimizers'] = {};
    let values = 0;
    for (const [key, state] of Object.entries(ckpt.optimizerStates)) {
      optimizers[key] = { step: 0 };
      state.moments.forEach((m, i) => {
        blobs.push({ name: `${key}/moment${i}`, length: m.length });
        values += m.length;
      });
    }
    const meta: CheckpointMeta = { ...ckpt.meta, createdAt: new Date().toISOString(), optimizers, blobs };
    await mkdir(join(outDir, 'checkpoints'), { recursive: true });
    await writeDirAtomic(join(outDir, 'checkpoints', name), async (tmp) => {
      for (const [key, sub] of Object.entries(networks)) await saveLayersModel(ckpt.models[key]!, join(tmp, sub), { quantize });
      await writeFileSynced(join(tmp, 'state.bin'), new Uint8Array(values * 4));
      await writeFileSynced(join(tmp, MANIFEST_FILE), JSON.stringify(meta, null, 1));
    });
    await writeFileAtomic(join(outDir, 'checkpoints', LATEST_POINTER), `${name}\n`);
    if (existsSync(join(runDir, 'log.jsonl'))) await copyFile(join(runDir, 'log.jsonl'), join(outDir, 'log.jsonl'));
    return { checkpoint: name, globalStep: ckpt.meta.position.globalStep, epoch: ckpt.meta.position.epoch };
  } finally {
    for (const m of Object.values(ckpt.models)) m.dispose();
  }
}
