/**
 * The network that looks at images for evaluation: an ImageNet classifier giving, for each image,
 * a feature vector (for KID) and class probabilities (for the class rate), in one forward pass.
 *
 * The default is the Darknet-tiny classifier bundled in assets/darknet-tiny-imagenet (MIT; see
 * its SOURCE.md). The definition is fixed, because figures are only comparable when it is:
 * - each 8-bit RGB image is resized to the network's input (224x224) with sharp's 'cubic' kernel
 *   (Catmull-Rom, which is PIL's BICUBIC with a = -0.5, antialiased when shrinking like PIL's
 *   resize, the filter clean-fid's "clean" mode uses) and written back as 8-bit;
 * - RGB scaled to [0, 1] (what the model was converted with);
 * - features: the output of `leaky_re_lu_14` (512 channels, 14x14) averaged over space;
 * - probabilities: softmax of the final output (pooled logits); labels from labels.json, in
 *   Darknet's order ("zebra" = 79, "sorrel" = 38).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import type { RgbImage } from '../data/pixels.ts';
import { loadLayersModel } from '../models/io.ts';
import type { FeatureSet } from './kid.ts';

/** The bundled Darknet-tiny folder, found next to the package rather than the working directory. */
export const DEFAULT_FEATURE_NET_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'darknet-tiny-imagenet');
export const DARKNET_FEATURE_LAYER = 'leaky_re_lu_14';

/** What the network saw of a set of images. */
export interface ImageStats {
  features: FeatureSet;
  /** count x classes softmax probabilities, row-major. */
  probs: Float32Array;
  classes: number;
}

export interface FeatureNetOptions {
  /** Layer whose output is the feature vector (averaged over space when it is 4-D). */
  featureLayer: string;
  /** Class names in the order of the model's output. */
  labels: string[];
  /** Images per forward pass (default 16). */
  batchSize?: number;
  /** Where the network came from, for messages. */
  source?: string;
}

export class FeatureNetwork {
  readonly inputSize: number;
  readonly featureDim: number;
  readonly labels: readonly string[];
  readonly source: string;
  private readonly batchSize: number;
  private readonly model: tf.LayersModel;
  private readonly owned: tf.LayersModel;

  /**
   * Wraps a classifier: a new tf.model shares its layers and has two outputs, the (pooled)
   * features and the logits, so each image runs through it once. `model` is disposed with this.
   */
  constructor(classifier: tf.LayersModel, options: FeatureNetOptions) {
    this.source = options.source ?? (classifier.name || 'the feature network');
    const shape = classifier.inputs[0]!.shape;
    const [, h, w, c] = shape;
    if (shape.length !== 4 || h == null || h !== w || c !== 3) {
      throw new Error(`${this.source}: expected a fixed square RGB input [null,s,s,3], got ${shapeText(shape)}`);
    }
    this.inputSize = h;
    let layer: tf.layers.Layer;
    try {
      layer = classifier.getLayer(options.featureLayer);
    } catch {
      throw new Error(`${this.source}: has no layer '${options.featureLayer}'`);
    }
    let tap = layer.output as tf.SymbolicTensor;
    if (tap.shape.length === 4) tap = tf.layers.globalAveragePooling2d({ name: 'eval_feature_pool' }).apply(tap) as tf.SymbolicTensor;
    if (tap.shape.length !== 2 || tap.shape[1] == null)
      throw new Error(
        `${this.source}: layer '${options.featureLayer}' gives shape ${shapeText(tap.shape)}, expected [null,h,w,c] or [null,c]`,
      );
    const logits = classifier.outputs[0]!;
    if (logits.shape.length !== 2 || logits.shape[1] !== options.labels.length) {
      throw new Error(`${this.source}: output shape ${shapeText(logits.shape)} does not match ${options.labels.length} labels`);
    }
    this.featureDim = tap.shape[1];
    this.labels = options.labels;
    this.batchSize = options.batchSize ?? 16;
    this.owned = classifier;
    this.model = tf.model({ inputs: classifier.inputs, outputs: [tap, logits] });
  }

