/**
 * CUT and FastCUT through everything a CycleGAN goes through: train() with an exact mid-epoch
 * resume, validation and the best checkpoint, export, translate, test, eval, the CLI's one-line
 * errors; and the checkpoints written before the method existed still load and resume.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readImage } from '../../src/data/image-io.ts';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { main } from '../../src/cli/main.ts';
import { evaluateModel } from '../../src/eval/evaluate.ts';
import { FeatureNetwork } from '../../src/eval/feature-net.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { writeTestReport } from '../../src/infer/report.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../../src/train/checkpoint.ts';
import { CUT_OPTION_KEYS } from '../../src/train/cut-config.ts';
import { train } from '../../src/train/loop.ts';
import { tinyFeatureNet } from './helpers.ts';

// 2 A and 2 B images: 2 steps per epoch; one epoch at the full rate, one of decay. Flips on
// so that the resumed steps draw the flip coin from the restored Rng; 32 patches keep cpu quick.
const CUT = {
  method: 'cut',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  epochs: 1,
  epochsDecay: 1,
  saveEvery: 1,
  flipEquivariance: true,
  ncePatches: 32,
  seed: 5,
} as const;
const TIMING_FIELDS = ['seconds', 'cpuSeconds', 'wallSeconds'];

let work: string;
let data: string;
let net: FeatureNetwork;

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** Every weight and Adam moment of a run's latest checkpoint, and where it stands. */
async function runState(runDir: string): Promise<Map<string, string>> {
  const ckpt = await loadCheckpoint(runDir);
  const out = new Map<string, string>();
  try {
    for (const [name, model] of Object.entries(ckpt.models)) {
      model.getWeights().forEach((w, i) => out.set(`${name} weight ${i}`, bytes(w.dataSync() as Float32Array)));
    }
  } finally {
    dispose(ckpt);
  }
  for (const [name, state] of Object.entries(ckpt.optimizerStates)) {
    out.set(`${name} adam step`, String(state.step));
    state.moments.forEach((m, i) => out.set(`${name} adam moment ${i}`, bytes(m)));
  }
  const { data: _data, compute: _compute, ...position } = ckpt.meta.position;
  out.set('position', JSON.stringify(position));
  return out;
}

function dispose(ckpt: LoadedCheckpoint): void {
  for (const m of Object.values(ckpt.models)) m.dispose();
}

async function logLines(runDir: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(join(runDir, 'log.jsonl'), 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => !TIMING_FIELDS.includes(k))));
}

/** Runs the CLI in this process; returns its exit code and what it wrote to stderr. */
async function cli(args: string[]): Promise<{ code: number; err: string }> {
  const lines: string[] = [];
  const [error, log] = [console.error, console.log];
  console.error = (...xs: unknown[]) => void lines.push(xs.join(' '));
  console.log = () => {};
  try {
    const code = await main(['node', 'cyclegan', '--backend', 'cpu', ...args]);
    return { code, err: lines.join('\n') };
  } finally {
    [console.error, console.log] = [error, log];
  }
}

before(async () => {
  await useBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-cut-train-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2, testA: 2, testB: 1 });
  const val = await writeSyntheticDataset(join(work, 'val'), { size: 32, trainA: 1, trainB: 1, testA: 4, testB: 4, seed: 9 });
  await cp(join(val, 'testA'), join(data, 'valA'), { recursive: true });
  await cp(join(val, 'testB'), join(data, 'valB'), { recursive: true });
  net = tinyFeatureNet();
});
after(async () => {
  net?.dispose();
  await rm(work, { recursive: true, force: true });
});

