/**
 * What a model path is, and where its generators are: the one place that knows the folders every
 * command reads a model from. Node-only (it reads files); the manifest itself is parsed by the
 * browser-safe manifest.ts.
 *
 *   RUN                    run folder: RUN/checkpoints/latest names its newest checkpoint
 *   RUN:best               the run's best checkpoint, RUN/checkpoints/best (train --eval-every)
 *   CHECKPOINT             RUN/checkpoints/epoch-0005 etc.: cyclegan.json of format cyclegan-checkpoint
 *   EXPORT                 cyclegan.json of format cyclegan-generators (`cyclegan export`; embedded models)
 *   DIR/ or DIR/model.json a bare tfjs layers model: one generator, no manifest
 *   FILE.onnx              an ONNX generator
 *   ONNX                   a folder of AtoB.onnx and/or BtoA.onnx (`cyclegan export --format onnx`)
 *   NAME                   anything else that looks like no path: an embedded model's name (embedded.ts)
 *
 * Writing checkpoints (and reading their optimizer state for a resume) is train/checkpoint.ts's.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { MODEL_JSON } from '../models/io.ts';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  DIRECTIONS,
  MANIFEST_FILE,
  manifestDirections,
  noGenerator,
  parseManifestText,
  parseModelManifest,
  type Direction,
  type ExportManifest,
} from './manifest.ts';

/** The checkpoint with the best validation KID so far (`--model RUN:best`); never pruned. */
export const BEST_CHECKPOINT = 'best';
/** RUN/checkpoints/latest: a text file with the name of the newest checkpoint folder. */
export const LATEST_POINTER = 'latest';
const BEST_SELECTOR = /^(.*):best$/;

/** A checkpoint folder's name as training writes it: epoch-0005, step-00001234. */
export function isCheckpointName(name: string): boolean {
  return /^(epoch|step)-\d+$/.test(name);
}

/**
 * Whether a --model value is a path rather than the name of an embedded model: it exists, it
 * selects a run's checkpoint (RUN:best), it has a folder separator, or it names an .onnx file.
 */
export function looksLikeModelPath(arg: string): boolean {
  return existsSync(arg) || BEST_SELECTOR.test(arg) || /[\\/]/.test(arg) || arg.endsWith('.onnx');
}

export type ModelKind = 'run' | 'checkpoint' | 'export' | 'layers' | 'onnx';

/** What a model path turned out to be. */
export interface ModelFolder {
  kind: ModelKind;
  /** As given. */
  path: string;
  /**
   * The folder with the cyclegan.json (for a run and RUN:best: the checkpoint chosen), the
   * model.json of a bare layers model, the .onnx file, or the folder of .onnx files.
   */
  location: string;
  /** Null for a bare model.json and an .onnx file: its one generator serves whichever direction is asked. */
  manifest: ExportManifest | null;
  /** An ONNX export folder's files by direction (kind 'onnx' only; absent for a single .onnx file). */
  onnxFiles?: Partial<Record<Direction, string>>;
}

/** The files `cyclegan export --format onnx --out DIR` writes into DIR (onnx-export.ts names them so). */
export function onnxExportFile(dir: string, direction: Direction): string {
  return join(dir, `${direction}.onnx`);
}

/** An ONNX export folder's files by direction; null when `dir` holds neither. */
function onnxFilesIn(dir: string): Partial<Record<Direction, string>> | null {
  const files: Partial<Record<Direction, string>> = {};
  for (const direction of DIRECTIONS) {
    const file = onnxExportFile(dir, direction);
    if (existsSync(file)) files[direction] = file;
  }
  return Object.keys(files).length > 0 ? files : null;
}

/** The parts of a checkpoint's cyclegan.json that reading a model needs (train/checkpoint.ts has all of it). */
export interface CheckpointHeader {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  createdAt: string;
  config: { method?: string; generator: string; cropSize: number };
  position: { epoch: number; globalStep: number };
  /** Network key → its folder; absent in older checkpoints (CycleGAN's four). */
  networks?: Record<string, string>;
  /** The generators' model.json files (a CUT checkpoint has AtoB only). */
  generators: { AtoB: string; BtoA?: string };
}