  /** Loads a classifier folder (model.json, shards, labels.json); the bundled Darknet by default. */
  static async load(dir: string = DEFAULT_FEATURE_NET_DIR, options: Partial<FeatureNetOptions> = {}): Promise<FeatureNetwork> {
    const labelsFile = join(dir, 'labels.json');
    if (!existsSync(join(dir, 'model.json')))
      throw new Error(`${join(dir, 'model.json')}: not found (the feature network folder needs model.json and labels.json)`);
    let labels: unknown;
    try {
      labels = JSON.parse(await readFile(labelsFile, 'utf8'));
    } catch (error) {
      throw new Error(`${labelsFile}: cannot read the class names (${(error as Error).message.split('\n')[0]})`, { cause: error });
    }
    if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string'))
      throw new Error(`${labelsFile}: expected a JSON list of class names`);
    const model = await loadLayersModel(dir);
    try {
      return new FeatureNetwork(model, { featureLayer: DARKNET_FEATURE_LAYER, source: dir, ...options, labels: labels as string[] });
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Index of a class by its exact name; the error lists the names that come close. */
  classIndex(name: string): number {
    const i = this.labels.indexOf(name);
    if (i >= 0) return i;
    const close = closeLabels(name, this.labels);
    throw new Error(
      `class '${name}' is not a label of ${this.source}${close.length ? ` (close: ${close.map((c) => `'${c}'`).join(', ')})` : ''}`,
    );
  }

  /** Features and class probabilities of 8-bit images of any size. */
  async analyse(images: readonly RgbImage[]): Promise<ImageStats> {
    const classes = this.labels.length;
    const features = new Float64Array(images.length * this.featureDim);
    const probs = new Float32Array(images.length * classes);
    for (let start = 0; start < images.length; start += this.batchSize) {
      const batch = images.slice(start, start + this.batchSize);
      const pixels = await Promise.all(batch.map((img) => resizeCubic(img, this.inputSize)));
      const [f, p] = this.run(pixels);
      features.set(f, start * this.featureDim);
      probs.set(p, start * classes);
    }
    return { features: { count: images.length, dim: this.featureDim, data: features }, probs, classes };
  }

  private run(pixels: Uint8Array[]): [Float32Array, Float32Array] {
    const s = this.inputSize;
    const input = new Float32Array(pixels.length * s * s * 3);
    pixels.forEach((p, i) => {
      for (let k = 0; k < p.length; k++) input[i * p.length + k] = p[k]! / 255;
    });
    const [f, p] = tf.tidy(() => {
      const [feat, logits] = this.model.predict(tf.tensor4d(input, [pixels.length, s, s, 3])) as tf.Tensor[];
      return [feat!, tf.softmax(logits!)];
    });
    try {
      return [f.dataSync() as Float32Array, p.dataSync() as Float32Array];
    } finally {
      tf.dispose([f, p]);
    }
  }

  dispose(): void {
    // The two-output model shares the classifier's layers; disposing the classifier frees them.
    this.owned.dispose();
  }
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'null' : String(d))).join(',')}]`;
}

/** Resizes 8-bit RGB to size x size with sharp's cubic (Catmull-Rom) filter; 8-bit out. */
export async function resizeCubic(img: RgbImage, size: number): Promise<Uint8Array> {
  if (img.width === size && img.height === size) return img.data;
  const { data, info } = await sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 3 },
  })
    .resize(size, size, { fit: 'fill', kernel: 'cubic' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new Error(`resize to ${size}x${size} gave ${info.width}x${info.height}x${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Labels containing the query (or contained in it), then those at a small edit distance. */
export function closeLabels(query: string, labels: readonly string[], max = 5): string[] {
  const q = query.toLowerCase().trim();
  const scored = labels.map((label) => {
    const l = label.toLowerCase();
    const d = l === q ? 0 : l.includes(q) || (l.length > 2 && q.includes(l)) ? 1 : 2 + editDistance(q, l);
    return { label, d };
  });
  const limit = 2 + Math.max(2, Math.floor(q.length / 3));
  return scored
    .filter((s) => s.d <= limit)
    .sort((a, b) => a.d - b.d || (a.label < b.label ? -1 : 1))
    .slice(0, max)
    .map((s) => s.label);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
