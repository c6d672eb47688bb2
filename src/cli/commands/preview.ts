import { writePreview } from '../../data/preview.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, _globals: GlobalOptions): Promise<number> {
  const result = await writePreview(opts.data as string, opts.out as string, {
    n: opts.n as number,
    loadSize: opts.loadSize as number,
    cropSize: opts.cropSize as number,
    seed: opts.seed as number,
    overwrite: opts.overwrite === true,
    onWarning: (m) => console.warn(`warning: ${m}`),
  });
  if (result.skipped) console.log(`skipped: ${result.skipped}`);
  else console.log(`preview: ${result.path} (${result.width}x${result.height})`);
  return 0;
}
