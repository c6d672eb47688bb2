/**
 * Run snapshots (a replaced machine's way back): snapshot a run, delete the run folder, put the
 * snapshot in its place, and `train --resume` continues from the snapshot's step with the weights
 * as uint8 (or float16) kept them, fresh Adam moments and the log so far.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
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

    // The default (uint8) and float16: each restored weight lies within that encoding's rounding.
    const encodings = [
      { label: 'uint8 (the default)', options: {}, tolerance: (list: Float32Array) => (Math.max(...list) - Math.min(...list)) / 255 / 2 },
      { label: 'float16', options: { quantize: 'float16' as const }, tolerance: () => 0 },
    ];
    for (const encoding of encodings) {
      const snapshot = join(work, `snapshot-${encoding.label.split(' ')[0]}`);
      const info = await writeRunSnapshot(run, snapshot, encoding.options);
      assert.equal(info.globalStep, 3);
      await assert.rejects(writeRunSnapshot(run, snapshot), /already exists; a snapshot goes into a new folder/);

      const restoredRun = join(work, `restored-${encoding.label.split(' ')[0]}`);
      await cp(snapshot, restoredRun, { recursive: true });
      const restored = await loadCheckpoint(restoredRun);
      try {
        assert.equal(restored.meta.position.globalStep, 3);
        assert.ok(Object.values(restored.optimizerStates).every((s) => s.step === 0 && s.moments.every((m) => m.every((v) => v === 0))));
        assert.equal(restored.pools.A.images.length, 0);
        let moved = 0;
        for (const [net, list] of Object.entries(original)) {
          restored.models[net]!.getWeights().forEach((w, i) => {
            const values = w.dataSync();
            const expected = list[i]!;
            // uint8: half a step of the tensor's (max − min)/255 (plus float32 rounding of q·scale + min);
            // float16 keeps 11 significant bits: within 2^-11 of each value (plus its subnormal floor).
            const bound = encoding.tolerance(expected) * (1 + 1e-5) + 1e-7;
            for (let j = 0; j < values.length; j++) {
              const error = Math.abs(values[j]! - expected[j]!);
              if (error > 0) moved++;
              assert.ok(
                error <= bound + Math.abs(expected[j]!) * 2 ** -11 + 2 ** -24,
                `${encoding.label}: ${net} weight ${i}[${j}] off by ${error}`,
              );
            }
          });
        }
        assert.ok(moved > 0, `${encoding.label}: the weights went through the encoding`);
      } finally {
        for (const m of Object.values(restored.models)) m.dispose();
      }
      assert.equal(await readFile(join(restoredRun, 'log.jsonl'), 'utf8'), log);
    }
    await assert.rejects(
      writeRunSnapshot(run, join(work, 'snapshot-bad'), { quantize: 'int4' as 'uint8' }),
      /unknown weight quantization "int4"/,
    );
    assert.equal(existsSync(join(work, 'snapshot-bad')), false, 'nothing written for a refused snapshot');

    // The machine lost the run: the default snapshot goes where the run was, and training goes on.
    await rm(run, { recursive: true });
    await cp(join(work, 'snapshot-uint8'), run, { recursive: true });
    const result = await train({ out: run, resume: true, maxSteps: 5 });
    assert.equal(result.position.globalStep, 5);
  });
});
