import { describeBackend, useBackend } from '../../engine/backend.ts';
import { expandInputs, translateFiles } from '../../infer/batch.ts';
import { openModel } from '../../infer/model-folder.ts';
import { loadTranslator, type Direction, type Engine } from '../../infer/translator.ts';
import { ensureDir } from '../../util/atomic.ts';
import type { GlobalOptions } from '../options.ts';
import { countBar } from '../progress.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions, args: string[]): Promise<number> {
  const model = await openModel(opts.model as string);
  const onnxModel = model.kind === 'onnx';
  const engine = (opts.engine as Engine | undefined) ?? (onnxModel ? 'onnx' : 'tfjs');
  // A tfjs model is read through a tfjs backend, also when ONNX Runtime is to run it (converted in memory).
  if (!onnxModel) await useBackend(globals.backend, { threads: globals.threads, winograd: true });
  console.log(engine === 'tfjs' ? `backend: ${describeBackend()}` : 'engine: onnxruntime-node (cpu)');
  const files = await expandInputs(args, (m) => console.warn(`warning: ${m}`));
  // A bad --out fails now, not after the model is loaded and the progress bar started.
  await ensureDir(opts.out as string);
  const toOnnx = engine === 'onnx' ? (await import('../../export/onnx.ts')).generatorToOnnx : undefined;
  const translator = await loadTranslator(model, { direction: opts.direction as Direction, engine, toOnnx });
  const bar = countBar('translate');
  bar.update(0, files.length);
  try {
    const result = await translateFiles(translator, files, opts.out as string, {
      format: opts.format as 'png' | 'jpg' | undefined,
      overwrite: opts.overwrite === true,
      maxPixels: opts.maxPixels as number | undefined,
      onProgress: (done, file) => bar.update(done, files.length, file),
    });
    bar.stop();
    for (const s of result.skipped) console.log(`skipped: ${s.input}: ${s.reason}`);
    for (const f of result.failed) console.error(`failed: ${f.error.startsWith(f.input) ? f.error : `${f.input}: ${f.error}`}`);
    const notes = [
      result.skipped.length ? `${result.skipped.length} skipped` : '',
      result.failed.length ? `${result.failed.length} failed` : '',
    ].filter(Boolean);
    console.log(
      `${result.written.length} translated (${translator.direction}) into ${opts.out}${notes.length ? `, ${notes.join(', ')}` : ''}`,
    );
    return result.failed.length > 0 ? 1 : 0;
  } finally {
    bar.stop();
    translator.dispose();
  }
}
