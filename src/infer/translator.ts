/**
 * Loading a generator from whatever the user points at — a run folder, a checkpoint, an export
 * folder, a bare tfjs model folder or an .onnx file — and translating images of any size with it,
 * on tfjs or ONNX Runtime.
 */
import { dirname } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { floatToImage, type RgbImage } from '../data/image-io.ts';
import { loadLayersModel } from '../models/io.ts';
import type { Direction } from './manifest.ts';
import { generatorFile, openModel, type ModelFolder } from './model-folder.ts';
import type { OnnxGenerator } from './onnx-engine.ts';
import {
  generatorGeometry,
  geometryFromShape,
  runLayersModel,
  translatePixels,
  type GeneratorGeometry,
  type Pixels,
  type TranslateOptions,
} from './translate-core.ts';

export type { Direction };
// TEMPORARY re-export for src/cli/commands/export.ts, src/export/onnx-export.ts and src/index.ts, removed at integration
export { locateGenerator, modelDirectionsOf, readModelManifest } from './model-folder.ts';
export type Engine = 'tfjs' | 'onnx';

export interface TranslatorOptions extends TranslateOptions {
  direction?: Direction;
  engine?: Engine;
  /**
   * Converts a tfjs generator to ONNX, for engine 'onnx' with a tfjs model (exportGeneratorToOnnx
   * of src/export/onnx.ts, which this layer does not import).
   */
  toOnnx?: (model: tf.LayersModel) => Uint8Array | Promise<Uint8Array>;
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
 * .onnx file (a path, or what openModel made of one). With engine 'onnx' and a tfjs model, the
 * model is converted to ONNX in memory by `options.toOnnx`.
 */
export async function loadTranslator(path: string | ModelFolder, options: TranslatorOptions = {}): Promise<Translator> {
  const model = typeof path === 'string' ? await openModel(path) : path;
  const direction = options.direction ?? 'AtoB';
  const engine = options.engine ?? (model.kind === 'onnx' ? 'onnx' : 'tfjs');
  const loadOnnx = async (source: string | Uint8Array) => (await import('./onnx-engine.ts')).OnnxGenerator.load(source);
  const onnxTranslator = (session: OnnxGenerator, geometry: GeneratorGeometry, source: string) =>
    new GeneratorTranslator('onnx', (x) => session.run(x.data, x.height, x.width), () => void session.dispose(), geometry, direction, source, options);
  if (model.kind === 'onnx') {
    if (engine !== 'onnx') throw new Error(`${model.path}: an ONNX file needs --engine onnx`);
    const session = await loadOnnx(model.location);
    return onnxTranslator(session, geometryFromShape(session.fixedSize, session.fixedSize), model.location);
  }
  const modelJson = generatorFile(model, direction);
  const layers = await loadLayersModel(dirname(modelJson));
  let geometry: GeneratorGeometry;
  let bytes: Uint8Array;
  try {
    geometry = generatorGeometry(layers);
    if (engine === 'tfjs') {
      return new GeneratorTranslator('tfjs', (x) => runLayersModel(layers, x), () => layers.dispose(), geometry, direction, modelJson, options);
    }
    // TEMPORARY fallback until src/cli/commands/translate.ts and test.ts pass toOnnx; removed at integration.
    const toOnnx = options.toOnnx ?? (await import('../export/onnx.ts')).exportGeneratorToOnnx;
    bytes = await toOnnx(layers);
  } catch (error) {
    layers.dispose();
    throw error;
  }
  layers.dispose();
  return onnxTranslator(await loadOnnx(bytes), geometry, modelJson);
}
