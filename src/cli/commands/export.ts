import { basename, join } from 'node:path';
import { useBackend } from '../../engine/backend.ts';
import { exportTfjs } from '../../export/tfjs.ts';
import { locateGenerator, modelDirectionsOf, type Direction } from '../../infer/translator.ts';
import { loadLayersModel, type WeightQuantization } from '../../models/io.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import type { GlobalOptions } from '../main.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  await useBackend(globals.backend, { threads: globals.threads });
  // Without --direction: every generator the model has (a CUT model has A→B only).
  const directions: Direction[] = opts.direction ? [opts.direction as Direction] : ((await modelDirectionsOf(opts.model as string)) ?? ['AtoB', 'BtoA']);
  const out = opts.out as string;
  if (opts.format === 'tfjs') {
    const manifest = await exportTfjs(opts.model as string, out, directions, { quantize: opts.quantize as WeightQuantization | undefined });
    console.log(`exported ${Object.keys(manifest.directions).join(' and ')} (${manifest.generator}, ${manifest.size}px) to ${out}`);
    return 0;
  }
  const { exportGeneratorToOnnx } = await import('../../export/onnx.ts');
  for (const direction of directions) {
    const modelJson = await locateGenerator(opts.model as string, direction);
    const model = await loadLayersModel(modelJson.replace(/model\.json$/, ''));
    let bytes: Uint8Array;
    try {
      bytes = exportGeneratorToOnnx(model);
    } finally {
      model.dispose();
    }
    const file = out.endsWith('.onnx') && directions.length === 1 ? out : join(out, `${direction}.onnx`);
    await writeFileAtomic(file, bytes);
    console.log(`exported ${direction} to ${file} (${(bytes.length / 1e6).toFixed(1)} MB, ${basename(file)})`);
  }
  return 0;
}
