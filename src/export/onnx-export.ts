/**
 * ONNX export of a model's generators to files, one .onnx per direction (what
 * `cyclegan export --format onnx` does):
 *
 *   OUT/AtoB.onnx   OUT/BtoA.onnx   (a CUT model: AtoB.onnx only)
 *   OUT/cyclegan.json {"format":"cyclegan-generators","engine":"onnx","generator":...,"size":...,
 *                      "directions":{"AtoB":"AtoB.onnx",...}}: OUT is a model folder that knows its
 *                      directions and training size, as a tfjs export folder does
 *   OUT.onnx        (one direction, with an out path ending in .onnx)
 *
 * Each file is the tfjs interface in ONNX (NHWC float32 'input' → 'output', see src/export/onnx.ts),
 * loadable by OnnxGenerator (src/infer/onnx-engine.ts), `cyclegan translate --engine onnx` and
 * any ONNX consumer.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import {
  EXPORT_FORMAT,
  MANIFEST_FILE,
  parseManifestText,
  parseModelManifest,
  type Direction,
  type ExportManifest,
} from '../infer/manifest.ts';
import { locateGenerator, modelDirectionsOf, onnxExportFile, openModel, readCheckpointMeta } from '../infer/model-folder.ts';
import { loadLayersModel } from '../models/io.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { refuseOutput, statOrNull } from '../util/out-folder.ts';
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
  return out.endsWith('.onnx') && count === 1 ? out : onnxExportFile(out, direction);
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
  // The files go beside whatever `out` holds; one of their names taken by a file this exporter did
  // not write is refused before any is written.
  for (const direction of chosen) claimOnnxFile(onnxExportPath(out, direction, chosen.length));
  const folder = !(out.endsWith('.onnx') && chosen.length === 1);
  if (folder) claimOnnxManifest(join(out, MANIFEST_FILE));
  const manifest = folder ? await onnxManifest(model) : null;
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
    if (manifest) manifest.directions[direction] = `${direction}.onnx`;
  }
  // Written last: a folder whose manifest lists a direction holds that direction's file.
  if (manifest) await writeFileAtomic(join(out, MANIFEST_FILE), `${JSON.stringify(manifest, null, 1)}\n`);
  return written;
}

/** The ONNX folder's manifest, its directions left to fill: what the source says of its method, architecture and size. */
async function onnxManifest(model: string): Promise<ExportManifest> {
  const manifest: ExportManifest = { format: EXPORT_FORMAT, version: 1, engine: 'onnx', directions: {} };
  const source = await openModel(model);
  if (source.kind === 'checkpoint' || source.kind === 'run') {
    const meta = await readCheckpointMeta(source.location);
    manifest.method = meta.config.method ?? 'cyclegan';
    manifest.generator = meta.config.generator;
    manifest.size = meta.config.cropSize;
    manifest.domains = { A: 'A', B: 'B' };
  } else if (source.manifest) {
    const { method, generator, size, domains } = source.manifest;
    Object.assign(manifest, JSON.parse(JSON.stringify({ method, generator, size, domains })) as Partial<ExportManifest>);
  }
  return manifest;
}

function isOnnxManifest(file: string, isFile: boolean): boolean {
  try {
    return isFile && parseModelManifest(parseManifestText(readFileSync(file, 'utf8'), file), file).engine === 'onnx';
  } catch {
    return false;
  }
}

/** Refuses a cyclegan.json in the way unless it is an earlier ONNX export's manifest. */
function claimOnnxManifest(file: string): void {
  const there = statOrNull(file);
  if (!there) return;
  if (!isOnnxManifest(file, there.isFile()))
    throw refuseOutput(file, 'exists and is not the manifest of an earlier ONNX export (a tfjs export is there?)', 'choose another --out');
}

/** The producer name generatorToOnnx writes (src/export/onnx.ts). */
const PRODUCER = 'cyclegan';

/**
 * Whether `file` starts as generatorToOnnx's ModelProto does: field 1 (ir_version, a varint), then
 * field 2 (producer_name) "cyclegan". Enough to tell an earlier export from anyone else's file.
 */
export function isOwnOnnx(file: string): boolean {
  const head = Buffer.alloc(32);
  let n: number;
  try {
    const fd = openSync(file, 'r');
    try {
      n = readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
  let i = 0;
  if (head[i++] !== 0x08) return false;
  while (i < n && head[i]! & 0x80) i++;
  i++;
  if (head[i++] !== 0x12 || head[i++] !== PRODUCER.length) return false;
  return i + PRODUCER.length <= n && head.toString('latin1', i, i + PRODUCER.length) === PRODUCER;
}

/** Throws the one-line refusal when `file` exists and is not an earlier ONNX export. */
function claimOnnxFile(file: string): void {
  const there = statOrNull(file);
  if (!there) return;
  if (there.isDirectory()) throw refuseOutput(file, 'is a folder, expected an .onnx file');
  if (!isOwnOnnx(file)) throw refuseOutput(file, 'exists and was not written by an export (not an ONNX file of this exporter)');
}
