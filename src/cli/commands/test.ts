import { describeBackend, useBackend } from '../../engine/backend.ts';
import { openModel } from '../../infer/model-folder.ts';
import { addEvaluationToReport, writeTestReport } from '../../infer/report.ts';
import type { Engine } from '../../infer/translator.ts';
import type { GlobalOptions } from '../options.ts';
import { countBar } from '../progress.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  const onnxModel = (await openModel(opts.model as string)).kind === 'onnx';
  const engine = (opts.engine as Engine | undefined) ?? (onnxModel ? 'onnx' : 'tfjs');
  // A tfjs backend reads a tfjs model (also when ONNX Runtime runs it, converted in memory) and runs
  // the evaluation's feature network.
  if (!onnxModel || opts.eval !== false) await useBackend(globals.backend, { threads: globals.threads, winograd: true });
  if (engine === 'tfjs') console.log(`backend: ${describeBackend()}`);
  const bar = countBar('test');
  const result = await writeTestReport({
    model: opts.model as string,
    data: opts.data as string,
    out: opts.out as string,
    engine,
    overwrite: opts.overwrite === true,
    maxPixels: opts.maxPixels as number | undefined,
    toOnnx: engine === 'onnx' ? (await import('../../export/onnx.ts')).generatorToOnnx : undefined,
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.stop();
  const n = result.rows.AtoB.length + result.rows.BtoA.length;
  if (opts.eval !== false) await evaluateIntoReport(opts, result.index);
  console.log(`report: ${result.index} (${n} test images${result.failed ? `, ${result.failed} failed` : ''})`);
  return result.failed > 0 ? 1 : 0;
}

/** The `cyclegan eval` figures of the test images, on the report page (or why there are none). */
async function evaluateIntoReport(opts: Record<string, unknown>, index: string): Promise<void> {
  const { evaluateModel } = await import('../../eval/evaluate.ts');
  const { formatReport } = await import('../../eval/report.ts');
  try {
    const report = await evaluateModel({
      model: opts.model as string,
      data: opts.data as string,
      split: 'test',
      targetClass: opts.targetClass as string | undefined,
      sourceClass: opts.sourceClass as string | undefined,
    });
    const text = formatReport(report);
    await addEvaluationToReport(
      index,
      text,
      'KID against the real test images of the target domain and the ImageNet class rate, each beside its floor (untranslated) and ceiling (real images); see docs/evaluation.md in the cyclegan repository.',
    );
    console.log(text);
  } catch (error) {
    const why = (error as Error).message.split('\n')[0]!;
    await addEvaluationToReport(index, why, 'No evaluation figures for these test images:');
    console.warn(`warning: no evaluation figures: ${why}`);
  }
}
