import { useBackend } from '../../engine/backend.ts';
import { importOfficial } from '../../export/official-import.ts';
import type { Direction } from '../../infer/manifest.ts';
import type { OfficialGenerator } from '../../models/official-generators.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions, args: string[]): Promise<number> {
  await useBackend(globals.backend, { threads: globals.threads });
  const imported = await importOfficial({
    files: args,
    net: opts.net as OfficialGenerator | undefined,
    ngf: opts.ngf as number | undefined,
    direction: opts.direction as Direction | undefined,
    out: opts.out as string,
    onInferred: (line) => console.log(line),
  });
  console.log(`imported ${imported.map((g) => g.direction).join(' and ')} to ${opts.out as string}`);
  return 0;
}
