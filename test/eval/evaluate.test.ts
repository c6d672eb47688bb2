import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { main } from '../../src/cli/main.ts';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { evaluateModel, type EvalReport } from '../../src/eval/evaluate.ts';
import type { FeatureNetwork } from '../../src/eval/feature-net.ts';
import { formatReport } from '../../src/eval/report.ts';
import { train } from '../../src/train/loop.ts';
import { colourNet } from './helpers.ts';

const TINY = { preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 36, epochs: 1, seed: 1 } as const;

let work: string;
let data: string;
let run: string;
let net: FeatureNetwork;

before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-eval-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 6, trainB: 6, testA: 4, testB: 5 });
  run = join(work, 'run');
  await train({ data, out: run, config: TINY, maxSteps: 1, onWarning: () => {} });
  net = colourNet();
});
after(async () => {
  net.dispose();
  await rm(work, { recursive: true, force: true });
});

/** Runs the CLI in-process; returns its exit code, stdout and stderr. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn };
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  console.warn = console.error;
  try {
    const code = await main(['node', 'cyclegan', '--backend', 'wasm', ...args]);
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  } finally {
    Object.assign(console, saved);
    process.exitCode = undefined;
  }
}

function assertFigures(report: EvalReport, withModel: boolean): void {
  for (const d of report.directions) {
    for (const f of withModel ? [d.model!, d.floor, d.ceiling] : [d.floor, d.ceiling]) {
      assert.ok(Number.isFinite(f.kid.mean) && Number.isFinite(f.kid.std) && f.kid.std >= 0, JSON.stringify(f));
    }
    if (!withModel) assert.equal(d.model, undefined);
  }
}

describe('evaluateModel', () => {
  it('measures both generators of a run on the test split, with floors and ceilings, and leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const report = await evaluateModel({
      data,
      split: 'test',
      model: run,
      size: 32,
      subsets: 4,
      featureNet: net,
      targetClass: 'blue',
      sourceClass: 'red',
    });
    assert.equal(tf.memory().numTensors, before);
    assert.deepEqual(
      report.directions.map((d) => [d.direction, d.sources, d.targets, d.targetClass]),
      [
        ['AtoB', 4, 5, 'blue'],
        ['BtoA', 5, 4, 'red'],
      ],
    );
    assertFigures(report, true);
    for (const d of report.directions) assert.ok(d.model!.classRate!.rate >= 0 && d.model!.classRate!.rate <= 1);
    // The floor does not depend on the model: the same as without one.
    const baselines = await evaluateModel({
      data,
      split: 'test',
      size: 32,
      subsets: 4,
      featureNet: net,
      targetClass: 'blue',
      sourceClass: 'red',
    });
    assertFigures(baselines, false);
    assert.deepEqual(
      baselines.directions.map((d) => [d.floor, d.ceiling]),
      report.directions.map((d) => [d.floor, d.ceiling]),
    );
    assert.deepEqual(
      report.directions.map((d) => [d.floor.kid.subsetSize, d.ceiling.kid.subsetSize]),
      [
        [4, 2],
        [4, 2],
      ],
    );
    const table = formatReport(report);
    assert.match(table, /^A→B\s+4\s+5\s+-?\d+\.\d\d ± \d+\.\d\d/m);
    assert.match(table, /^B→A\s+5\s+4\s+.*\s+red\s+\d\.\d{3}/m);
  });

  it('reads valA/valB, or a --val-split list held out of trainA/trainB, and the same images give the same figures', async () => {
    const names = {
      A: (await readdir(join(data, 'trainA'))).sort().slice(0, 4),
      B: (await readdir(join(data, 'trainB'))).sort().slice(1, 5),
    };
    const splitFile = join(work, 'split.json');
    await writeFile(splitFile, JSON.stringify({ dataset: 'tiny', seed: 0, valA: names.A, valB: names.B }));
    const listed = await evaluateModel({ data, valSplit: splitFile, model: run, direction: 'AtoB', size: 32, subsets: 3, featureNet: net });
    assert.match(listed.images, /^split tiny of /);
    assert.deepEqual(
      listed.directions.map((d) => [d.direction, d.sources, d.targets]),
      [['AtoB', 4, 4]],
    );

    const withVal = join(work, 'with-val');
    await cp(data, withVal, { recursive: true });
    await Promise.all(
      ['A', 'B'].map(async (s) => {
        const dir = join(withVal, `val${s}`);
        await (await import('node:fs/promises')).mkdir(dir);
        for (const n of names[s as 'A' | 'B']) await cp(join(data, `train${s}`, n), join(dir, n));
      }),
    );
    const folders = await evaluateModel({ data: withVal, model: run, direction: 'AtoB', size: 32, subsets: 3, featureNet: net });
    assert.match(folders.images, /valA, .*valB$/);
    assert.deepEqual(folders.directions, listed.directions);
  });

  it('reads RUN:best, and a bare model.json as A→B', async () => {
    const { readFile } = await import('node:fs/promises');
    const latest = (await readFile(join(run, 'checkpoints', 'latest'), 'utf8')).trim();
    await cp(join(run, 'checkpoints', latest), join(run, 'checkpoints', 'best'), { recursive: true });
    const opts = { data, split: 'test' as const, size: 32, subsets: 2, featureNet: net };
    const fromRun = await evaluateModel({ ...opts, model: run, direction: 'AtoB' });
    const fromBest = await evaluateModel({ ...opts, model: `${run}:best`, direction: 'AtoB' });
    const bare = await evaluateModel({ ...opts, model: join(run, 'checkpoints', latest, 'G_AtoB', 'model.json') });
    assert.deepEqual(fromBest.directions, fromRun.directions);
    assert.deepEqual(bare.directions, fromRun.directions);
  });

  it('names the missing folder or the problem in one line', async () => {
    await assert.rejects(evaluateModel({ data, featureNet: net }), /no valA\/ and valB\/ folders; pass --val-split/);
    const noTest = join(work, 'no-test');
    await writeSyntheticDataset(noTest, { size: 32, trainA: 1, trainB: 1, testA: 0, testB: 0 });
    await rm(join(noTest, 'testB'), { recursive: true });
    await assert.rejects(evaluateModel({ data: noTest, split: 'test', featureNet: net }), /no-test\/testA: no images found/);
    await rm(join(noTest, 'testA'), { recursive: true });
    await assert.rejects(
      evaluateModel({ data: noTest, split: 'test', featureNet: net }),
      /no-test\/testA: no such folder \(--split test reads testA\/ and testB\/\)/,
    );
    await assert.rejects(
      evaluateModel({ data, split: 'test', featureNet: net, targetClass: 'purple' }),
      /class 'purple' is not a label of colourNet/,
    );
    await assert.rejects(
      evaluateModel({ data, split: 'test', featureNet: net, model: join(work, 'nowhere') }),
      /nowhere: no such file or folder/,
    );
    await assert.rejects(evaluateModel({ data, valSplit: 'nosuchsplit', featureNet: net }), /validation split 'nosuchsplit': no such file/);
  });
});

describe('cyclegan eval', () => {
  it('prints a table and JSON with the bundled Darknet-tiny', async () => {
    const table = await cli(
      'eval',
      '--data',
      data,
      '--split',
      'test',
      '--model',
      run,
      '--size',
      '32',
      '--subsets',
      '3',
      '--target-class',
      'zebra',
      '--source-class',
      'sorrel',
    );
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /features: .*assets\/darknet-tiny-imagenet/);
    assert.match(table.stdout, /^direction\s+sources\s+targets\s+KID×1000 model\s+floor\s+ceiling\s+class\s+top-1 model/m);
    assert.match(table.stdout, /^A→B\s+4\s+5\s+\S+ ± \S+\s+\S+ ± \S+\s+\S+ ± \S+\s+zebra\s+\d\.\d{3}/m);
    assert.match(table.stdout, /^B→A\s+5\s+4\s+.*sorrel/m);

    // No --model and no embedded model: the floors and ceilings alone.
    const models = process.env.CYCLEGAN_MODELS_DIR;
    process.env.CYCLEGAN_MODELS_DIR = await mkdtemp(join(work, 'no-models-'));
    let json: Awaited<ReturnType<typeof cli>>;
    try {
      json = await cli('eval', '--data', data, '--split', 'test', '--size', '32', '--subsets', '3', '--direction', 'BtoA', '--json');
    } finally {
      if (models === undefined) delete process.env.CYCLEGAN_MODELS_DIR;
      else process.env.CYCLEGAN_MODELS_DIR = models;
    }
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as EvalReport;
    assert.equal(report.model, undefined);
    assert.deepEqual(
      report.directions.map((d) => d.direction),
      ['BtoA'],
    );
    assert.equal(report.directions[0]!.floor.kid.subsetSize, 4);
    assert.equal(report.directions[0]!.ceiling.kid.subsetSize, 2);
  });

  it('fails with one line for an unknown class', async () => {
    const r = await cli('eval', '--data', data, '--split', 'test', '--size', '32', '--target-class', 'zebr');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^cyclegan: class 'zebr' is not a label of .*darknet-tiny-imagenet \(close: 'zebra'/m);
  });
});
