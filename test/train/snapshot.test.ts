/**
 * Run snapshots (a replaced machine's way back): snapshot a run, delete the run folder, put the
 * snapshot in its place, and `train --resume` continues from the snapshot's step with the weights
 * as float16 kept them, fresh Adam moments and the log so far.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { train } from '../../src/train/loop.ts';
import { writeRunSnapshot } from '../../src/train/snapshot.ts';

const TINY = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 32,
  poolSize: 2,
  epochs: 3,
  epochsDecay: 0,
  saveLatestEvery: 1,
} as const;

let work: string;
before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-snapshot-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function weights(dir: string): Promise<Record<string, Float32Array[]>> {
  const ckpt = await loadCheckpoint(dir);
  const out = Object.fromEntries(Object.entries(ckpt.models).map(([k, m]) => [k, m.getWeights().map((w) => w.dataSync() as Float32Array)]));
  for (const m of Object.values(ckpt.models)) m.dispose();
  return out;
}

describe('run snapshots', () => {
  it('restore into an emptied run folder and continue from the snapshot step', async () => {
    const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2 });
    const run = join(work, 'run');
    await train({ data, out: run, config: TINY, maxSteps: 3 });
    const original = await weights(run);
    const log = await readFile(join(run, 'log.jsonl'), 'utf8');

    const snapshot = join(work, 'snapshot');
    const info = await writeRunSnapshot(run, snapshot);
    assert.equal(info.globalStep, 3);
    await assert.rejects(writeRunSnapshot(run, snapshot), /already exists; a snapshot goes into a new folder/);

    await rm(run, { recursive: true });
    await cp(snapshot, run, { recursive: true });
    const restored = await loadCheckpoint(run);
    try {
      assert.equal(restored.meta.position.globalStep, 3);
      assert.ok(Object.values(restored.optimizerStates).every((s) => s.step === 0 && s.moments.every((m) => m.every((v) => v === 0))));
      assert.equal(restored.pools.A.images.length, 0);
      for (const [net, list] of Object.entries(original)) {
        restored.models[net]!.getWeights().forEach((w, i) => {
          const values = w.dataSync();
          const expected = list[i]!;
          for (let j = 0; j < values.length; j++) {
            // float16 keeps 11 significant bits: within 2^-11 of each value (plus its subnormal floor).
            assert.ok(Math.abs(values[j]! - expected[j]!) <= Math.abs(expected[j]!) * 2 ** -11 + 2 ** -24, `${net} weight ${i}[${j}]`);
          }
        });
      }
    } finally {
      for (const m of Object.values(restored.models)) m.dispose();
    }
    assert.equal(await readFile(join(run, 'log.jsonl'), 'utf8'), log);

    const result = await train({ out: run, resume: true, maxSteps: 5 });
    assert.equal(result.position.globalStep, 5);
  });
});
