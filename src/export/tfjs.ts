/**
 * The export folder: the generators alone, in tfjs layers format, with a manifest the web page and
 * every command read. `tf.loadLayersModel` loads each direction in Node or a browser (after the
 * custom layers are registered by importing the models entry point).
 *
 *   EXPORT/cyclegan.json  {"format":"cyclegan-generators","version":1,"method":...,"generator":...,"size":...,"directions":{"AtoB":"AtoB/model.json",...}}
 *   EXPORT/AtoB/{model.json,weights.bin}   EXPORT/BtoA/{model.json,weights.bin}   (a CUT model: AtoB only)
 */
import { join } from 'node:path';
import { writeDirAtomic, writeFileSynced } from '../util/atomic.ts';
import { loadLayersModel, saveLayersModel, type WeightQuantization } from '../models/io.ts';
import { EXPORT_FORMAT, noGenerator, type Direction, type ExportManifest } from '../infer/manifest.ts';
import { readCheckpointMeta as readMeta, resolveCheckpointDir } from '../infer/model-folder.ts';

/** The export manifest, with where it came from. */
export interface ExportedManifest extends ExportManifest {
  generator: string;
  size: number;
  source: { checkpoint: string; epoch: number; globalStep: number };
  quantization?: WeightQuantization;
}

export interface ExportTfjsOptions {
  /** Store the weights compactly (see saveLayersModel). */
  quantize?: WeightQuantization;
}

/**
 * Writes the export folder for a checkpoint or run folder; returns its manifest. Without
 * `directions`, every generator the checkpoint has (A→B alone for CUT).
 */
export async function exportTfjs(
  checkpoint: string,
  outDir: string,
  directions?: Direction[],
  options: ExportTfjsOptions = {},
): Promise<ExportedManifest> {
  const dir = await resolveCheckpointDir(checkpoint);
  const meta = await readMeta(dir);
  const method = meta.config.method ?? 'cyclegan';
  const chosen = directions ?? (['AtoB', 'BtoA'] as const).filter((d) => meta.generators[d]);
  for (const d of chosen) {
    if (!meta.generators[d]) throw new Error(`${join(dir, 'cyclegan.json')}: ${noGenerator(d, method)}`);
  }
  const manifest: ExportedManifest = {
    format: EXPORT_FORMAT,
    version: 1,
    method,
    generator: meta.config.generator,
    size: meta.config.cropSize,
    domains: { A: 'A', B: 'B' },
    directions: {},
    source: { checkpoint: dir, epoch: meta.position.epoch, globalStep: meta.position.globalStep },
  };
  if (options.quantize) manifest.quantization = options.quantize;
  await writeDirAtomic(outDir, async (tmp) => {
    for (const direction of chosen) {
      // Load and save again (not a file copy) so the export is known to load.
      const model = await loadLayersModel(join(dir, meta.generators[direction]!).replace(/model\.json$/, ''));
      try {
        await saveLayersModel(model, join(tmp, direction), { quantize: options.quantize });
      } finally {
        model.dispose();
      }
      manifest.directions[direction] = `${direction}/model.json`;
    }
    await writeFileSynced(join(tmp, 'cyclegan.json'), JSON.stringify(manifest, null, 1));
  });
  return manifest;
}
