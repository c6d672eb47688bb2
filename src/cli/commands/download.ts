import { downloadDataset } from '../../data/download.ts';
import type { GlobalOptions } from '../options.ts';
import { downloadBar } from '../progress.ts';

export async function run(opts: Record<string, unknown>, _globals: GlobalOptions, args: string[]): Promise<number> {
  const name = args[0]!;
  const bar = downloadBar(name);
  try {
    const result = await downloadDataset(name, { dir: opts.dir as string | undefined, onProgress: bar.onProgress });
    bar.stop();
    console.log(
      result.downloaded
        ? `downloaded ${name} to ${result.path}${result.sha256 ? ` (sha256 ${result.sha256})` : ''}`
        : `${name} is already in ${result.path}`,
    );
    return 0;
  } finally {
    bar.stop();
  }
}
