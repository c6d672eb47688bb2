/** Writes that never leave a half-written file or folder behind (temporary name, then rename). */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

function temporarySibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw describeWriteError(path, error);
  }
}

/**
 * Fills a fresh temporary folder with `fill`, then renames it to `path` (replacing an existing
 * folder there). Readers see either the old folder or the complete new one.
 */
export async function writeDirAtomic(path: string, fill: (dir: string) => Promise<void>): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = temporarySibling(path);
  try {
    await mkdir(tmp);
    await fill(tmp);
    const old = temporarySibling(path);
    await rename(path, old).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
    await rename(tmp, path);
    await rm(old, { recursive: true, force: true });
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
