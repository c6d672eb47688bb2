import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readImage } from '../../src/data/image-io.ts';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { FeatureNetwork } from '../../src/eval/feature-net.ts';
import { resolveCheckpointDir } from '../../src/infer/model-folder.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { train } from '../../src/train/loop.ts';
import { tinyFeatureNet } from './helpers.ts';

const TINY = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 32,
  epochs: 2,
  epochsDecay: 0,
  poolSize: 2,
  evalSize: 32,
} as const;

let work: string;
let data: string;
let net: FeatureNetwork;

async function generatorWeights(runDir: string): Promise<number[][]> {
  const ckpt = await loadCheckpoint(runDir);
  const out = ckpt.models.genAtoB!.getWeights().map((w) => Array.from(w.dataSync()));
  for (const m of Object.values(ckpt.models)) m.dispose();
  return out;
}

before(async () => {
  await useBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-validation-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 3 });
  // Validation folders: the synthetic writer's test images, copied under the names training reads.
  const withVal = await writeSyntheticDataset(join(work, 'val'), { size: 32, trainA: 1, trainB: 1, testA: 4, testB: 4, seed: 9 });
  await cp(join(withVal, 'testA'), join(data, 'valA'), { recursive: true });
  await cp(join(withVal, 'testB'), join(data, 'valB'), { recursive: true });
  net = tinyFeatureNet();
});
after(async () => {
  net.dispose();
  await rm(work, { recursive: true, force: true });
});

describe('validation during training', () => {
  it('logs KID every N steps, keeps the best checkpoint, and leaves training unchanged', async () => {
    const plain = join(work, 'plain');
    await train({ data, out: plain, config: { ...TINY, seed: 3 }, maxSteps: 5 });
    const validated = join(work, 'validated');
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    await train({
      data,
      out: validated,
      config: { ...TINY, seed: 3, evalEvery: 2, evalClassB: 'zebra' },
      maxSteps: 5,
      featureNet: net,
      onEval: (e) => seen.push(e.globalStep),
    });
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.deepEqual(seen, [2, 4]);
    assert.deepEqual(await generatorWeights(validated), await generatorWeights(plain), 'validation must not change what is trained');

    const lines = (await readFile(join(validated, 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const evals = lines.filter((l) => l.type === 'eval');
    assert.deepEqual(
      evals.map((l) => l.globalStep),
      [2, 4],
    );
    for (const e of evals) {
      assert.ok(Number.isFinite(e.AtoB.kid.mean) && Number.isFinite(e.BtoA.kid.mean));
      assert.equal(e.score, (e.AtoB.kid.mean + e.BtoA.kid.mean) / 2);
      assert.ok(e.AtoB.classRate.rate >= 0 && e.AtoB.classRate.rate <= 1, 'the zebra rate of A→B is reported');
      assert.equal(e.BtoA.classRate, undefined, 'no class given for A');
      assert.ok(e.cpuSeconds > 0 && e.wallSeconds > 0);
    }
    assert.ok(evals[0].baselines.AtoB.floor.kid.mean !== undefined && evals[0].baselines.AtoB.ceiling.kid.mean !== undefined);
    assert.equal(evals[1].baselines, undefined, 'baselines once per log');
    const bestStep = evals[0].score <= evals[1].score ? 2 : 4;
    assert.deepEqual(
      evals.map((e) => e.best),
      [true, bestStep === 4],
    );

    const bestDir = await resolveCheckpointDir(`${validated}:best`);
    assert.equal(bestDir, join(validated, 'checkpoints', 'best'));
    const best = await loadCheckpoint(`${validated}:best`);
    assert.equal(best.meta.position.globalStep, bestStep);
    assert.equal(best.meta.position.best?.globalStep, bestStep);
    for (const m of Object.values(best.models)) m.dispose();
    const latest = (await readFile(join(validated, 'checkpoints', 'latest'), 'utf8')).trim();
    assert.notEqual(latest, 'best', 'latest still names the newest step checkpoint');

    // The sample sheet of each validation: the 4 validation horses (fewer than 8 here) beside
    // their translations, one row of 4 pairs at the validation size.
    const valA = (await readdir(join(data, 'valA'))).sort();
    for (const step of [2, 4]) {
      const sheet = await readImage(join(validated, 'samples', `val-step-00000${step}.jpg`));
      assert.deepEqual([sheet.width, sheet.height], [4 * 2 * 32, 32]);
      const first = await readImage(join(data, 'valA', valA[0]!)); // 32 px already
      let diff = 0;
      for (let y = 0; y < 32; y++)
        for (let x = 0; x < 32 * 3; x++) diff += Math.abs(sheet.data[y * sheet.width * 3 + x]! - first.data[y * 32 * 3 + x]!);
      assert.ok(diff / (32 * 32 * 3) < 10, `the first tile is the first validation image (mean difference ${diff / (32 * 32 * 3)})`);
    }
  });

  it('RUN:best without a best checkpoint is one clear error', async () => {
    await assert.rejects(
      resolveCheckpointDir(`${join(work, 'plain')}:best`),
      /has no best checkpoint \(it is written by train --eval-every\)/,
    );
  });
});
