import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { train } from '../../src/train/loop.ts';
import { repairLog } from '../../src/train/run-log.ts';

const TINY = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  epochs: 1,
  epochsDecay: 0,
  poolSize: 2,
} as const;

let work: string;
let data: string;

before(async () => {
  await useBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-warm-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 3 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function weightsOf(runDir: string) {
  const ckpt = await loadCheckpoint(runDir);
  const out: Record<string, number[][]> = {};
  for (const [net, model] of Object.entries(ckpt.models)) {
    out[net] = model.getWeights().map((w) => Array.from(w.dataSync()));
    model.dispose();
  }
  return { out, meta: ckpt.meta };
}

describe('--init-from', () => {
  it('starts a new run from exactly the given generators, with fresh discriminators and optimizer', async () => {
    const source = join(work, 'source');
    await train({ data, out: source, config: { ...TINY, seed: 1 }, maxSteps: 2 });
    const fresh = join(work, 'fresh');
    await train({ data, out: fresh, config: { ...TINY, seed: 2 }, maxSteps: 0 });
    const exported = join(work, 'export');
    await exportTfjs(source, exported);
    const before = tf.memory().numTensors;
    for (const [name, from] of [
      ['warm-run', source],
      ['warm-export', exported],
    ] as const) {
      const warm = join(work, name);
      await train({ data, out: warm, config: { ...TINY, seed: 2, initFrom: from }, maxSteps: 0 });
      const [s, f, w] = [await weightsOf(source), await weightsOf(fresh), await weightsOf(warm)];
      assert.deepEqual(w.out.genAtoB, s.out.genAtoB, `${name}: G_AtoB is the source's`);
      assert.deepEqual(w.out.genBtoA, s.out.genBtoA, `${name}: G_BtoA is the source's`);
      assert.deepEqual(w.out.discA, f.out.discA, `${name}: D_A is a fresh one`);
      assert.deepEqual(w.out.discB, f.out.discB, `${name}: D_B is a fresh one`);
      assert.notDeepEqual(s.out.genAtoB, f.out.genAtoB, 'the test must tell source from fresh weights');
      assert.equal(w.meta.optimizers.genAtoB?.step, 0);
      assert.equal(w.meta.config.initFrom, from);
    }
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
  });

  it('refuses generators of another architecture, naming the weight, and leaks nothing', async () => {
    const source = join(work, 'source');
    const before = tf.memory().numTensors;
    await assert.rejects(
      train({ data, out: join(work, 'wide'), config: { ...TINY, ngf: 8, initFrom: source }, maxSteps: 0 }),
      /--init-from .*source: its AtoB generator does not fit this run's \(resnet6 ngf 8\): weight 0 has shape \[7,7,3,4\], this run needs \[7,7,3,8\]/,
    );
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('validation split during training', () => {
  it('refuses a split whose names are not in the dataset, and --eval-every without validation images', async () => {
    const split = join(work, 'split.json');
    await writeFile(split, JSON.stringify({ dataset: 'x', seed: 0, valA: ['nope.png'], valB: ['nope.png'] }));
    const before = tf.memory().numTensors;
    await assert.rejects(
      train({ data, out: join(work, 'bad-split'), config: { ...TINY, valSplit: split }, maxSteps: 0 }),
      /validation split: 1 of the 1 A images are not in the dataset \(first: nope\.png\)/,
    );
    await assert.rejects(
      train({ data, out: join(work, 'no-val'), config: { ...TINY, evalEvery: 1 }, maxSteps: 0 }),
      /--eval-every needs validation images/,
    );
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('repairLog', () => {
  it('drops a torn last line and lines past the checkpoint, with one notice', async () => {
    const log = join(work, 'log.jsonl');
    const lines = [
      { epoch: 1, globalStep: 3 },
      { epoch: 2, globalStep: 6 },
      { epoch: 3, globalStep: 9 },
    ];
    await writeFile(log, `${lines.map((l) => JSON.stringify(l)).join('\n')}\n{"epoch":4,"globalSt`);
    const notices: string[] = [];
    await repairLog(log, 6, (m) => notices.push(m));
    assert.equal(await readFile(log, 'utf8'), `${JSON.stringify(lines[0])}\n${JSON.stringify(lines[1])}\n`);
    assert.equal(notices.length, 1);
    assert.match(notices[0]!, /dropped 1 torn line and 1 line past the checkpoint \(the log now ends at the checkpoint's step 6\)/);
    await repairLog(log, 6, (m) => notices.push(m));
    assert.equal(notices.length, 1, 'a clean log is left alone');
  });
});
