import { startServer } from '../../serve/server.ts';
import { resolveCheckpointDir } from '../../infer/model-folder.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, _globals: GlobalOptions): Promise<number> {
  const modelDir = await resolveCheckpointDir(opts.model as string);
  // A fresh clone has no web/dist: the page is built on first use.
  const server = await startServer({ modelDir, port: opts.port as number, build: true });
  console.log(`serving ${modelDir} at ${server.url} (Ctrl-C to stop)`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}