/** `RUN:best` → RUN/checkpoints/best, unless a file or folder of that very name exists; null for other paths. */
function bestCheckpointOf(path: string): string | null {
  const best = BEST_SELECTOR.exec(path);
  if (!best || existsSync(resolve(path))) return null;
  const dir = join(resolve(best[1]!), 'checkpoints', BEST_CHECKPOINT);
  if (!existsSync(join(dir, MANIFEST_FILE)))
    throw new Error(`${path}: ${best[1]} has no best checkpoint (it is written by train --eval-every)`);
  return dir;
}

/** The checkpoint RUN/checkpoints/latest names; null when `runDir` has no such pointer. */
async function latestCheckpointOf(runDir: string): Promise<string | null> {
  const pointer = join(runDir, 'checkpoints', LATEST_POINTER);
  if (!existsSync(pointer)) return null;
  const name = (await readFile(pointer, 'utf8')).trim();
  const dir = join(runDir, 'checkpoints', name);
  if (!isCheckpointName(name) || !existsSync(join(dir, MANIFEST_FILE))) {
    throw new Error(`${pointer}: points to '${name}', which is not a complete checkpoint`);
  }
  return dir;
}

/**
 * Finds the folder with the cyclegan.json a user meant: a checkpoint or export folder itself,
 * RUN:best, or a run folder (its latest checkpoint). Throws one clear line otherwise.
 */
export async function resolveCheckpointDir(path: string): Promise<string> {
  const best = bestCheckpointOf(path);
  if (best) return best;
  const full = resolve(path);
  if (!existsSync(full)) throw new Error(`${path}: no such file or folder`);
  if (!(await stat(full)).isDirectory()) throw new Error(`${path}: expected a checkpoint or run folder, found a file`);
  if (existsSync(join(full, MANIFEST_FILE))) return full;
  const latest = await latestCheckpointOf(full);
  if (latest) return latest;
  if (onnxFilesIn(full))
    throw new Error(`${path}: an ONNX export folder; this needs a tfjs model: the run, checkpoint or export folder it came from`);
  throw new Error(`${path}: not a checkpoint (no cyclegan.json) and not a run folder (no checkpoints/latest)`);
}

/** The cyclegan.json of `modelDir`, raw and as the export manifest. */
export async function readManifest(modelDir: string): Promise<{ file: string; raw: Record<string, unknown>; manifest: ExportManifest }> {
  const file = join(modelDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new Error(`${modelDir} is not a model folder: it has no cyclegan.json (export one with \`cyclegan export\`)`, { cause: err });
    }
    throw err;
  }
  const raw = parseManifestText(text, file);
  return { file, raw, manifest: parseModelManifest(raw, file) };
}

/** Reads `cyclegan.json` in `modelDir` and turns it into the export manifest the page expects. */
export async function readModelManifest(modelDir: string): Promise<ExportManifest> {
  return (await readManifest(modelDir)).manifest;
}

/** A checkpoint's cyclegan.json, its format and version checked; `T` is the caller's fuller view of it. */
export async function readCheckpointMeta<T extends CheckpointHeader = CheckpointHeader>(dir: string): Promise<T> {
  const file = join(dir, MANIFEST_FILE);
  let meta: T;
  try {
    meta = JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new Error(code === 'ENOENT' ? `${file}: not found` : `${file}: corrupt JSON (${(error as Error).message})`, { cause: error });
  }
  if (meta == null || typeof meta !== 'object') throw new Error(`${file}: corrupt JSON (expected an object)`);
  if (meta.format !== CHECKPOINT_FORMAT) {
    throw new Error(`${file}: format is ${JSON.stringify(meta.format)}, expected '${CHECKPOINT_FORMAT}'`);
  }
  if (meta.version !== CHECKPOINT_VERSION) {
    throw new Error(`${file}: checkpoint version ${meta.version} is not supported (this build reads ${CHECKPOINT_VERSION})`);
  }
  return meta;
}

