/** The evaluation report as the table `cyclegan eval` prints. */
import type { EvalReport } from './evaluate.ts';
import type { Figures } from './evaluator.ts';

const DASH = '-';

function kid(f: Figures | undefined): string {
  return f ? `${f.kid.mean.toFixed(2)} ± ${(f.kid.halfStd ?? f.kid.std).toFixed(2)}` : DASH;
}

function rate(f: Figures | undefined): string {
  return f?.classRate ? f.classRate.rate.toFixed(3) : DASH;
}

function prob(f: Figures | undefined): string {
  return f?.classRate ? f.classRate.meanProb.toFixed(3) : DASH;
}

/** Left-aligned columns separated by two spaces; the first row is the header. */
export function formatColumns(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatReport(report: EvalReport): string {
  const withClass = report.directions.some((d) => d.targetClass !== undefined);
  const header = ['direction', 'sources', 'targets', 'KID×1000 model', 'floor', 'ceiling'];
  if (withClass) header.push('class', 'top-1 model', 'floor', 'ceiling', 'mean p model', 'floor', 'ceiling');
  const rows = [header];
  for (const d of report.directions) {
    const row = [d.direction === 'AtoB' ? 'A→B' : 'B→A', String(d.sources), String(d.targets), kid(d.model), kid(d.floor), kid(d.ceiling)];
    if (withClass) {
      row.push(d.targetClass ?? DASH, rate(d.model), rate(d.floor), rate(d.ceiling), prob(d.model), prob(d.floor), prob(d.ceiling));
    }
    rows.push(row);
  }
  const subsetSizes = [...new Set(report.directions.flatMap((d) => [d.floor.kid.subsetSize, d.ceiling.kid.subsetSize]))].join('/');
  return [
    `model:    ${report.model ?? '(none: floors and ceilings only)'}`,
    `images:   ${report.images} (${report.split}), at ${report.size}x${report.size}`,
    `features: ${report.featureNet}`,
    `KID:      ${report.subsets} subsets of ${subsetSizes}, seed ${report.seed}; mean ± spread x1000, lower is better (spread: the std over subsets of half the size, an upper estimate of the figure's standard error; the JSON also has the std over the full-size subsets, 0 when a subset is the whole set)`,
    `floor:    the sources untranslated; ceiling: KID of half the targets vs the other half, class rate of all targets`,
    '',
    formatColumns(rows),
  ].join('\n');
}
