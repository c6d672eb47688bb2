/**
 * One trainer per run folder: RUN/train.lock names the process training in RUN (pid, its start
 * time as /proc has it, host, boot and command line). It is created whole or not at all (written
 * under a temporary name, then hard-linked into place, which fails when a lock is there), removed
 * when the trainer ends, and recognised as stale when its process is gone: a kill -9, a crash, a
 * reboot, or its pid reused by another process (a different start time).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describeWriteError } from '../util/atomic.ts';

export const LOCK_FILE = 'train.lock';

/** What a lock file holds. */
export interface LockOwner {
  pid: number;
  host: string;
  /** /proc/PID/stat's start time (clock ticks after boot): tells a reused pid from the locker. */
  start: string | null;
  /** /proc/sys/kernel/random/boot_id: a lock of an earlier boot is stale whatever its pid. */
  boot: string | null;
  since: string;
  command: string;
}

/** A second trainer: the message is the one line the CLI prints. */
export class RunLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    const where = owner.host === hostname() ? 'this machine' : `host ${owner.host}`;
    const hint =
      owner.host === hostname()
        ? `wait for it to end or stop it (kill ${owner.pid})`
        : `wait for it to end; if it no longer runs, delete ${join(dir, LOCK_FILE)}`;
    super(
      `${dir}: another trainer is training in this run folder (pid ${owner.pid} on ${where}, since ${owner.since}: ${owner.command}); nothing was touched: ${hint}`,
    );
    this.name = 'RunLockedError';
  }
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** State and start time of a process from /proc/PID/stat; null where there is no /proc or no such process. */
function procStat(pid: number): { state: string; start: string } | null {
  const text = readText(`/proc/${pid}/stat`);
  if (text === null) return null;
  // "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses, so count after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', start: fields[19] ?? '' };
}

const bootId = (): string | null => readText('/proc/sys/kernel/random/boot_id')?.trim() ?? null;

function self(): LockOwner {
  return {
    pid: process.pid,
    host: hostname(),
    start: procStat(process.pid)?.start ?? null,
    boot: bootId(),
    since: new Date().toISOString(),
    command: process.argv
      .slice(1)
      .map((a) => a.replace(/^.*\/(bin\/cyclegan\.js)$/, '$1'))
      .join(' '),
  };
}

function parseOwner(text: string | null): LockOwner | null {
  if (text === null) return null;
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0 || typeof o.host !== 'string') return null;
    return { start: null, boot: null, since: '?', command: '?', ...o } as LockOwner;
  } catch {
    return null;
  }
}

/** Whether the process a lock names still runs (a lock of another host is taken to be live: it cannot be checked from here). */
export function isLive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true;
  const boot = bootId();
  if (owner.boot && boot && owner.boot !== boot) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: it exists, under another user.
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const stat = procStat(owner.pid);
  if (stat === null) return !existsSync('/proc/self/stat');
  // A zombie has ended; a different start time is another process that got the same pid.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return owner.start === null || stat.start === owner.start;
}

/** The live trainer of `dir`, if any (a stale or missing lock: null). */
export function runLockHolder(dir: string): LockOwner | null {
  const owner = parseOwner(readText(join(dir, LOCK_FILE)));
  return owner && isLive(owner) ? owner : null;
}

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function writeSynced(path: string, text: string, flag: string): void {
  const fd = openSync(path, flag);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `path` holding `text`, whole, unless something is there already (then false). */
function createWhole(path: string, text: string): boolean {
  // Hidden, as the atomic writer's temporary names are: what a kill here leaves is no run file.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}-${randomBytes(4).toString('hex')}`);
  writeSynced(tmp, text, 'wx');
  try {
    linkSync(tmp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links: O_EXCL alone (a reader may then meet a lock being written).
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
    try {
      writeSynced(path, text, 'wx');
      return true;
    } catch (inner) {
      if ((inner as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw inner;
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}

const ageMs = (path: string): number => {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
};

/**
 * Removes the stale lock whose text was `stale`, unless it changed meanwhile: two trainers that
 * both found it stale must not remove the lock the faster one has just taken. The check and the
 * removal happen under a short-lived second lock.
 */
function removeStale(path: string, stale: string | null): void {
  const breaker = join(dirname(path), `.${basename(path)}.break`);
  try {
    writeSynced(breaker, `${process.pid}\n`, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A breaker lives for milliseconds: an old one was left by a process killed while breaking.
    if (ageMs(breaker) > 5000) unlinkSync(breaker);
    else sleep(20);
    return;
  }
  try {
    if (readText(path) === stale) unlinkSync(path);
  } finally {
    unlinkSync(breaker);
  }
}

export interface RunLock {
  readonly path: string;
  /** Removes the lock (only while it is still this process's); safe to call twice. */
  release(): void;
}

/**
 * Takes the lock of run folder `dir` (created when missing) or throws RunLockedError naming the
 * live trainer that holds it. A stale lock is replaced. The lock is released by `release()` and,
 * failing that, when the process exits.
 */
export function acquireRunLock(dir: string): RunLock {
  const created = !existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw describeWriteError(dir, error, 'folder');
  }
  const path = join(dir, LOCK_FILE);
  const text = `${JSON.stringify(self())}\n`;
  for (let attempt = 0; attempt < 100; attempt++) {
    if (createWhole(path, text)) return holding(dir, path, text, created);
    const found = readText(path);
    const owner = parseOwner(found);
    if (owner && isLive(owner)) throw new RunLockedError(dir, owner);
    // Unreadable: a lock being written without hard links (give it a moment), or garbage.
    if (!owner && found !== null && ageMs(path) < 2000) {
      sleep(50);
      continue;
    }
    if (found !== null) removeStale(path, found);
  }
  throw new Error(`${path}: could not take the run folder's lock (it keeps changing); try again`);
}

function holding(dir: string, path: string, text: string, created: boolean): RunLock {
  let held = true;
  const release = (): void => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    if (readText(path) === text) {
      try {
        unlinkSync(path);
      } catch {
        // removed by hand meanwhile
      }
    }
    // A run that failed before writing anything leaves no empty folder it made.
    if (created) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty: the run wrote into it
      }
    }
  };
  process.on('exit', release);
  return { path, release };
}