/** Recognises what `path` is (see the top of this file); throws one clear line when it is none of them. */
export async function openModel(path: string): Promise<ModelFolder> {
  const best = bestCheckpointOf(path);
  if (best) return { kind: 'checkpoint', path, location: best, manifest: await readModelManifest(best) };
  const full = resolve(path);
  if (!existsSync(full)) throw new Error(`${path}: no such file or folder`);
  if ((await stat(full)).isFile()) {
    if (full.endsWith('.onnx')) return { kind: 'onnx', path, location: full, manifest: null };
    if (basename(full) === MODEL_JSON) return { kind: 'layers', path, location: full, manifest: null };
    throw new Error(`${path}: expected a run, checkpoint or export folder, a model.json or an .onnx file`);
  }
  if (existsSync(join(full, MANIFEST_FILE))) {
    const { raw, manifest } = await readManifest(full);
    if (manifest.engine === 'onnx') {
      const onnxFiles = Object.fromEntries(manifestDirections(manifest).map((d) => [d, join(full, manifest.directions[d]!)]));
      return { kind: 'onnx', path, location: full, manifest, onnxFiles };
    }
    return { kind: raw.format === CHECKPOINT_FORMAT ? 'checkpoint' : 'export', path, location: full, manifest };
  }
  if (existsSync(join(full, MODEL_JSON))) return { kind: 'layers', path, location: join(full, MODEL_JSON), manifest: null };
  const latest = await latestCheckpointOf(full);
  if (latest) return { kind: 'run', path, location: latest, manifest: await readModelManifest(latest) };
  const onnxFiles = onnxFilesIn(full);
  if (onnxFiles) return { kind: 'onnx', path, location: full, manifest: null, onnxFiles };
  throw new Error(`${path}: not a model (no cyclegan.json, model.json, checkpoints/latest, AtoB.onnx or BtoA.onnx inside)`);
}

/**
 * The directions the model's manifest (or an ONNX export folder) has (a CUT model: AtoB only);
 * null for a bare model.json or .onnx file.
 */
export function directionsOf(model: ModelFolder): Direction[] | null {
  if (model.onnxFiles) return DIRECTIONS.filter((d) => model.onnxFiles![d]);
  return model.manifest ? manifestDirections(model.manifest) : null;
}

/** The .onnx file for `direction` of an ONNX model (a single file serves every direction). */
export function onnxFileOf(model: ModelFolder, direction: Direction): string {
  if (model.kind !== 'onnx') throw new Error(`${model.path}: not an ONNX model`);
  if (!model.onnxFiles) return model.location;
  const file = model.onnxFiles[direction];
  if (!file) {
    const other = direction === 'AtoB' ? 'BtoA' : 'AtoB';
    throw new Error(`${model.path}: this ONNX export folder has no ${direction}.onnx (use --direction ${other})`);
  }
  return file;
}

/** The tfjs model.json of the generator for `direction`; the error says why a model lacks it. */
export function generatorFile(model: ModelFolder, direction: Direction): string {
  if (model.kind === 'onnx') {
    const what = model.onnxFiles ? 'an ONNX export folder has' : 'an .onnx file has';
    throw new Error(`${model.path}: ${what} no tfjs generator (use --engine onnx, or the run, checkpoint or export it came from)`);
  }
  if (!model.manifest) return model.location;
  const rel = model.manifest.directions[direction];
  if (!rel) throw new Error(`${join(model.location, MANIFEST_FILE)}: ${noGenerator(direction, model.manifest.method)}`);
  return join(model.location, rel);
}

/**
 * The directions to use: `only` (checked against the manifest), else every one the manifest
 * lists; a model without a manifest serves `bare` (its one generator, asked for each direction).
 */
export function chooseDirections(model: ModelFolder, only: Direction | undefined, bare: readonly Direction[]): Direction[] {
  if (only) {
    if (model.manifest) generatorFile(model, only);
    if (model.onnxFiles) onnxFileOf(model, only);
    return [only];
  }
  return directionsOf(model) ?? [...bare];
}

/** Finds the tfjs model.json of the generator for `direction` under `path`. */
export async function locateGenerator(path: string, direction: Direction): Promise<string> {
  return generatorFile(await openModel(path), direction);
}

/**
 * The directions a model's manifest lists (a CUT model: AtoB only); null for a bare model.json or
 * .onnx file, which has no manifest: its one generator serves whichever direction is asked for.
 */
export async function modelDirectionsOf(path: string): Promise<Direction[] | null> {
  return directionsOf(await openModel(path));
}
