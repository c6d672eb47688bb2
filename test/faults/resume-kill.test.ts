/**
 * What survives Ctrl-C and kill -9, through the command line a user runs: `cyclegan train` is
 * interrupted (SIGINT) or killed (SIGKILL, at seeded pseudo-random moments, again and again,
 * between step checkpoints) and continued with the command a user would type next; the run ends
 * bit for bit where an uninterrupted run ends, and its log matches, a torn last line repaired.
 * Only the child processes these tests spawn are signalled, by their own pid.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { train } from '../../src/train/loop.ts';
import { Rng } from '../../src/util/rng.ts';
import { scratch } from './helpers.ts';
import { assertSameState, logLines, runState } from './run-state.ts';

/** The command line must have made the same run as the library call: the config is compared too. */
const runStateWithConfig = (runDir: string) => runState(runDir, { config: true });

const CLI = fileURLToPath(new URL('../../bin/cyclegan.js', import.meta.url));
/** The SIGKILL series: how many kills, and the seed of their moments. */
const KILLS = 5;
const KILL_SEED = 2026;

let work: string;
let cleanup: () => Promise<void>;
let data: string;

before(async () => {
  ({ dir: work, cleanup } = await scratch('cyclegan-kill-'));
  // 4 A and 5 B images: the tutorial's epoch has 4 steps.
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 4, trainB: 5, testA: 1, testB: 1 });
});
after(async () => {
  await cleanup();
});

/** A tutorial-preset U-Net run, as library options and as the same options on the command line. */
function tinyRun(o: { epochs: number; seed: number; saveEvery: number; saveLatestEvery: number }) {
  const config: Partial<TrainConfig> = { preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 36, poolSize: 2, ...o };
  const flags = ['--preset', 'tutorial', '--ngf', '4', '--ndf', '4', '--crop-size', '32', '--load-size', '36', '--pool-size', '2'];
  flags.push(
    '--epochs',
    String(o.epochs),
    '--seed',
    String(o.seed),
    '--save-every',
    String(o.saveEvery),
    '--save-latest-every',
    String(o.saveLatestEvery),
  );
  return { config, flags };
}

interface Child {
  pid: number;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once the run prints its start line (after loading, before its first step); false if it exited first. */
  started: Promise<boolean>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running: () => boolean;
  signal: (s: NodeJS.Signals) => void;
}

function cyclegan(args: string[]): Child {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('exit', (code, signal) => res({ code, signal })),
  );
  const started = new Promise<boolean>((res) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d;
      if (/^(new run|resuming) /m.test(out)) res(true);
    });
    void exited.then(() => res(false));
  });
  child.stderr.on('data', (d: Buffer) => (err += d));
  void exited.then(() => (running = false));
  return {
    pid: child.pid!,
    stdout: () => out,
    stderr: () => err,
    started,
    exited,
    running: () => running,
    // ChildProcess.kill signals this pid only, and nothing once the child has exited.
    signal: (s) => child.kill(s),
  };
}

const latestName = async (runDir: string) => (await readFile(join(runDir, 'checkpoints', 'latest'), 'utf8').catch(() => '')).trim();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** Polls `ready` every 20 ms until it holds; fails if the child exits first. */
async function waitUntil(child: Child, ready: () => boolean | Promise<boolean>, what: string): Promise<void> {
  while (!(await ready())) {
    assert.ok(child.running(), `the child exited before ${what}: ${child.stderr()}`);
    await sleep(20);
  }
}

