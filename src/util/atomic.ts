/**
 * Writes that never leave a half-written file or folder behind: everything is written under a
 * temporary sibling name, synced, then renamed into place. Every file and folder the project
 * writes (images, models, checkpoints, datasets, reports) goes through here.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

function temporarySibling(path: string, what = 'tmp'): string {
  return join(dirname(path), `.${basename(path)}.${what}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes and fsyncs a file (not atomic by itself: use inside a temporary folder, or writeFileAtomic). */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const file = await open(path, 'w');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await writeFileSynced(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw describeWriteError(path, error);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
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
    await rename(target, old);
  }
  try {
    await rename(ready, target);
  } catch (error) {
    if (old) await rename(old, target);
    throw error;
  }
  if (old) await rm(old, { recursive: true, force: true });
}

/**
 * Fills a fresh temporary folder with `fill`, then swaps it in at `path`. Readers see either the
 * old folder or the complete new one.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = await mkdtemp(`${temporarySibling(path)}-`);
  try {
    await fill(tmp);
    await replaceDir(path, tmp);
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw describeWriteError(path, error);
  }
}

function describeWriteError(path: string, error: unknown): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC') return new Error(`${path}: disk full, nothing was written`);
  if (code === 'EACCES' || code === 'EPERM') return new Error(`${path}: permission denied`);
  if (code === 'EROFS') return new Error(`${path}: read-only file system`);
  return error instanceof Error ? error : new Error(String(error));
}
