import { run as runDemo } from '../../demo.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  await runDemo({
    out: opts.out as string,
    steps: opts.steps as number | undefined,
    seed: opts.seed as number,
    synthetic: opts.synthetic === true,
    backend: globals.backend,
    threads: globals.threads,
  });
  return 0;
}
