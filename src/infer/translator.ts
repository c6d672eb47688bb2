/**
 * Loading a generator from whatever the user points at — a run folder, a checkpoint, an export
 * folder, a bare tfjs model folder or an .onnx file — and translating images of any size with it,
 * on tfjs or ONNX Runtime.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { floatToImage, type RgbImage } from '../data/image-io.ts';
import { loadLayersModel } from '../models/io.ts';
import { resolveCheckpointDir } from '../train/checkpoint.ts';
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

export const EXPORT_FORMAT = 'cyclegan-generators';

/** Finds the tfjs model.json of the generator for `direction` under `path`. */
export async function locateGenerator(path: string, direction: Direction): Promise<string> {
  const full = resolve(path);
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
  const manifestFile = join(dir, 'cyclegan.json');
  let manifest: { format?: string; generators?: Record<string, string>; directions?: Record<string, string> };
  try {
    manifest = JSON.parse(await readFile(manifestFile, 'utf8'));
  } catch (error) {
    throw new Error(`${manifestFile}: corrupt JSON (${(error as Error).message})`);
  }
  const table = manifest.format === EXPORT_FORMAT ? manifest.directions : manifest.format === 'cyclegan-checkpoint' ? manifest.generators : undefined;
  if (!table) throw new Error(`${manifestFile}: unknown format ${JSON.stringify(manifest.format)}`);
  const rel = table[direction];
  if (!rel) throw new Error(`${manifestFile}: has no ${direction} generator (it has ${Object.keys(table).join(', ') || 'none'})`);
  return join(dir, rel);
}

class TfjsTranslator implements Translator {
  readonly engine = 'tfjs';
  readonly geometry: GeneratorGeometry;
  constructor(
    readonly model: tf.LayersModel,
    readonly direction: Direction,
    readonly source: string,
    private readonly options: TranslateOptions,
  ) {
    this.geometry = generatorGeometry(model);
  }
  translatePixels(p: Pixels): Promise<Pixels> {
    return translatePixels((x) => runLayersModel(this.model, x), p, this.geometry, this.options);
  }
  async translate(image: RgbImage): Promise<RgbImage> {
    return pixelsToImage(await this.translatePixels(imageToPixels(image)));
  }
  dispose(): void {
    this.model.dispose();
  }
}

class OnnxTranslator implements Translator {
  readonly engine = 'onnx';
  constructor(
    private readonly session: { run(nhwc: Float32Array, h: number, w: number): Promise<Float32Array>; dispose?(): void },
    readonly geometry: GeneratorGeometry,
    readonly direction: Direction,
    readonly source: string,
    private readonly options: TranslateOptions,
  ) {}
  translatePixels(p: Pixels): Promise<Pixels> {
    return translatePixels((x) => this.session.run(x.data, x.height, x.width), p, this.geometry, this.options);
  }
  async translate(image: RgbImage): Promise<RgbImage> {
    return pixelsToImage(await this.translatePixels(imageToPixels(image)));
  }
  dispose(): void {
    this.session.dispose?.();
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
  if (path.endsWith('.onnx')) {
    if (engine !== 'onnx') throw new Error(`${path}: an ONNX file needs --engine onnx`);
    const { OnnxGenerator } = await import('./onnx-engine.ts');
    const session = await OnnxGenerator.load(resolve(path));
    return new OnnxTranslator(session, geometryFromShape(session.fixedSize, session.fixedSize), direction, resolve(path), options);
  }
  const modelJson = await locateGenerator(path, direction);
  const model = await loadLayersModel(dirname(modelJson));
  if (engine === 'tfjs') return new TfjsTranslator(model, direction, modelJson, options);
  const geometry = generatorGeometry(model);
  const { exportGeneratorToOnnx } = await import('../export/onnx.ts');
  const bytes = exportGeneratorToOnnx(model);
  model.dispose();
  const { OnnxGenerator } = await import('./onnx-engine.ts');
  return new OnnxTranslator(await OnnxGenerator.load(bytes), geometry, direction, modelJson, options);
}
