/**
 * Loading a generator from whatever the user points at — a run folder, a checkpoint, an export
 * folder, a bare tfjs model folder or an .onnx file — and translating images of any size with it,
 * on tfjs or ONNX Runtime.
 */
import { dirname } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { imageToPixels, pixelsToImage, type Pixels, type RgbImage } from '../data/pixels.ts';
import { loadLayersModel } from '../models/io.ts';
import type { Direction } from './manifest.ts';
import { generatorFile, onnxFileOf, openModel, type ModelFolder } from './model-folder.ts';
import type { OnnxGenerator } from './onnx-engine.ts';
import {
  generatorGeometry,
  geometryFromShape,
  runLayersModel,
  translatePixels,
  type GeneratorGeometry,
  type TranslateOptions,
} from './translate-core.ts';

export type { Direction };
export type Engine = 'tfjs' | 'onnx';

export interface TranslatorOptions extends TranslateOptions {
  direction?: Direction;
  engine?: Engine;
  /**
   * Converts a tfjs generator to ONNX, for engine 'onnx' with a tfjs model: `generatorToOnnx`
   * of the export layer, which inference does not import (layers point one way).
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
    new GeneratorTranslator(
      'onnx',
      (x) => session.run(x.data, x.height, x.width),
      () => void session.dispose(),
      geometry,
      direction,
      source,
      options,
    );
  if (model.kind === 'onnx') {
    if (engine !== 'onnx') throw new Error(`${model.path}: an ONNX ${model.onnxFiles ? 'export folder' : 'file'} needs --engine onnx`);
    const file = onnxFileOf(model, direction);
    const session = await loadOnnx(file);
    return onnxTranslator(session, geometryFromShape(session.fixedSize, session.fixedSize), file);
  }
  const modelJson = generatorFile(model, direction);
  const layers = await loadLayersModel(dirname(modelJson));
  let geometry: GeneratorGeometry;
  let bytes: Uint8Array;
  try {
    geometry = generatorGeometry(layers);
    if (engine === 'tfjs') {
      return new GeneratorTranslator(
        'tfjs',
        (x) => runLayersModel(layers, x),
        () => layers.dispose(),
        geometry,
        direction,
        modelJson,
        options,
      );
    }
    if (!options.toOnnx) {
      throw new Error(
        `${modelJson}: engine 'onnx' with a tfjs model needs options.toOnnx to convert it (pass generatorToOnnx), or give an .onnx file`,
      );
    }
    bytes = await options.toOnnx(layers);
  } catch (error) {
    layers.dispose();
    throw error;
  }
  layers.dispose();
  return onnxTranslator(await loadOnnx(bytes), geometry, modelJson);
}
