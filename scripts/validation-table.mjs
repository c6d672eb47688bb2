#!/usr/bin/env node
// Prints the validation figures of training runs as one Markdown table, against CPU hours: what
// the recipe comparison and the shipped model's card quote. Reads each run's log.jsonl (the
// `type: "eval"` lines that --eval-every writes) and the floors and ceilings its first validation
// logged.
//
//   node scripts/validation-table.mjs LABEL=RUN_FOLDER [LABEL=RUN_FOLDER ...]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const runs = process.argv.slice(2).map((arg) => {
  const at = arg.indexOf('=');
  if (at < 1) {
    console.error(`usage: node scripts/validation-table.mjs LABEL=RUN_FOLDER ... (got '${arg}')`);
    process.exit(2);
  }
  return { label: arg.slice(0, at), dir: arg.slice(at + 1) };
});
if (runs.length === 0) {
  console.error('usage: node scripts/validation-table.mjs LABEL=RUN_FOLDER ...');
  process.exit(2);
}

const kid = (figures) => {
  if (!figures?.kid) return '—';
  const { mean, halfStd } = figures.kid;
  return halfStd === undefined ? mean.toFixed(2) : `${mean.toFixed(2)} ± ${halfStd.toFixed(2)}`;
};
const rate = (figures) => (figures?.classRate ? `${Math.round(figures.classRate.rate * 100)} %` : '—');

let baselines = null;
const rows = [];
for (const { label, dir } of runs) {
  const file = join(dir, 'log.jsonl');
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    console.error(`${file}: ${error.message}`);
    process.exit(1);
  }
  const evals = text
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      try {
        return JSON.parse(line);
      } catch {
        console.error(`${file}:${i + 1}: not JSON`);
        process.exit(1);
      }
    })
    .filter((line) => line.type === 'eval');
  baselines ??= evals.find((e) => e.baselines)?.baselines ?? null;
  for (const e of evals) {
    rows.push(
      `| ${label} | ${e.globalStep} | ${(e.cpuSeconds / 3600).toFixed(2)} | ${kid(e.AtoB)} | ${rate(e.AtoB)} | ${kid(e.BtoA)} | ${e.best ? 'best so far' : ''} |`,
    );
  }
}
console.log('| run | step | CPU hours | A→B KID×1000 | A→B target-class rate | B→A KID×1000 | |');
console.log('|---|---|---|---|---|---|---|');
for (const row of rows) console.log(row);
if (baselines) {
  const { AtoB, BtoA } = baselines;
  console.log(
    `| floor (untranslated) | | | ${kid(AtoB?.floor)} | ${rate(AtoB?.floor)} | ${kid(BtoA?.floor)} | |\n| ceiling (real) | | | ${kid(AtoB?.ceiling)} | ${rate(AtoB?.ceiling)} | ${kid(BtoA?.ceiling)} | |`,
  );
}
