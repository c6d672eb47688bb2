import cliProgress from 'cli-progress';
import { describeBackend, useBackend } from '../../engine/backend.ts';
import { writeTestReport } from '../../infer/report.ts';
import type { Engine } from '../../infer/translator.ts';
import type { GlobalOptions } from '../main.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  if (opts.engine === 'tfjs') {
    await useBackend(globals.backend, { threads: globals.threads });
    console.log(`backend: ${describeBackend()}`);
  }
  const bar = new cliProgress.SingleBar(
    { format: 'test |{bar}| {value}/{total}', noTTYOutput: !process.stderr.isTTY, notTTYSchedule: 5000 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  const result = await writeTestReport({
    model: opts.model as string,
    data: opts.data as string,
    out: opts.out as string,
    engine: opts.engine as Engine,
    overwrite: opts.overwrite === true,
    maxPixels: opts.maxPixels as number | undefined,
    onProgress: (done, total) => {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.update(done);
    },
  });
  bar.stop();
  const n = result.rows.AtoB.length + result.rows.BtoA.length;
  console.log(`report: ${result.index} (${n} test images${result.failed ? `, ${result.failed} failed` : ''})`);
  return result.failed > 0 ? 1 : 0;
}
