/**
 * The run's log.jsonl (one line per epoch and per validation) and its losses.png: reading a log a
 * crash may have torn, cutting it back to the checkpoint a run continues from, and the plot.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic.ts';
import type { TrainMethod } from './config.ts';
import { lossNames, methodLabel } from './model.ts';
import { writeChartPanels, type Series } from './plot.ts';

export type LogLine = Record<string, unknown> & { globalStep?: number; epoch?: number; type?: string };

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
  const what = [torn > 0 ? `${torn} torn line${torn > 1 ? 's' : ''}` : '', dropped > 0 ? `${dropped} line${dropped > 1 ? 's' : ''} past the checkpoint` : '']
    .filter(Boolean)
    .join(' and ');
  warn(`${logFile}: dropped ${what} (the log now ends at the checkpoint's step ${checkpointStep})`);
  await writeFileAtomic(logFile, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

/** The loss curves (epoch means) and, when the run validates, the validation KID against steps. */
export async function plotLosses(logFile: string, out: string, method: TrainMethod): Promise<void> {
  const { lines } = await readLog(logFile);
  const epochs = lines.filter((l) => l.type === undefined && l.epoch !== undefined);
  const value = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  const panels: { series: Series[]; title: string; xLabel: string }[] = [
    { series: lossNames(method).map((name) => ({ name, values: epochs.map((l) => value(l[name])) })), title: `${methodLabel(method)} losses (epoch means)`, xLabel: 'epoch' },
  ];
  const evals = lines.filter((l) => l.type === 'eval');
  if (evals.length > 0) {
    const kid = (d: string) => evals.map((l) => value((l[d] as { kid?: { mean?: number } } | undefined)?.kid?.mean));
    // A one-direction model (CUT) has no B→A figures to plot.
    const series = [{ name: 'KID×1000 A→B', values: kid('AtoB') }, { name: 'KID×1000 B→A', values: kid('BtoA') }].filter((s) => s.values.some(Number.isFinite));
    panels.push({
      series,
      title: `validation KID×1000 (every ${evals.length > 1 ? value(evals[1]!.globalStep) - value(evals[0]!.globalStep) : value(evals[0]!.globalStep)} steps)`,
      xLabel: 'validation',
    });
  }
  await writeChartPanels(out, panels);
}
