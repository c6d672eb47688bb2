/**
 * The export folder: the generators alone, in tfjs layers format, with a manifest the web page and
 * every command read. `tf.loadLayersModel` loads each direction in Node or a browser (after the
 * custom layers are registered by importing the models entry point).
 *
 *   EXPORT/cyclegan.json  {"format":"cyclegan-generators","version":1,"method":...,"generator":...,"size":...,"directions":{"AtoB":"AtoB/model.json",...}}
 *   EXPORT/AtoB/{model.json,weights.bin}   EXPORT/BtoA/{model.json,weights.bin}   (a CUT model: AtoB only)
 */
import type * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describeWriteError, ensureDir, replaceDir, temporarySibling, writeFileAtomic, WriteError } from '../util/atomic.ts';
import { firstForeign, refuseOutput, statOrNull } from '../util/out-folder.ts';
import { loadLayersModel, saveLayersModel, type WeightQuantization } from '../models/io.ts';
import { DIRECTIONS, EXPORT_FORMAT, MANIFEST_FILE, noGenerator, type Direction, type ExportManifest } from '../infer/manifest.ts';
import { generatorFile, openModel, readCheckpointMeta as readMeta, readManifest, resolveCheckpointDir } from '../infer/model-folder.ts';

/** The export manifest, with where it came from. */
export interface ExportedManifest extends ExportManifest {
  generator: string;
  size: number;
  /** The checkpoint it was exported from, or the export (or embedded model) it was written again from. */
  source: { checkpoint: string; epoch: number; globalStep: number } | { export: string; source?: unknown };
  quantization?: WeightQuantization;
}

export interface ExportTfjsOptions {
  /** Store the weights compactly (see saveLayersModel). */
  quantize?: WeightQuantization;
}

/**
 * Writes the export for a checkpoint or run folder into `outDir` (beside any other files there,
 * see claimExportFolder); returns its manifest. Without `directions`, every generator the
 * checkpoint has (A→B alone for CUT).
 */
export async function exportTfjs(
  checkpoint: string,
  out: string,
  directions?: Direction[],
  options: ExportTfjsOptions = {},
): Promise<ExportedManifest> {
  const model = await openModel(checkpoint);
  if (model.kind === 'export') return reexport(model.location, out, directions, options);
  if (model.kind === 'onnx' && model.onnxFiles) {
    throw new Error(
      `${checkpoint}: an ONNX export folder cannot be exported again (ONNX does not convert back to tfjs); export from the run, checkpoint or export folder it came from`,
    );
  }
  if (model.kind === 'onnx' || model.kind === 'layers') {
    throw new Error(
      `${checkpoint}: a bare ${model.kind === 'onnx' ? '.onnx file' : 'model.json'} says nothing of its directions or training size; export from the run, checkpoint or export folder it came from`,
    );
  }
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
  return writeFrom(
    chosen.map((d) => [d, join(dir, meta.generators[d]!)]),
    out,
    manifest,
    options,
  );
}

/**
 * An export folder (an embedded model too) written again: another quantization, or the directions
 * it has; its manifest carries over with where it came from.
 */
async function reexport(
  dir: string,
  out: string,
  directions: Direction[] | undefined,
  options: ExportTfjsOptions,
): Promise<ExportedManifest> {
  if (resolve(dir) === resolve(out)) throw refuseOutput(out, 'is the export being read', 'choose another --out');
  const model = await openModel(dir);
  const { raw, manifest: parsed } = await readManifest(dir);
  const chosen = directions ?? DIRECTIONS.filter((d) => parsed.directions[d]);
  const files = chosen.map((d) => [d, generatorFile(model, d)] as [Direction, string]);
  const { quantization: _was, directions: _dirs, source, ...rest } = raw as Record<string, unknown>;
  const manifest = {
    ...rest,
    format: EXPORT_FORMAT,
    version: 1,
    directions: {},
    source: { export: dir, ...(source ? { source } : {}) },
  } as ExportedManifest;
  return writeFrom(files, out, manifest, options);
}

/** Loads each direction's generator and writes them (loaded and saved again, so the export is known to load). */
async function writeFrom(
  files: [Direction, string][],
  out: string,
  manifest: ExportedManifest,
  options: ExportTfjsOptions,
): Promise<ExportedManifest> {
  if (options.quantize) manifest.quantization = options.quantize;
  const models = new Map<Direction, tf.LayersModel>();
  try {
    for (const [d, file] of files) models.set(d, await loadLayersModel(file.replace(/model\.json$/, '')));
    await writeExportFolder(out, models, manifest, options.quantize);
  } finally {
    for (const model of models.values()) model.dispose();
  }
  return manifest;
}

/**
 * Writes `models` (by direction) and `manifest` as an export folder at `out`, beside any other
 * files there (see claimExportFolder); the manifest's `directions` are filled in here.
 */
