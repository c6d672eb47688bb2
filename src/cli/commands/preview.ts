import { writePreview } from '../../data/preview.ts';
import type { GlobalOptions } from '../main.ts';

export async function run(opts: Record<string, unknown>, _globals: GlobalOptions): Promise<number> {
  const out = opts.out as string;
  const size = await writePreview(opts.data as string, out, {
    n: opts.n as number,
    loadSize: opts.loadSize as number,
    cropSize: opts.cropSize as number,
    seed: opts.seed as number,
    onWarning: (m) => console.warn(`warning: ${m}`),
  });
  console.log(`preview: ${out} (${size.width}x${size.height})`);
  return 0;
}
