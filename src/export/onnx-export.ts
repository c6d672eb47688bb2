/**
 * ONNX export of a model's generators to files, one .onnx per direction (what
 * `cyclegan export --format onnx` does):
 *
 *   OUT/AtoB.onnx   OUT/BtoA.onnx   (a CUT model: AtoB.onnx only)
 *   OUT.onnx        (one direction, with an out path ending in .onnx)
 *
 * Each file is the tfjs interface in ONNX (NHWC float32 'input' → 'output', see src/export/onnx.ts),
 * loadable by OnnxGenerator (src/infer/onnx-engine.ts), `cyclegan translate --engine onnx` and
 * any ONNX consumer.
 */
import { join } from 'node:path';
import type { Direction } from '../infer/manifest.ts';
import { locateGenerator, modelDirectionsOf } from '../infer/model-folder.ts';
import { loadLayersModel } from '../models/io.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { generatorToOnnx, type OnnxExportOptions } from './onnx.ts';

/** One exported generator. */
export interface OnnxExportedFile {
  direction: Direction;
  /** The .onnx file written (as onnxExportPath makes it from `out`). */
  file: string;
  /** Its size in bytes. */
  bytes: number;
  /** The model.json it was converted from. */
  source: string;
}

export interface ExportOnnxOptions extends OnnxExportOptions {
  /** Called after each direction's file is written, in export order (A→B first). */
  onExported?: (exported: OnnxExportedFile) => void;
}

/** Where `direction` goes: `out` itself when it names an .onnx file and one direction is exported, else OUT/DIRECTION.onnx. */
export function onnxExportPath(out: string, direction: Direction, count: number): string {
  return out.endsWith('.onnx') && count === 1 ? out : join(out, `${direction}.onnx`);
}

/**
 * Exports the generators of `model` (a checkpoint, run folder, RUN:best, export folder or a
 * folder with a model.json) as ONNX files under `out` (see onnxExportPath); returns what was
 * written, in order. Without `directions`, every generator the model has (A→B alone for CUT;
 * both when the source does not say, as a bare model.json folder). Each file is written
 * atomically (complete or absent); the first failure (a direction the model lacks, a layer ONNX
 * export cannot map, a write error) stops the export and is thrown, the files already written
 * stay. The tfjs backend must be set up (useBackend) before.
 */
export async function exportOnnx(
  model: string,
  out: string,
  directions?: Direction[],
  options: ExportOnnxOptions = {},
): Promise<OnnxExportedFile[]> {
  const chosen = directions ?? (await modelDirectionsOf(model)) ?? ['AtoB', 'BtoA'];
  const written: OnnxExportedFile[] = [];
  for (const direction of chosen) {
    const source = await locateGenerator(model, direction);
    const generator = await loadLayersModel(source.replace(/model\.json$/, ''));
    let bytes: Uint8Array;
    try {
      bytes = await generatorToOnnx(generator, { opset: options.opset });
    } finally {
      generator.dispose();
    }
    const file = onnxExportPath(out, direction, chosen.length);
    await writeFileAtomic(file, bytes);
    const exported: OnnxExportedFile = { direction, file, bytes: bytes.length, source };
    written.push(exported);
    options.onExported?.(exported);
  }
  return written;
}
