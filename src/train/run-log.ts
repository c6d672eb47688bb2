/**
 * The run's log.jsonl (one line per epoch and per validation) and its losses.png: reading a log a
 * crash may have torn, cutting it back to the checkpoint a run continues from, and the plot.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.ts';
import { TRAIN_METHODS, type TrainMethod } from './config.ts';
import { lossNames, methodLabel } from './model.ts';
import { writeChartPng } from './plot.ts';
import { plotData, plotSpec, type LogLine } from './plot-spec.ts';

export type { LogLine };

export interface LogLines {
  lines: LogLine[];
  /** Lines that did not parse (a torn last line after a crash). */
  torn: number;
}

export async function readLog(logFile: string): Promise<LogLines> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines: LogLine[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      torn += 1;
    }
  }
  return { lines, torn };
}

/**
 * The checkpoint is the truth: on resume, log lines written after it (the run will redo those
 * steps) and lines a crash tore are dropped, with one notice, so the log matches the checkpoint.
 */
export async function repairLog(logFile: string, checkpointStep: number, warn: (m: string) => void): Promise<void> {
  if (!existsSync(logFile)) return;
  const { lines, torn } = await readLog(logFile);
  const kept = lines.filter((l) => (l.globalStep ?? 0) <= checkpointStep);
  const dropped = lines.length - kept.length;
  if (torn === 0 && dropped === 0) return;
  const what = [
    torn > 0 ? `${torn} torn line${torn > 1 ? 's' : ''}` : '',
    dropped > 0 ? `${dropped} line${dropped > 1 ? 's' : ''} past the checkpoint` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  warn(`${logFile}: dropped ${what} (the log now ends at the checkpoint's step ${checkpointStep})`);
  await writeFileAtomic(logFile, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

/**
 * Writes `out`, the run's figure: the loss curves (epoch means over the global step, with the epoch
 * ends marked) and, when the run validates, the validation KID×1000 and class rates per direction
 * against their floors and ceilings. A log with no lines yet gives a figure that says so. Returns
 * the PNG's size.
 */
export async function plotLosses(logFile: string, out: string, method: TrainMethod): Promise<{ width: number; height: number }> {
  const { lines } = await readLog(logFile);
  // The run's method's loss names first; the others' too, so that a log's own names are what shows.
  const known = [...lossNames(method), ...TRAIN_METHODS.flatMap((m) => lossNames(m, true))];
  return writeChartPng(out, plotSpec(plotData(lines, methodLabel(method), known)));
}
