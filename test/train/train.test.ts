import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { train } from '../../src/train/loop.ts';
import { Rng } from '../../src/util/rng.ts';

const TINY = { preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 36, epochs: 3, saveEvery: 1 } as const;

let work: string;
let data: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cyclegan-train-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 4, testA: 1, testB: 1 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function allWeights(runDir: string): Promise<Map<string, Float32Array>> {
  const ckpt = await loadCheckpoint(runDir);
  const out = new Map<string, Float32Array>();
  for (const [net, model] of Object.entries(ckpt.models)) {
    model.getWeights().forEach((w, i) => out.set(`${net}/${i}`, w.dataSync() as Float32Array));
    model.dispose();
  }
  for (const [net, state] of Object.entries(ckpt.optimizerStates)) {
    state.moments.forEach((m, i) => out.set(`${net}/adam${i}`, m));
  }
  return out;
}

function assertSameWeights(a: Map<string, Float32Array>, b: Map<string, Float32Array>): void {
  assert.equal(a.size, b.size);
  for (const [name, values] of a) {
    const other = b.get(name);
    assert.ok(other, `missing ${name}`);
    assert.deepEqual(Array.from(values), Array.from(other), `${name} differs`);
  }
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`training on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    it('keeps the live tensor count flat across steps', async () => {
      const gan = new CycleGan(resolveConfig({ ...TINY, poolSize: 2 }), new Rng(1));
      const rng = new Rng(2);
      const batch = () => tf.tidy(() => tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', rng.seed()) as tf.Tensor4D);
      const counts: number[] = [];
      for (let step = 1; step <= 10; step++) {
        const [a, b] = [batch(), batch()];
        const losses = await gan.trainStep(a, b);
        tf.dispose([a, b]);
        for (const v of Object.values(losses)) assert.ok(Number.isFinite(v));
        counts.push(tf.memory().numTensors);
      }
      gan.dispose();
      assert.equal(counts[9], counts[2], `numTensors after step 3 (${counts[2]}) vs step 10 (${counts[9]})`);
    });

    it('6 straight steps equal 3 steps, a stop and a resume for 3 more', async () => {
      const straight = join(work, `${backend}-straight`);
      const split = join(work, `${backend}-split`);
      const config = { ...TINY, poolSize: 2, seed: 7 };
      await train({ data, out: straight, config, maxSteps: 6 });
      const first = await train({ data, out: split, config, maxSteps: 3 });
      assert.equal(first.reason, 'max-steps');
      assert.equal(first.position.globalStep, 3);
      await train({ out: split, resume: true, maxSteps: 6 });
      assertSameWeights(await allWeights(straight), await allWeights(split));
      const log = (f: string) =>
        readFile(join(f, 'log.jsonl'), 'utf8').then((t) =>
          t
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l)),
        );
      const [l1, l2] = [await log(straight), await log(split)];
      assert.equal(l1.length, 2);
      const key = (l: Record<string, unknown>) => [l.epoch, l.cycle, l.discA];
      assert.deepEqual(l2.map(key), l1.map(key));
    });
  });
}

describe('training runs and checkpoints', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('a killed process resumes from its last checkpoint to the same weights as an uninterrupted run', async () => {
    const cli = join(process.cwd(), 'bin', 'cyclegan.js');
    const args = (out: string) => [
      cli,
      '--backend',
      'wasm',
      'train',
      '--data',
      data,
      '--out',
      out,
      '--preset',
      'tutorial',
      '--ngf',
      '4',
      '--ndf',
      '4',
      '--crop-size',
      '32',
      '--load-size',
      '36',
      '--epochs',
      '3',
      '--save-every',
      '1',
      '--seed',
      '11',
    ];
    const straight = join(work, 'kill-straight');
    const r = spawnSync(process.execPath, args(straight), { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /backend: wasm \(\d+ threads?\)/);
    assert.match(r.stdout, /epoch 3 done in .* · wasm heap \d+ MiB \(peak live \d+ MiB\)/);

    const killed = join(work, 'kill-split');
    const child = spawn(process.execPath, args(killed), { stdio: 'ignore' });
    const pointer = join(killed, 'checkpoints', 'latest');
    // Kill it with SIGKILL (no chance to save) as soon as its first checkpoint (end of epoch 1) exists.
    const deadline = Date.now() + 120_000;
    while (!existsSync(pointer)) {
      assert.ok(Date.now() < deadline, 'no checkpoint within 120 s');
      await new Promise((res) => setTimeout(res, 20));
    }
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
    const ckpt = await loadCheckpoint(killed);
    assert.ok(ckpt.meta.position.globalStep < 9, 'killed before the end');
    const resumed = spawnSync(process.execPath, [cli, '--backend', 'wasm', 'train', '--resume', killed], { encoding: 'utf8' });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming/);
    assertSameWeights(await allWeights(straight), await allWeights(killed));
  });

  it('SIGINT finishes the step, writes a checkpoint, exits 0 and prints the resume command', async () => {
    const cli = join(process.cwd(), 'bin', 'cyclegan.js');
    const out = join(work, 'sigint');
    const child = spawn(
      process.execPath,
      [
        cli,
        '--backend',
        'wasm',
        'train',
        '--data',
        data,
        '--out',
        out,
        '--preset',
        'tutorial',
        '--ngf',
        '4',
        '--ndf',
        '4',
        '--crop-size',
        '32',
        '--load-size',
        '36',
        '--epochs',
        '1000',
        '--seed',
        '3',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    let sent = false;
    child.stderr.on('data', () => {
      // The progress bar writes to stderr once steps run: interrupt then.
      if (!sent) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise((res) => child.on('exit', res));
    assert.equal(code, 0);
    assert.match(stdout, /resume with: cyclegan train --resume/);
    const ckpt = await loadCheckpoint(out);
    assert.ok(ckpt.meta.position.globalStep >= 1);
  });

  it('refuses to resume with another architecture, and to overwrite a run', async () => {
    const out = join(work, 'refuse');
    await train({ data, out, config: TINY, maxSteps: 1 });
    await assert.rejects(train({ out, resume: true, config: { ngf: 8 } }), /cannot resume .*ngf: checkpoint has 4, requested 8/);
    await assert.rejects(train({ data, out, config: TINY }), /already holds a run: continue it with --resume/);
  });

  it('reports a truncated or corrupt checkpoint clearly', async () => {
    const out = join(work, 'corrupt');
    const result = await train({ data, out, config: TINY, maxSteps: 1 });
    const bin = join(result.checkpoint, 'state.bin');
    const bytes = await readFile(bin);
    await writeFile(bin, bytes.subarray(0, bytes.length - 8));
    await assert.rejects(loadCheckpoint(out), /state\.bin: \d+ bytes, cyclegan\.json expects \d+ \(truncated or corrupt\)/);
    await writeFile(join(result.checkpoint, 'cyclegan.json'), '{"format": "cyclegan-checkpoint", ');
    await assert.rejects(loadCheckpoint(out), /cyclegan\.json: corrupt JSON/);
    await assert.rejects(loadCheckpoint(join(work, 'nowhere')), /no such file or folder/);
    await assert.rejects(loadCheckpoint(data), /not a checkpoint/);
  });

  it('writes a sample per epoch, a log line per epoch, a loss plot and keeps the last N checkpoints', async () => {
    const out = join(work, 'artifacts');
    await train({ data, out, config: { ...TINY, epochs: 4, keep: 2 } });
    for (const e of [1, 2, 3, 4]) assert.ok(existsSync(join(out, 'samples', `epoch-000${e}.png`)));
    const lines = (await readFile(join(out, 'log.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(lines.length, 4);
    assert.ok(existsSync(join(out, 'losses.png')));
    const kept = (await import('node:fs')).readdirSync(join(out, 'checkpoints')).sort();
    assert.deepEqual(kept, ['epoch-0003', 'epoch-0004', 'latest']);
    const sharp = (await import('sharp')).default;
    const meta = await sharp(join(out, 'samples', 'epoch-0004.png')).metadata();
    assert.deepEqual([meta.width, meta.height], [96, 32], 'input | translation | reconstruction');
  });
});
