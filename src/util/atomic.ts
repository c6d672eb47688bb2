/**
 * Writes that never leave a half-written file or folder behind: everything is written under a
 * temporary sibling name, synced, then renamed into place. Every file and folder the project
 * writes (images, models, checkpoints, datasets, reports) goes through here.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, parse, resolve } from 'node:path';

/**
 * The file-system calls made here. Tests swap entries to inject what cannot be staged reliably
 * (a full or read-only disk: the tests run as root, so permissions prove nothing); production code
 * never changes them.
 */
export const atomicFs = { mkdir, mkdtemp, open, rename, rm, stat };

/** A hidden name beside `path` for work in progress (`.NAME.tmp-PID-RANDOM`); nothing is created. */
export function temporarySibling(path: string, what = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes and fsyncs a file (not atomic by itself: use inside a temporary folder, or writeFileAtomic). */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const file = await atomicFs.open(path, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = temporarySibling(path);
  try {
    await ensureDir(dirname(path));
    await writeFileSynced(tmp, data);
    await keepMode(path, tmp);
    await atomicFs.rename(tmp, path);
  } catch (error) {
    await atomicFs.rm(tmp, { force: true }).catch(() => {});
    throw describeWriteError(path, error);
  }
}

/** The permission bits a new folder gets here (0777 less the umask). */
export function defaultDirMode(): number {
  return 0o777 & ~process.umask();
}

/**
 * Gives `fresh` the permissions of what it replaces at `target` (or, for a folder with nothing to
 * replace, the usual ones: mkdtemp makes 0700), so that rewriting an output never changes who may
 * read it.
 */
async function keepMode(target: string, fresh: string, folder = false): Promise<void> {
  const old = await atomicFs.stat(target).catch(() => null);
  if (old) await chmod(fresh, old.mode & 0o7777);
  else if (folder) await chmod(fresh, defaultDirMode());
}

async function exists(path: string): Promise<boolean> {
  try {
    await atomicFs.stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/**
 * Puts the complete folder `ready` at `target`, replacing what was there. rename() cannot replace
 * a non-empty folder, so the old one is moved aside first and put back if the swap fails.
 */
export async function replaceDir(target: string, ready: string): Promise<void> {
  let old: string | null = null;
  if (await exists(target)) {
    old = temporarySibling(target, 'old');
    await atomicFs.rename(target, old);
  }
  try {
    await atomicFs.rename(ready, target);
  } catch (error) {
    if (old) await atomicFs.rename(old, target);
    throw error;
  }
  // The new folder is in place: failing to delete the old copy must not report the write as failed.
  if (old) await atomicFs.rm(old, { recursive: true, force: true }).catch(() => {});
}

/**
 * Fills a fresh temporary folder with `fill`, then swaps it in at `path`. Readers see either the
 * old folder or the complete new one.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  let tmp: string | null = null;
  try {
    await ensureDir(dirname(path));
    tmp = await atomicFs.mkdtemp(`${temporarySibling(path)}-`);
    await fill(tmp);
    await keepMode(path, tmp, true);
    await replaceDir(path, tmp);
  } catch (error) {
    if (tmp) await atomicFs.rm(tmp, { recursive: true, force: true }).catch(() => {});
    // A full disk met inside the temporary folder is reported for the folder the caller named.
    const inside = error instanceof WriteError && tmp !== null && error.path.startsWith(tmp) && DISK_CODES.has(error.code ?? '');
    throw describeWriteError(path, inside ? { code: (error as WriteError).code } : error);
  }
}

/** The nearest existing ancestor of `path` that is not a folder, if any (what ENOTDIR is about). */
function fileInTheWay(path: string): string | null {
  let p = resolve(path);
  const root = parse(p).root;
  for (;;) {
    try {
      return statSync(p).isDirectory() ? null : p;
    } catch {
      if (p === root) return null;
      p = dirname(p);
    }
  }
}

/** mkdir -p with one clear line when a file is in the way or the disk refuses. */
export async function ensureDir(path: string): Promise<void> {
  try {
    await atomicFs.mkdir(path, { recursive: true });
  } catch (error) {
    throw describeWriteError(path, error, 'folder');
  }
}

/** Is this one of our one-line write errors (so callers do not wrap it again)? */
export class WriteError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
    readonly code?: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'WriteError';
  }
}

const DISK_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS']);

export function describeWriteError(path: string, error: unknown, expected: 'file' | 'folder' = 'file'): Error {
  if (error instanceof WriteError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new WriteError(path, 'disk full, nothing was written', code);
  if (code === 'EDQUOT') return new WriteError(path, 'disk quota exceeded, nothing was written', code);
  if (code === 'EACCES' || code === 'EPERM') return new WriteError(path, 'permission denied', code);
  if (code === 'EROFS') return new WriteError(path, 'read-only file system, nothing was written', code);
  if (code === 'EISDIR') return new WriteError(path, `is a folder, expected a ${expected}`, code);
  if (code === 'ENOTDIR' || code === 'EEXIST') {
    const blocker = fileInTheWay(expected === 'folder' ? path : dirname(path));
    if (blocker === resolve(path)) return new WriteError(path, 'is a file, expected a folder', code);
    if (blocker) return new WriteError(path, `cannot be written: ${blocker} is a file, not a folder`, code);
  }
  return error instanceof Error ? error : new Error(String(error));
}