export async function writeExportFolder(
  out: string,
  models: Map<Direction, tf.LayersModel>,
  manifest: ExportManifest,
  quantize?: WeightQuantization,
): Promise<void> {
  const chosen = [...models.keys()];
  const outDir = resolve(out);
  const { owned, stale } = claimExportFolder(outDir, chosen);
  await ensureDir(outDir);
  // Each direction is saved under a temporary name first: a failure here leaves the folder as it was.
  const ready = new Map<Direction, string>();
  const temporaries: string[] = [];
  try {
    for (const [direction, model] of models) {
      const tmp = temporarySibling(join(outDir, direction));
      ready.set(direction, tmp);
      temporaries.push(tmp);
      await saveLayersModel(model, tmp, { quantize });
      manifest.directions[direction] = `${direction}/model.json`;
    }
    // The swap: the manifest goes first and comes back last, so a folder caught half-way is no model
    // (nothing that looks complete), and the pending note lets the next export claim its folders.
    const pending = join(outDir, PENDING_FILE);
    await writeFileAtomic(pending, JSON.stringify({ directions: [...new Set([...owned, ...chosen])] }));
    await rm(join(outDir, MANIFEST_FILE), { force: true });
    for (const [direction, tmp] of ready) await replaceDir(join(outDir, direction), tmp);
    ready.clear();
    for (const direction of stale) await rm(join(outDir, direction), { recursive: true, force: true });
    await writeFileAtomic(join(outDir, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
    await rm(pending, { force: true });
  } catch (error) {
    for (const tmp of ready.values()) await rm(tmp, { recursive: true, force: true }).catch(() => {});
    // A full disk met under a temporary name is reported for the folder the user named.
    const inside = error instanceof WriteError && temporaries.some((t) => error.path.startsWith(t));
    throw describeWriteError(out, inside ? { code: (error as WriteError).code } : error);
  }
}

/** A direction folder of an export holds what saveLayersModel writes, nothing else. */
const MODEL_FILE = /^(model\.json|[\w.-]+\.bin)$/;
/** Written while an export swaps its folders in, removed after: what a killed export leaves behind. */
const PENDING_FILE = '.cyclegan-export-pending.json';

/** The directions an earlier export in `file` (its manifest or its pending note) lists; null when `file` is not one. */
function listedDirections(file: string, format: string | null): Set<Direction> | null {
  let raw: { format?: unknown; directions?: unknown };
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as typeof raw;
  } catch {
    return null;
  }
  if (raw == null || typeof raw !== 'object' || (format !== null && raw.format !== format)) return null;
  const listed = raw.directions;
  return new Set(
    DIRECTIONS.filter((d) =>
      Array.isArray(listed) ? listed.includes(d) : (listed as Record<string, unknown> | undefined)?.[d] === `${d}/model.json`,
    ),
  );
}

/**
 * The folder rule for an export: it writes cyclegan.json and one folder per direction beside
 * whatever else `outDir` holds, and replaces those names only where an earlier export wrote them
 * (its manifest lists them). Returns the earlier export's directions and those of them this
 * export drops; throws a one-line refusal, before anything is written, for any other file there.
 */
export function claimExportFolder(outDir: string, chosen: Direction[]): { owned: Set<Direction>; stale: Direction[] } {
  const found = statOrNull(outDir);
  if (!found) return { owned: new Set(), stale: [] };
  if (!found.isDirectory()) throw new WriteError(outDir, 'is a file, expected a folder for the export');
  if (statOrNull(join(outDir, 'checkpoints'))) {
    throw refuseOutput(outDir, 'is a training run folder (it has checkpoints/), which an export would hide', 'choose another --out');
  }
  const manifestPath = join(outDir, MANIFEST_FILE);
  let owned = new Set<Direction>();
  if (statOrNull(manifestPath)) {
    const listed = listedDirections(manifestPath, EXPORT_FORMAT);
    if (!listed) throw refuseOutput(manifestPath, `is not an export's manifest (no "format": "${EXPORT_FORMAT}")`);
    owned = listed;
  }
  if (statOrNull(join(outDir, PENDING_FILE))) for (const d of listedDirections(join(outDir, PENDING_FILE), null) ?? []) owned.add(d);
  const stale: Direction[] = [];
  for (const d of DIRECTIONS) {
    const path = join(outDir, d);
    const there = statOrNull(path);
    // A folder of that name that this export neither writes nor wrote earlier is not its business.
    if (!there || (!chosen.includes(d) && !owned.has(d))) continue;
    if (!owned.has(d) || !there.isDirectory()) {
      throw refuseOutput(path, `exists and was not written by an export (the folder's ${MANIFEST_FILE} does not list it)`);
    }
    const foreign = firstForeign(path, (n) => MODEL_FILE.test(n));
    if (foreign) throw refuseOutput(foreign, 'was not written by an export (an export folder holds model.json and weights.bin)');
    if (!chosen.includes(d)) stale.push(d);
  }
  return { owned, stale };
}
