/**
 * One trainer per run folder: a second `cyclegan train` on a folder another process trains in
 * stops at once, naming that process, and touches nothing; a lock left by a kill -9 (or naming a
 * pid that now belongs to another process) is stale and taken over.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { useBackend } from '../../src/engine/backend.ts';
import { train } from '../../src/train/loop.ts';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../../src/train/run-lock.ts';
import { scratch } from '../faults/helpers.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const CHILD = fileURLToPath(new URL('./run-lock.child.ts', import.meta.url));
let work: { dir: string; cleanup: () => Promise<void> };
let run: string;
let data: string;

before(async () => {
  await useBackend('cpu');
  work = await scratch('cyclegan-run-lock-');
  ({ run, data } = await trainTinyRun(work.dir));
});
after(() => work.cleanup());

/** Every file under `dir` with its mtime and hash: what "touching nothing" compares. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const info = statSync(path);
      if (info.isDirectory()) walk(path);
      else out[relative(dir, path)] = `${info.mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    }
  };
  walk(dir);
  return out;
}

/** A process of the given command line; `line(re)` resolves with the first stdout line matching re. */
function start(args: string[]) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  const line = (re: RegExp) =>
    new Promise<string>((res, rej) => {
      const look = () => {
        const hit = out.split('\n').find((l) => re.test(l));
        if (hit !== undefined) return res(hit);
        if (child.exitCode !== null) return rej(new Error(`exited first: ${out}${err}`));
        setTimeout(look, 25);
      };
      look();
    });
  return { child, line, exited, output: () => out + err };
}

/** A process that takes `dir`'s lock and holds it `hold` ms (until killed when absent). */
const locker = (dir: string, hold?: number) => start(['--import', 'tsx', CHILD, dir, ...(hold === undefined ? [] : [String(hold)])]);

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'cpu', ...args], { encoding: 'utf8' });

/** The CLI refused with one `cyclegan:` line naming the holder and the folder. */
function assertRefused(result: ReturnType<typeof cli>, pid: number, dir: string): void {
  assert.equal(result.status, 1, result.stdout + result.stderr);
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('cyclegan:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.ok(lines[0]!.startsWith(`cyclegan: ${dir}: another trainer is training in this run folder (pid ${pid} `), lines[0]);
  assert.doesNotMatch(result.stdout, /resuming|new run/);
}

describe('a second trainer on a run folder', () => {
  it('stops at once with one line naming the first process and the folder, touching nothing; after a kill -9 the lock is stale', async () => {
    const first = locker(run);
    const pid = Number((await first.line(/^locked /)).split(' ')[1]);
    const before = snapshot(run);
    const started = Date.now();
    assertRefused(cli('train', '--resume', run, '--max-steps', '3'), pid, run);
    assertRefused(cli('train', '--out', run, '--data', data, '--max-steps', '3'), pid, run);
    assert.ok(Date.now() - started < 20_000, 'refused before any training');
    await assert.rejects(
      train({ out: run, resume: true, maxSteps: 3 }),
      (e: Error) => e instanceof RunLockedError && e.message.includes(`pid ${pid} `),
    );
    assert.deepEqual(snapshot(run), before, 'nothing in the run folder changed');

    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(existsSync(join(run, LOCK_FILE)), 'a kill -9 leaves its lock');
    const resumed = cli('train', '--resume', run, '--max-steps', '2');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, /resuming .* at epoch/);
    assert.ok(!existsSync(join(run, LOCK_FILE)), 'released at exit');
  });

  it('a real trainer: the second `train --resume` is refused while it runs, and its lock is stale once it is killed', async () => {
    const trainer = start(['bin/cyclegan.js', '--backend', 'cpu', 'train', '--resume', run, '--max-steps', '100000']);
    try {
      await trainer.line(/^resuming /);
      assertRefused(cli('train', '--resume', run, '--max-steps', '3'), trainer.child.pid!, run);
    } finally {
      trainer.child.kill('SIGKILL');
      await trainer.exited;
    }
    const lock = acquireRunLock(run);
    lock.release();
    assert.ok(!existsSync(join(run, LOCK_FILE)));
  });
});

describe('the lock file', () => {
  const lockOf = (dir: string, owner: Record<string, unknown>) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ host: hostname(), since: 'then', command: 'x', ...owner }));
  };
  const ownStart = () => JSON.parse(readFileSync(join(run, LOCK_FILE), 'utf8')) as { start: string; boot: string };

  it('is this process while held, and one lock at a time even within a process', () => {
    const lock = acquireRunLock(run);
    try {
      assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
      assert.throws(() => acquireRunLock(run), RunLockedError);
    } finally {
      lock.release();
    }
    lock.release();
    assert.ok(!existsSync(join(run, LOCK_FILE)));
  });

  it('is stale when its pid now belongs to another process, is of an earlier boot, or is an old unreadable file', () => {
    const held = acquireRunLock(run);
    const { start, boot } = ownStart();
    held.release();
    const dir = join(work.dir, 'stale');
    for (const owner of [
      { pid: process.pid, start: `${start}0`, boot },
      { pid: process.pid, start, boot: `${boot}-earlier` },
    ]) {
      lockOf(dir, owner);
      acquireRunLock(dir).release();
      assert.ok(!existsSync(join(dir, LOCK_FILE)));
    }
    writeFileSync(join(dir, LOCK_FILE), '{"pid": 12');
    utimesSync(join(dir, LOCK_FILE), new Date(0), new Date(0));
    acquireRunLock(dir).release();
    // Live: this very process, with its start time.
    lockOf(dir, { pid: process.pid, start, boot });
    assert.throws(() => acquireRunLock(dir), new RegExp(`pid ${process.pid} on this machine.*kill ${process.pid}`));
  });

  it('of another host is taken to be live, and the message says how to clear it', () => {
    const dir = join(work.dir, 'remote');
    lockOf(dir, { pid: 1, host: 'elsewhere' });
    assert.throws(() => acquireRunLock(dir), /pid 1 on host elsewhere.*if it no longer runs, delete .*remote\/train\.lock/);
  });

  it('two processes racing for a stale lock: exactly one gets it', async () => {
    const dir = join(work.dir, 'race');
    const gone = spawnSync(process.execPath, ['-e', '']).pid;
    lockOf(dir, { pid: gone, start: null, boot: null });
    const racers = [locker(dir, 4000), locker(dir, 4000), locker(dir, 4000)];
    const lines = await Promise.all(racers.map((r) => r.line(/^(locked|refused) /)));
    await Promise.all(racers.map((r) => r.exited));
    const winners = lines.filter((l) => l.startsWith('locked '));
    assert.equal(winners.length, 1, lines.join('\n'));
    const pid = winners[0]!.split(' ')[1];
    for (const l of lines.filter((x) => x.startsWith('refused '))) assert.match(l, new RegExp(`pid ${pid} `));
    assert.ok(!existsSync(join(dir, LOCK_FILE)), 'the winner released it');
  });

  it('a run that fails before it writes anything leaves no folder behind, and a finished run no lock', async () => {
    const dir = join(work.dir, 'never');
    await assert.rejects(train({ out: dir }), /train needs --data/);
    assert.ok(!existsSync(dir));
    assert.ok(!existsSync(join(run, LOCK_FILE)));
  });
});