describe('CUT through train() on cpu', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('stopped mid-epoch and resumed, ends bit for bit where an uninterrupted run ends', async () => {
    const straight = join(work, 'straight');
    const before = tf.memory().numTensors;
    const result = await train({ data, out: straight, config: CUT });
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.equal(result.reason, 'finished');
    assert.equal(result.position.globalStep, 4);
    assert.deepEqual(
      [result.config.method, result.config.poolSize, result.config.lambdaNce, result.config.nceIdentity],
      ['cut', 0, 1, true],
    );

    const cut = join(work, 'cut');
    const stopped = await train({ data, out: cut, config: CUT, maxSteps: 1 });
    assert.equal(stopped.reason, 'max-steps');
    assert.match(stopped.checkpoint, /step-00000001$/);
    const resumed = await train({ out: cut, resume: true });
    assert.equal(resumed.reason, 'finished');

    const [want, got] = [await runState(straight), await runState(cut)];
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [name, value] of want) assert.equal(got.get(name), value, `${name} differs`);
    // The heads and their one Adam are in the checkpoint, as CUT's optimizer_F.
    assert.ok(want.has('F_res5_add weight 0') && want.has('heads adam moment 0') && !want.has('genBtoA weight 0'));

    const lines = await logLines(straight);
    assert.deepEqual(await logLines(cut), lines);
    assert.deepEqual(
      lines.map((l) => l.epoch),
      [1, 2],
    );
    assert.deepEqual(Object.keys(lines[0]!).slice(0, 8), ['epoch', 'globalStep', 'steps', 'lr', 'genAtoB', 'nce', 'nceIdentity', 'discB']);
    for (const l of lines) assert.ok((l.nce as number) > 0 && (l.nceIdentity as number) > 0, 'both NCE terms are logged');

    // The epoch sample is input | translation (no way back), and the checkpoint lists AtoB alone.
    const sample = await readImage(join(straight, 'samples', 'epoch-0002.png'));
    assert.deepEqual([sample.width, sample.height], [64, 32]);
    const meta = JSON.parse(await readFile(join(straight, 'checkpoints', 'epoch-0002', 'cyclegan.json'), 'utf8'));
    assert.deepEqual(meta.generators, { AtoB: 'G_AtoB/model.json' });
    assert.deepEqual(meta.discriminators, { B: 'D_B/model.json' });
    assert.deepEqual(Object.keys(meta.networks), [
      'genAtoB',
      'discB',
      'F_stem_pad',
      'F_down1_conv',
      'F_down2_conv',
      'F_res1_add',
      'F_res5_add',
    ]);
    assert.deepEqual(Object.keys(meta.optimizers), ['genAtoB', 'discB', 'heads']);
    assert.ok(!meta.blobs.some((b: { name: string }) => b.name.startsWith('pool')), 'no image pools');
  });

  it('refuses to resume with another method or CUT option', async () => {
    const run = join(work, 'cut');
    await assert.rejects(
      train({ out: run, resume: true, config: { method: 'cyclegan' } }),
      /cannot resume .* \(method: checkpoint has "cut", requested "cyclegan"\)/,
    );
    await assert.rejects(train({ out: run, resume: true, config: { lambdaNce: 5 } }), /lambdaNce: checkpoint has 1, requested 5/);
  });

  it('exports A→B only (tfjs and ONNX), translates, reports and evaluates one direction, and says BtoA does not exist', async () => {
    const run = join(work, 'straight');
    const exported = join(work, 'export');
    const manifest = await exportTfjs(run, exported);
    assert.deepEqual(manifest.directions, { AtoB: 'AtoB/model.json' });
    assert.equal(manifest.method, 'cut');
    assert.deepEqual((await readdir(exported)).sort(), ['AtoB', 'cyclegan.json']);
    const image = await readImage(join(data, 'testA', (await readdir(join(data, 'testA')))[0]!));
    const [fromExport, fromCheckpoint] = [await loadTranslator(exported), await loadTranslator(run)];
    try {
      const [x, y] = [await fromExport.translate(image), await fromCheckpoint.translate(image)];
      assert.deepEqual([x.width, x.height], [image.width, image.height]);
      assert.ok(Buffer.from(x.data).equals(Buffer.from(y.data)), 'the export translates as the checkpoint does');
      assert.ok(!Buffer.from(x.data).equals(Buffer.from(image.data)));
    } finally {
      fromExport.dispose();
      fromCheckpoint.dispose();
    }
    await assert.rejects(
      exportTfjs(run, join(work, 'export-b'), ['BtoA']),
      /this model has no B→A generator: a CUT model learns A→B only \(use --direction AtoB\)/,
    );

    const onnx = join(work, 'onnx');
    assert.equal((await cli(['export', '--model', run, '--format', 'onnx', '--out', onnx])).code, 0);
    assert.deepEqual((await readdir(onnx)).sort(), ['AtoB.onnx', 'cyclegan.json']);
    const onnxManifest = JSON.parse(await readFile(join(onnx, 'cyclegan.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual([onnxManifest.engine, onnxManifest.method, onnxManifest.directions], ['onnx', 'cut', { AtoB: 'AtoB.onnx' }]);

    const translated = await cli([
      'translate',
      join(data, 'testB'),
      '--model',
      run,
      '--out',
      join(work, 'translated'),
      '--direction',
      'BtoA',
    ]);
    assert.equal(translated.code, 1);
    assert.equal(
      translated.err,
      `cyclegan: ${join(run, 'checkpoints', 'epoch-0002', 'cyclegan.json')}: this model has no B→A generator: a CUT model learns A→B only (use --direction AtoB)`,
    );

    const report = await writeTestReport({ model: run, data, out: join(work, 'report') });
    assert.equal(report.failed, 0);
    assert.equal(report.rows.AtoB.length, 2);
    assert.deepEqual(report.rows.BtoA, []);
    for (const row of report.rows.AtoB) {
      assert.equal(row.reconstruction, undefined);
      assert.ok(existsSync(join(work, 'report', row.translation)));
    }
    assert.deepEqual((await readdir(join(work, 'report', 'images'))).sort(), ['AtoB']);
    const html = await readFile(report.index, 'utf8');
    assert.match(html, /this model translates A → B only: no reconstructions/);
    assert.doesNotMatch(html, /<th>reconstruction<\/th>/);

    const evaluated = await evaluateModel({ data, model: run, featureNet: net, size: 32, subsets: 4 });
    assert.deepEqual(
      evaluated.directions.map((d) => d.direction),
      ['AtoB'],
    );
    assert.ok(Number.isFinite(evaluated.directions[0]!.model!.kid.mean));
  });

  it('--method cut with the U-Net is one clear error', async () => {
    const r = await cli([
      'train',
      '--data',
      data,
      '--out',
      join(work, 'unet'),
      '--method',
      'cut',
      '--generator',
      'unet',
      '--crop-size',
      '32',
      '--load-size',
      '32',
    ]);
    assert.equal(r.code, 1);
    assert.equal(
      r.err,
      'cyclegan: --method cut needs the ResNet generator (--generator resnet9 or resnet6): PatchNCE contrasts the features of its encoder, which the U-Net does not have in that form',
    );
    assert.ok(!existsSync(join(work, 'unet', 'checkpoints')));
  });
});

describe('FastCUT through train() on wasm', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('validates A→B only every N steps and keeps the best checkpoint', async () => {
    const run = join(work, 'fastcut');
    const seen: number[] = [];
    const config = { ...CUT, method: 'fastcut', flipEquivariance: undefined, evalEvery: 2, evalSize: 32, evalClassB: 'zebra' } as const;
    const before = tf.memory().numTensors;
    await train({ data, out: run, config, maxSteps: 4, featureNet: net, onEval: (e) => seen.push(e.globalStep) });
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assert.deepEqual(seen, [2, 4]);
    const lines = await logLines(run);
    const evals = lines.filter((l) => l.type === 'eval') as {
      score: number;
      best: boolean;
      AtoB: { kid: { mean: number } };
      BtoA?: unknown;
      baselines?: Record<string, unknown>;
    }[];
    assert.equal(evals.length, 2);
    for (const e of evals) {
      assert.equal(e.BtoA, undefined, 'CUT has no B→A to validate');
      assert.equal(e.score, e.AtoB.kid.mean);
    }
    assert.deepEqual(Object.keys(evals[0]!.baselines!), ['AtoB']);
    const epoch = lines.find((l) => l.epoch === 1)!;
    assert.equal(epoch.nceIdentity, 0, 'FastCUT has no identity NCE');
    const bestStep = evals[0]!.score <= evals[1]!.score ? 2 : 4;
    const best = await loadCheckpoint(`${run}:best`);
    try {
      assert.equal(best.meta.position.globalStep, bestStep);
      assert.equal(best.meta.config.method, 'fastcut');
      assert.deepEqual([best.meta.config.lambdaNce, best.meta.config.nceIdentity, best.meta.config.flipEquivariance], [10, false, true]);
      assert.deepEqual(Object.keys(best.optimizerStates), ['genAtoB', 'discB', 'heads']);
    } finally {
      dispose(best);
    }
    assert.ok(existsSync(join(run, 'losses.png')));
  });
});