describe('Ctrl-C and early kills on cpu', () => {
  // Save options do not change what a run computes, so one reference serves both tests.
  const run = tinyRun({ epochs: 2, seed: 13, saveEvery: 1, saveLatestEvery: 0 });
  let reference: string;

  before(async () => {
    await useBackend('cpu');
    reference = join(work, 'cpu-reference');
    await train({ data, out: reference, config: run.config });
  });

  it('SIGINT mid-epoch writes a step checkpoint, and `train --resume` ends bit-identical to an uninterrupted run', async () => {
    // A 16-step epoch, so the interrupt sent after step 1 lands mid-epoch however fast the steps are.
    const longData = await writeSyntheticDataset(join(work, 'data-16'), { size: 32, trainA: 16, trainB: 16, seed: 3 });
    const long = tinyRun({ epochs: 1, seed: 13, saveEvery: 1, saveLatestEvery: 0 });
    const reference = join(work, 'sigint-reference');
    await train({ data: longData, out: reference, config: long.config });
    const out = join(work, 'sigint');
    const child = cyclegan(['--backend', 'cpu', 'train', '--data', longData, '--out', out, ...long.flags]);
    assert.ok(await child.started, child.stderr());
    // The progress bar first prints after step 1: interrupt then, mid-epoch.
    await waitUntil(child, () => /epoch 1\/1 \|/.test(child.stderr()), 'its first step');
    child.signal('SIGINT');
    const stopped = await child.exited;
    assert.deepEqual(stopped, { code: 0, signal: null }, child.stderr());
    assert.match(child.stdout(), new RegExp(`resume with: cyclegan train --resume ${out}`));
    const checkpoint = await latestName(out);
    assert.match(checkpoint, /^step-000000(0[1-9]|1[0-5])$/, 'a mid-epoch step checkpoint');

    const resumed = cyclegan(['--backend', 'cpu', 'train', '--resume', out]);
    assert.deepEqual(await resumed.exited, { code: 0, signal: null }, resumed.stderr());
    assert.match(resumed.stdout(), new RegExp(`resuming .*${checkpoint} at epoch 1, step ${Number(checkpoint.slice(5))}`));
    assertSameState(await runStateWithConfig(reference), await runStateWithConfig(out));
    assert.deepEqual(await logLines(out), await logLines(reference));
  });

  it('a run killed after its first log line but before its first checkpoint starts over with the same `train --out`, and its log holds only the new run’s lines', async () => {
    const out = join(work, 'kill-before-checkpoint');
    const early = tinyRun({ epochs: 2, seed: 13, saveEvery: 2, saveLatestEvery: 0 });
    const child = cyclegan(['--backend', 'cpu', 'train', '--data', data, '--out', out, ...early.flags]);
    // Epoch 1's line is written (the first checkpoint comes at the end of epoch 2): kill now.
    const log = join(out, 'log.jsonl');
    await waitUntil(child, async () => (await readFile(log, 'utf8').catch(() => '')).includes('\n'), 'its first log line');
    child.signal('SIGKILL');
    assert.equal((await child.exited).signal, 'SIGKILL');
    assert.equal(existsSync(join(out, 'checkpoints', 'latest')), false, 'killed before any checkpoint');
    // What the user runs next: the same command (here the library call it makes, stopped after epoch 1).
    await train({ data, out, config: early.config, maxSteps: 4 });
    assert.deepEqual(await logLines(out), (await logLines(reference)).slice(0, 1));
  });

  it('the half-written checkpoint folder a kill leaves under its temporary name is removed by the next session', async () => {
    const out = join(work, 'leftovers');
    await train({ data, out, config: run.config, maxSteps: 1 });
    // What a kill inside writeDirAtomic leaves: the folder being filled, named as util/atomic.ts names it.
    const leftover = join(out, 'checkpoints', '.step-00000002.tmp-999999-0badc0de-AbCdEf');
    await mkdir(join(leftover, 'G_AtoB'), { recursive: true });
    await writeFile(join(leftover, 'state.bin'), new Uint8Array(4096));
    await train({ out, resume: true, maxSteps: 2 });
    assert.deepEqual(readdirSync(join(out, 'checkpoints')).sort(), ['latest', 'step-00000002']);
  });
});

