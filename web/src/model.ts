/**
 * Loads a CycleGAN generator export — `cyclegan.json` plus one tfjs LayersModel per direction —
 * from the server (`./model/`) or from a folder the user picked.
 */
import * as tf from '@tensorflow/tfjs';
// The library's browser-safe entry (src/web.ts): importing it registers the generators' custom
// layers with tfjs serialization; the one manifest parser, the generators' geometry.
import {
  DIRECTIONS,
  EXPORT_FORMAT,
  generatorGeometry,
  onnxNotServed,
  parseModelManifest,
  type Direction,
  type ExportManifest,
  type GeneratorGeometry,
} from 'cyclegan/web';

export { DIRECTIONS, type Direction };
/** The export view of a cyclegan.json (an export folder's or a training checkpoint's). */
export type ModelManifest = ExportManifest;

export interface Generator {
  model: tf.LayersModel;
  geometry: GeneratorGeometry;
}

export interface LoadedModel {
  /** Where it came from, for the page ("served model", "folder my-export"). */
  source: string;
  manifest: ModelManifest;
  generators: Partial<Record<Direction, Generator>>;
}

/** A problem the user can fix (shown as is, without a stack). */
export class UserError extends Error {}

/**
 * Validates a parsed cyclegan.json (export or training checkpoint) and returns the export view:
 * the rules of src/infer/manifest.ts, the one parser, with its errors shown to the user as they are.
 */
export function parseManifest(raw: unknown, where: string): ModelManifest {
  let manifest: ModelManifest;
  try {
    manifest = parseModelManifest(raw, where);
  } catch (err) {
    throw new UserError(`${(err as Error).message}.`);
  }
  if (manifest.engine === 'onnx') throw new UserError(`${onnxNotServed(where)}.`);
  return manifest;
}

function checkGenerator(model: tf.LayersModel, label: string): Generator {
  const inShape = model.inputs[0]?.shape;
  const outShape = model.outputs[0]?.shape;
  if (model.inputs.length !== 1 || inShape?.length !== 4 || inShape[3] !== 3 || outShape?.[3] !== 3) {
    throw new UserError(
      `${label} is not an image generator (input ${JSON.stringify(inShape)}, output ${JSON.stringify(outShape)}; expected [null, h, w, 3] → 3 channels).`,
    );
  }
  return { model, geometry: generatorGeometry(model) };
}

function describeLoadError(err: unknown, label: string): UserError {
  if (err instanceof UserError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new UserError(`Could not load ${label}: ${message}`);
}

function disposeAll(generators: Partial<Record<Direction, Generator>>): void {
  for (const g of Object.values(generators)) g?.model.dispose();
}

/** Loads the export served at `manifestUrl` (normally ./model/cyclegan.json). Null when none is served. */
export async function loadServedModel(manifestUrl: string): Promise<LoadedModel | null> {
  const url = new URL(manifestUrl, location.href);
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-cache' });
  } catch (err) {
    throw new UserError(`Could not reach ${url.pathname}: ${(err as Error).message}`);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new UserError(`Loading ${url.pathname} failed: HTTP ${response.status}.`);
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new UserError(`${url.pathname} is not valid JSON.`);
  }
  const manifest = parseManifest(raw, url.pathname);
  const generators: Partial<Record<Direction, Generator>> = {};
  try {
    for (const d of DIRECTIONS) {
      const path = manifest.directions[d];
      if (!path) continue;
      const modelUrl = new URL(path, url).href;
      const label = `the ${d} generator (${new URL(modelUrl).pathname})`;
      try {
        generators[d] = checkGenerator(await tf.loadLayersModel(modelUrl), label);
      } catch (err) {
        throw describeLoadError(err, label);
      }
    }
  } catch (err) {
    disposeAll(generators);
    throw err;
  }
  return { source: 'served model', manifest, generators };
}

/** Normalises "a/./b//c" and resolves "..": the key used to find picked files. */
function normalise(path: string): string {
  const out: string[] = [];
  for (const part of path.split(/[\\/]+/)) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out.join('/');
}

function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

function join(dir: string, rel: string): string {
  return normalise(dir ? `${dir}/${rel}` : rel);
}

/**
 * Loads an export from files picked with `<input webkitdirectory>` (or several files picked
 * together). Accepts an export folder (cyclegan.json + direction folders), a training checkpoint
 * folder, or a single generator folder (model.json + weights), used as A→B.
 */
export async function loadModelFromFiles(fileList: FileList | File[]): Promise<LoadedModel> {
  const files = Array.from(fileList);
  if (files.length === 0) throw new UserError('The chosen model folder is empty.');
  const byPath = new Map<string, File>();
  for (const f of files) byPath.set(normalise(f.webkitRelativePath || f.name), f);
  const paths = [...byPath.keys()];
  const shallowest = (name: string): string | undefined =>
    paths
      .filter((p) => p === name || p.endsWith(`/${name}`))
      .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))[0];
  const folderName = paths[0]!.includes('/') ? paths[0]!.split('/')[0]! : 'chosen files';
  const source = `folder “${folderName}”`;

  let manifest: ModelManifest;
  let base: string;
  const manifestPath = shallowest('cyclegan.json');
  if (manifestPath) {
    base = dirOf(manifestPath);
    let raw: unknown;
    try {
      raw = JSON.parse(await byPath.get(manifestPath)!.text());
    } catch {
      throw new UserError(`${manifestPath} in the chosen folder is not valid JSON.`);
    }
    manifest = parseManifest(raw, manifestPath);
  } else {
    const modelPath = shallowest('model.json');
    if (!modelPath) {
      throw new UserError(
        `The chosen folder (${source}) holds no cyclegan.json or model.json: choose a folder made by \`cyclegan export\`.`,
      );
    }
    base = dirOf(modelPath);
    manifest = { format: EXPORT_FORMAT, version: 1, directions: { AtoB: modelPath.slice(base ? base.length + 1 : 0) } };
  }

  const generators: Partial<Record<Direction, Generator>> = {};
  try {
    for (const d of DIRECTIONS) {
      const rel = manifest.directions[d];
      if (!rel) continue;
      const modelPath = join(base, rel);
      const label = `the ${d} generator (${modelPath})`;
      const modelFile = byPath.get(modelPath);
      if (!modelFile) throw new UserError(`The chosen folder lacks ${modelPath}, which cyclegan.json lists for ${d}.`);
      let modelJson: { weightsManifest?: Array<{ paths?: string[] }> };
      try {
        modelJson = JSON.parse(await modelFile.text()) as typeof modelJson;
      } catch {
        throw new UserError(`${modelPath} is not valid JSON.`);
      }
      if (!Array.isArray(modelJson.weightsManifest)) {
        throw new UserError(`${modelPath} is not a tfjs layers model (it has no weightsManifest).`);
      }
      const weightFiles: File[] = [];
      for (const group of modelJson.weightsManifest) {
        for (const p of group.paths ?? []) {
          const weightPath = join(dirOf(modelPath), p);
          const file = byPath.get(weightPath);
          if (!file) throw new UserError(`The chosen folder lacks ${weightPath}, the weights of ${modelPath}.`);
          weightFiles.push(file);
        }
      }
      try {
        const model = await tf.loadLayersModel(tf.io.browserFiles([modelFile, ...weightFiles]));
        generators[d] = checkGenerator(model, label);
      } catch (err) {
        throw describeLoadError(err, label);
      }
    }
  } catch (err) {
    disposeAll(generators);
    throw err;
  }
  return { source, manifest, generators };
}

export function disposeModel(m: LoadedModel | null): void {
  if (m) disposeAll(m.generators);
}
