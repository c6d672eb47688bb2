/**
 * Loading a generator from whatever the user points at — a run folder, a checkpoint, an export
 * folder, a bare tfjs model folder or an .onnx file — and translating images of any size with it,
 * on tfjs or ONNX Runtime.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { floatToImage, type RgbImage } from '../data/image-io.ts';
import { loadLayersModel } from '../models/io.ts';
import type { OnnxGenerator } from './onnx-engine.ts';
import { resolveCheckpointDir } from '../train/checkpoint.ts';
import { noGenerator, readModelManifest } from './manifest.ts';
import {
  generatorGeometry,
  geometryFromShape,
  runLayersModel,
  translatePixels,
  type GeneratorGeometry,
  type Pixels,
  type TranslateOptions,
} from './translate-core.ts';

export type Direction = 'AtoB' | 'BtoA';
export type Engine = 'tfjs' | 'onnx';

export interface TranslatorOptions extends TranslateOptions {
  direction?: Direction;
  engine?: Engine;
}

export interface Translator {
  readonly direction: Direction;
  readonly engine: Engine;
  readonly geometry: GeneratorGeometry;
  /** Where the generator was loaded from. */
  readonly source: string;
  /** HWC pixels in [-1, 1] → same-size HWC pixels in [-1, 1]. */
  translatePixels(p: Pixels): Promise<Pixels>;
  /** 8-bit RGB → 8-bit RGB of the same size. */
  translate(image: RgbImage): Promise<RgbImage>;
  dispose(): void;
}

/** Finds the tfjs model.json of the generator for `direction` under `path`. */
export async function locateGenerator(path: string, direction: Direction): Promise<string> {
  const full = resolve(path);
  if (!existsSync(full) && /:best$/.test(path)) return generatorIn(await resolveCheckpointDir(path), direction);
  if (!existsSync(full)) throw new Error(`${path}: no such file or folder`);
  if (statSync(full).isFile()) {
    if (full.endsWith('model.json')) return full;
    throw new Error(`${path}: expected a run, checkpoint or export folder, a model.json or an .onnx file`);
  }
  if (existsSync(join(full, 'model.json')) && !existsSync(join(full, 'cyclegan.json'))) return join(full, 'model.json');
  let dir: string;
  try {
    dir = await resolveCheckpointDir(full);
  } catch {
    throw new Error(`${path}: not a model (no cyclegan.json, model.json or checkpoints/latest inside)`);
  }
  return generatorIn(dir, direction);
}

async function generatorIn(dir: string, direction: Direction): Promise<string> {
  const manifest = await readModelManifest(dir);
  const rel = manifest.directions[direction];
  if (!rel) throw new Error(`${join(dir, 'cyclegan.json')}: ${noGenerator(direction, manifest.method)}`);
  return join(dir, rel);
}

/**
 * The directions a model's manifest lists (a CUT model: AtoB only); null for a bare model.json or
 * .onnx file, which has no manifest: its one generator serves whichever direction is asked for.
 */
export async function modelDirectionsOf(path: string): Promise<Direction[] | null> {
  const full = resolve(path);
  if (existsSync(full) && (statSync(full).isFile() || (existsSync(join(full, 'model.json')) && !existsSync(join(full, 'cyclegan.json'))))) return null;
  const manifest = await readModelManifest(await resolveCheckpointDir(path));
  return (['AtoB', 'BtoA'] as const).filter((d) => manifest.directions[d]);
}

/** A generator behind a `run` function (tfjs or ONNX Runtime), driven by the shared pad/tile plan. */
class GeneratorTranslator implements Translator {
  constructor(
    readonly engine: Engine,
    private readonly run: (input: Pixels) => Promise<Float32Array> | Float32Array,
    private readonly release: () => void,
    readonly geometry: GeneratorGeometry,
    readonly direction: Direction,
    readonly source: string,
    private readonly options: TranslateOptions,
  ) {
    // Errors about the network's output name the file it came from.
    this.options = { ...options, modelName: options.modelName ?? source };
  }
  translatePixels(p: Pixels): Promise<Pixels> {
    return translatePixels(this.run, p, this.geometry, this.options);
  }
  async translate(image: RgbImage): Promise<RgbImage> {
    return pixelsToImage(await this.translatePixels(imageToPixels(image)));
  }
  dispose(): void {
    this.release();
  }
}

export function imageToPixels(img: RgbImage): Pixels {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i]! / 127.5 - 1;
  return { data, height: img.height, width: img.width };
}

export function pixelsToImage(p: Pixels): RgbImage {
  return floatToImage(p.data, p.width, p.height);
}

/**
 * Loads the generator for `direction` from a run folder, checkpoint, export folder, model.json or
 * .onnx file. With engine 'onnx' and a tfjs model, the model is converted to ONNX in memory.
 */
export async function loadTranslator(path: string, options: TranslatorOptions = {}): Promise<Translator> {
  const direction = options.direction ?? 'AtoB';
  const engine = options.engine ?? (path.endsWith('.onnx') ? 'onnx' : 'tfjs');
  const loadOnnx = async (source: string | Uint8Array) => (await import('./onnx-engine.ts')).OnnxGenerator.load(source);
  const onnxTranslator = (session: OnnxGenerator, geometry: GeneratorGeometry, source: string) =>
    new GeneratorTranslator('onnx', (x) => session.run(x.data, x.height, x.width), () => void session.dispose(), geometry, direction, source, options);
  if (path.endsWith('.onnx')) {
    if (engine !== 'onnx') throw new Error(`${path}: an ONNX file needs --engine onnx`);
    const session = await loadOnnx(resolve(path));
    return onnxTranslator(session, geometryFromShape(session.fixedSize, session.fixedSize), resolve(path));
  }
  const modelJson = await locateGenerator(path, direction);
  const model = await loadLayersModel(dirname(modelJson));
  let geometry: GeneratorGeometry;
  let bytes: Uint8Array;
  try {
    geometry = generatorGeometry(model);
    if (engine === 'tfjs') {
      return new GeneratorTranslator('tfjs', (x) => runLayersModel(model, x), () => model.dispose(), geometry, direction, modelJson, options);
    }
    const { exportGeneratorToOnnx } = await import('../export/onnx.ts');
    bytes = exportGeneratorToOnnx(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  model.dispose();
  return onnxTranslator(await loadOnnx(bytes), geometry, modelJson);
}
