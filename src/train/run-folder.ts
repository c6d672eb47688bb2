/**
 * The folder rule for a run folder: a run writes checkpoints/, samples/, log.jsonl, losses.png
 * and its lock beside whatever else the folder holds, and a new run starts over only what an
 * earlier run of that folder wrote and left without a checkpoint (a crash before the first one).
 * Anything else at one of those names is refused, by name, before anything is written.
 */
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BEST_CHECKPOINT, isCheckpointName, LATEST_POINTER } from '../infer/model-folder.ts';
import { firstForeign, refuseOutput, statOrNull } from '../util/out-folder.ts';
import { LOCK_FILE, runLockHolder } from './run-lock.ts';

/** The names a run writes at the top of its folder. */
export const RUN_ENTRIES: readonly string[] = ['checkpoints', 'samples', 'log.jsonl', 'losses.png', LOCK_FILE];

/** A hidden name of the atomic writer (util/atomic.ts) or the lock's: work in progress of a run. */
const inProgress = (name: string) => name.startsWith('.');

/** Why `file` is not a run's log (every line an object with a step; a crash may tear one), or null when it is. */
function notARunLog(file: string): string | null {
  if (!statOrNull(file)?.isFile()) return 'is not a file';
  let torn = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const parsed = JSON.parse(line) as unknown;
      if (parsed === null || typeof parsed !== 'object' || typeof (parsed as { globalStep?: unknown }).globalStep !== 'number') {
        return `holds a line that is not a training log line: ${line.slice(0, 60)}`;
      }
    } catch {
      if (++torn > 1) return `holds lines that are not JSON: ${line.slice(0, 60)}`;
    }
  }
  return null;
}

/** The first thing under one of a run's names that no run wrote, as [path, why]; null when there is none. */
export function foreignInRunFolder(runDir: string): [string, string] | null {
  const log = join(runDir, 'log.jsonl');
  const hasLog = statOrNull(log) !== null;
  const why = hasLog ? notARunLog(log) : null;
  if (why) return [log, `${why} (not a log a training run wrote)`];
  const losses = join(runDir, 'losses.png');
  if (statOrNull(losses) && !hasLog) return [losses, 'was not drawn by a training run (the folder has no log.jsonl)'];
  const folders: [string, (n: string) => boolean][] = [
    ['samples', (n) => /^epoch-\d+\.png$/.test(n) || inProgress(n)],
    ['checkpoints', (n) => isCheckpointName(n) || n === LATEST_POINTER || n === BEST_CHECKPOINT || inProgress(n)],
  ];
  for (const [name, own] of folders) {
    const path = join(runDir, name);
    const there = statOrNull(path);
    if (there && !there.isDirectory()) return [path, 'is a file, where a run keeps a folder'];
    const foreign = firstForeign(path, own);
    if (foreign) return [foreign, `is not a file a training run writes into ${name}/`];
  }
  return null;
}

/** Throws the one-line refusal when a new run in `runDir` would write over something no run wrote. */
export function claimNewRunFolder(runDir: string): void {
  const foreign = foreignInRunFolder(runDir);
  if (foreign) throw refuseOutput(foreign[0], foreign[1], 'move it or choose another --out');
}

/**
 * Throws the one-line refusal unless `runDir` may be deleted whole (what the demo does before it
 * trains again): missing, or holding a run's files and nothing else, with no trainer in it.
 */
export function claimRunFolderToReplace(runDir: string): void {
  const there = statOrNull(runDir);
  if (!there) return;
  if (!there.isDirectory()) throw refuseOutput(runDir, 'is a file, expected a run folder');
  const other = firstForeign(runDir, (n) => RUN_ENTRIES.includes(n) || inProgress(n));
  if (other) throw refuseOutput(other, 'was not written by a training run, and its run folder is to be replaced');
  const foreign = foreignInRunFolder(runDir);
  if (foreign) throw refuseOutput(foreign[0], `${foreign[1]}, and its run folder is to be replaced`);
  const holder = runLockHolder(runDir);
  if (holder) throw refuseOutput(runDir, `a trainer is training in it (pid ${holder.pid})`, 'wait for it to end');
}

/** Deletes a run folder that claimRunFolderToReplace accepts; refuses any other. */
export async function removeRunFolder(runDir: string): Promise<void> {
  claimRunFolderToReplace(runDir);
  await rm(runDir, { recursive: true, force: true });
}