describe('checkpoints from before the method existed', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('load as CycleGAN and resume to the run an uninterrupted one gives', async () => {
    const config = {
      preset: 'paper',
      generator: 'resnet6',
      ngf: 4,
      ndf: 4,
      cropSize: 32,
      loadSize: 32,
      poolSize: 2,
      epochs: 1,
      epochsDecay: 0,
      seed: 2,
    } as const;
    const straight = join(work, 'cyclegan-straight');
    await train({ data, out: straight, config, maxSteps: 2 });
    const old = join(work, 'cyclegan-old');
    await train({ data, out: old, config, maxSteps: 1 });
    // The layout this change replaced: no `networks`, no `method`, no CUT options.
    const file = join(old, 'checkpoints', 'step-00000001', 'cyclegan.json');
    const meta = JSON.parse(await readFile(file, 'utf8'));
    delete meta.networks;
    for (const key of CUT_OPTION_KEYS) delete meta.config[key];
    assert.deepEqual(meta.generators, { AtoB: 'G_AtoB/model.json', BtoA: 'G_BtoA/model.json' });
    assert.deepEqual(meta.discriminators, { A: 'D_A/model.json', B: 'D_B/model.json' });
    assert.deepEqual(Object.keys(meta.optimizers), ['genAtoB', 'genBtoA', 'discA', 'discB']);
    await writeFile(file, JSON.stringify(meta));

    const loaded = await loadCheckpoint(old);
    try {
      assert.deepEqual(Object.keys(loaded.models), ['genAtoB', 'genBtoA', 'discA', 'discB']);
      assert.equal(loaded.pools.B.images.length, 1);
    } finally {
      dispose(loaded);
    }
    const resumed = await train({ out: old, resume: true, maxSteps: 2 });
    assert.equal(resumed.config.method, 'cyclegan');
    const [want, got] = [await runState(straight), await runState(old)];
    assert.deepEqual([...got.keys()], [...want.keys()]);
    for (const [name, value] of want) assert.equal(got.get(name), value, `${name} differs`);
  });

  it("--init-from: CUT takes a CycleGAN run's A→B generator; a CycleGAN run refuses a CUT model", async () => {
    const source = join(work, 'cyclegan-straight');
    const warm = join(work, 'cut-warm');
    await train({ data, out: warm, config: { ...CUT, initFrom: source }, maxSteps: 0 });
    const [from, to] = [await runState(source), await runState(warm)];
    for (const [name, value] of from) {
      if (name.startsWith('genAtoB weight')) assert.equal(to.get(name), value, `${name} was not copied`);
    }
    assert.notEqual(to.get('discB weight 0'), from.get('discB weight 0'), 'the discriminator stays fresh');
    await assert.rejects(
      train({
        data,
        out: join(work, 'cyclegan-warm'),
        config: { preset: 'paper', generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 32, loadSize: 32, initFrom: join(work, 'straight') },
        maxSteps: 0,
      }),
      /--init-from .*straight: it has no B→A generator, which this CycleGAN run needs \(CUT models and one-direction exports have A→B only\)/,
    );
    const r = await cli(['train', '--data', data, '--out', join(work, 'nce-on-cyclegan'), '--lambda-nce', '5', '--no-nce-idt']);
    assert.deepEqual(
      [r.code, r.err],
      [1, 'cyclegan: --lambda-nce, --nce-idt: CUT options, for --method cut or fastcut (this run trains a CycleGAN)'],
    );
  });
});