describe('kill -9 on wasm', () => {
  const run = tinyRun({ epochs: 3, seed: 17, saveEvery: 1, saveLatestEvery: 2 });
  let reference: string;
  /** The uninterrupted run's median time between steps. */
  let stepMs: number;

  before(async () => {
    await useBackend('wasm');
    reference = join(work, 'wasm-reference');
    const times: number[] = [];
    await train({ data, out: reference, config: run.config, onProgress: () => times.push(Date.now()) });
    const gaps = times
      .slice(1)
      .map((t, i) => t - times[i]!)
      .sort((a, b) => a - b);
    stepMs = gaps[Math.floor(gaps.length / 2)]!;
  });

  it(`${KILLS} SIGKILLs at seeded moments (seed ${KILL_SEED}), each followed by the user's next command, then a torn log line: the run ends bit-identical to an uninterrupted one`, async (t) => {
    const out = join(work, 'sigkill');
    const newRun = ['--backend', 'wasm', 'train', '--data', data, '--out', out, ...run.flags];
    const resume = ['--backend', 'wasm', 'train', '--resume', out];
    // The moments, uniform over a window of 1.5 steps' time: the first kill that long after the
    // run's start line (usually before its first checkpoint, so the next command is the same
    // `train --out` again); each later one that long after its session's first checkpoint, so it
    // lands in a step, a step checkpoint's write, or an epoch's log line, sample and checkpoint,
    // after work that a checkpoint does not hold yet. A session keeps 2 steps at most, so 5 of
    // them cannot finish the 12-step run, and the last command has steps left to redo.
    const moments = new Rng(KILL_SEED);
    const window = 1.5 * stepMs;
    let kept = 0;
    for (let k = 1; k <= KILLS; k++) {
      const from = await latestName(out);
      const child = cyclegan(from ? resume : newRun);
      assert.ok(await child.started, `session ${k} failed to start: ${child.stderr()}`);
      // Losing at most the work since the last checkpoint: each session starts from the latest.
      if (from) assert.match(child.stdout(), new RegExp(`resuming .*${from} at`));
      let after = 'its start line';
      if (k > 1) {
        await waitUntil(child, async () => ![from, ''].includes(await latestName(out)), 'its first checkpoint');
        after = `its first checkpoint (${await latestName(out)})`;
      }
      const delay = Math.floor(moments.next() * window);
      await sleep(delay);
      child.signal('SIGKILL');
      assert.equal((await child.exited).signal, 'SIGKILL', `kill ${k} came after the run ended: ${child.stderr()}`);
      const now = await latestName(out);
      if (now) {
        // A kill never leaves a broken checkpoint as the latest, nor loses one written before.
        const ckpt = await loadCheckpoint(out);
        for (const model of Object.values(ckpt.models)) model.dispose();
        assert.ok(
          ckpt.meta.position.globalStep >= kept,
          `the latest checkpoint went back from step ${kept} to ${ckpt.meta.position.globalStep}`,
        );
        kept = ckpt.meta.position.globalStep;
      }
      t.diagnostic(
        `kill ${k}: ${from ? `train --resume from ${from}` : 'train --out (no checkpoint yet)'}, killed ${delay} ms after ${after}; latest checkpoint now ${now || 'none'}`,
      );
    }
    // The last kill also tore the log: as if it died appending an epoch's line.
    await appendFile(join(out, 'log.jsonl'), '{"epoch":3,"globalStep":12,"steps":4,"lr":0.000');

    const last = cyclegan(resume);
    assert.deepEqual(await last.exited, { code: 0, signal: null }, last.stderr());
    const notices = last
      .stderr()
      .split('\n')
      .filter((l) => l.includes('log.jsonl: dropped'));
    assert.equal(notices.length, 1, last.stderr());
    assert.match(
      notices[0]!,
      /^warning: .*log\.jsonl: dropped 1 torn line( and \d+ lines? past the checkpoint)? \(the log now ends at the checkpoint's step \d+\)$/,
    );
    t.diagnostic(`then train --resume from step ${kept} to the end (step 12); uninterrupted steps took ${stepMs} ms`);
    assertSameState(await runStateWithConfig(reference), await runStateWithConfig(out));
    assert.deepEqual(await logLines(out), await logLines(reference));
    const litter = readdirSync(join(out, 'checkpoints')).filter((n) => n.startsWith('.'));
    t.diagnostic(`temporary entries interrupted writes left in checkpoints/: ${litter.join(', ') || 'none'}`);
  });
});
