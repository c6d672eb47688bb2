import { basename } from 'node:path';
import { useBackend } from '../../engine/backend.ts';
import { exportTfjs } from '../../export/tfjs.ts';
import type { Direction } from '../../infer/manifest.ts';
import { modelDirectionsOf } from '../../infer/model-folder.ts';
import type { WeightQuantization } from '../../models/io.ts';
import type { GlobalOptions } from '../options.ts';

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  await useBackend(globals.backend, { threads: globals.threads });
  // Without --direction: every generator the model has (a CUT model has A→B only).
  const directions: Direction[] = opts.direction
    ? [opts.direction as Direction]
    : ((await modelDirectionsOf(opts.model as string)) ?? ['AtoB', 'BtoA']);
  const out = opts.out as string;
  if (opts.format === 'tfjs') {
    const manifest = await exportTfjs(opts.model as string, out, directions, { quantize: opts.quantize as WeightQuantization | undefined });
    console.log(`exported ${Object.keys(manifest.directions).join(' and ')} (${manifest.generator}, ${manifest.size}px) to ${out}`);
    return 0;
  }
  if (opts.format === 'safetensors') {
    const { exportSafetensors } = await import('../../export/safetensors-export.ts');
    for (const { direction, file } of await exportSafetensors(opts.model as string, out, directions))
      console.log(`exported ${direction} to ${file}`);
    return 0;
  }
  // Loaded here so that a tfjs export never loads the ONNX exporter.
  const { exportOnnx } = await import('../../export/onnx-export.ts');
  await exportOnnx(opts.model as string, out, directions, {
    opset: opts.opset as number | undefined,
    onExported: ({ direction, file, bytes }) =>
      console.log(`exported ${direction} to ${file} (${(bytes / 1e6).toFixed(1)} MB, ${basename(file)})`),
  });
  return 0;
}
