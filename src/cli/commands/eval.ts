import { describeBackend, useBackend } from '../../engine/backend.ts';
import type { Direction } from '../../eval/evaluator.ts';
import { evaluateModel } from '../../eval/evaluate.ts';
import type { EvalSplit } from '../../eval/images.ts';
import { formatReport } from '../../eval/report.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  await useBackend(globals.backend, { threads: globals.threads, winograd: true });
  const json = opts.json === true;
  // With --json, stdout holds the JSON only; progress goes to stderr.
  const progress = (m: string) => (json ? console.error(m) : console.log(m));
  if (!json) console.log(`backend: ${describeBackend()}`);
  const report = await evaluateModel({
    data: opts.data as string,
    split: opts.split as EvalSplit,
    valSplit: opts.valSplit as string | undefined,
    model: opts.model as string | undefined,
    direction: opts.direction as Direction | undefined,
    targetClass: opts.targetClass as string | undefined,
    sourceClass: opts.sourceClass as string | undefined,
    size: opts.size as number,
    subsets: opts.subsets as number,
    seed: opts.seed as number,
    onProgress: globals.verbose || !json ? progress : undefined,
    onWarning: (m) => console.warn(`warning: ${m}`),
  });
  if (json) console.log(JSON.stringify(report, null, 2));
  else console.log(`\n${formatReport(report)}`);
  return 0;
}
