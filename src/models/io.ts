/**
 * Saving and loading layers models as a directory `model.json` + `weights.bin` in the standard
 * tfjs layers format (loadable by tf.loadLayersModel over HTTP, e.g. by the browser demo). tfjs's
 * `file://` handler lives in tfjs-node, which this project does not use, so this is the Node
 * side of it. Node-only: nothing that runs in a browser may import this file.
 */
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { setFloat16 } from '@petamoriken/float16';
import * as tf from '@tensorflow/tfjs';
import { writeDirAtomic, writeFileSynced } from '../util/atomic.ts';
// The custom layers must be registered before a model that uses them is deserialised.
import './layers/crop.ts';
import './layers/instance-norm.ts';
import './layers/reflection-padding.ts';
import './layers/seeded-dropout.ts';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

export type WeightQuantization = 'float16' | 'uint8';

export interface SaveOptions {
  /**
   * Store float32 weights compactly, in the tfjs weight-quantization format that every tfjs
   * loader decodes: 'float16' (half the size), or 'uint8' (a quarter; per-tensor affine, value =
   * q · scale + min).
   */
  quantize?: WeightQuantization;
}

/** Re-encodes the float32 weights of a tfjs weight buffer; other dtypes are copied as they are. */
export function quantizeWeights(
  data: Uint8Array,
  specs: tf.io.WeightsManifestEntry[],
  kind: WeightQuantization,
): { weights: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  if (kind !== 'float16' && kind !== 'uint8')
    throw new Error(`unknown weight quantization ${JSON.stringify(kind)} (expected float16 or uint8)`);
  const parts: Uint8Array[] = [];
  const out: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const bytes = count * (BYTES_PER_VALUE[spec.quantization?.dtype ?? spec.dtype] ?? 4);
    const raw = data.subarray(offset, offset + bytes);
    offset += bytes;
    if (spec.dtype !== 'float32' || spec.quantization) {
      parts.push(raw);
      out.push(spec);
      continue;
    }
    const values = new Float32Array(raw.slice().buffer);
    if (kind === 'float16') {
      const half = new Uint16Array(count);
      const view = new DataView(half.buffer);
      // setFloat16 rounds to nearest even, as a hardware conversion does.
      for (let i = 0; i < count; i++) setFloat16(view, i * 2, values[i]!, true);
      parts.push(new Uint8Array(half.buffer));
      out.push({ ...spec, quantization: { dtype: 'float16' } });
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (!Number.isFinite(min) || !Number.isFinite(max)) throw new Error(`weight '${spec.name}' is not finite: cannot quantize it`);
      const scale = max > min ? (max - min) / 255 : 1;
      const q = new Uint8Array(count);
      for (let i = 0; i < count; i++) q[i] = Math.round((values[i]! - min) / scale);
      parts.push(q);
      out.push({ ...spec, quantization: { dtype: 'uint8', scale, min } });
    }
  }
  const total = parts.reduce((n, p) => n + p.byteLength, 0);
  const weights = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    weights.set(p, at);
    at += p.byteLength;
  }
  return { weights, specs: out };
}

/**
 * Writes `model` to `dir/model.json` + `dir/weights.bin`, replacing `dir` as a whole: the files
 * are written and synced in a sibling `dir.tmp-XXXX` that is then renamed into place, so an
 * interrupted save leaves the previous model intact instead of a half-written one. Returns the
 * save result tfjs reports (sizes of topology and weights).
 */
export async function saveLayersModel(model: tf.LayersModel, dir: string, options: SaveOptions = {}): Promise<tf.io.SaveResult> {
  const target = resolve(dir);
  return model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      if (artifacts.modelTopology == null || artifacts.weightSpecs == null || artifacts.weightData == null) {
        throw new Error(`saveLayersModel(${dir}): tfjs produced no topology or weights to save`);
      }
      let weights: Uint8Array = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData));
      let specs = artifacts.weightSpecs;
      if (options.quantize) ({ weights, specs } = quantizeWeights(weights, specs, options.quantize));
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: specs }],
      };
      if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
      if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;

      await writeDirAtomic(target, async (tmp) => {
        await writeFileSynced(join(tmp, WEIGHTS_BIN), weights);
        await writeFileSynced(join(tmp, MODEL_JSON), JSON.stringify(modelJson));
      });
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

const BYTES_PER_VALUE: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

function expectedBytes(jsonPath: string, specs: tf.io.WeightsManifestEntry[]): number {
  let total = 0;
  for (const spec of specs) {
    const dtype = spec.quantization?.dtype ?? spec.dtype;
    const size = BYTES_PER_VALUE[dtype];
    if (size === undefined) throw new Error(`${jsonPath}: weight '${spec.name}' has unsupported dtype '${dtype}'`);
    total += spec.shape.reduce((a, b) => a * b, 1) * size;
  }
  return total;
}

/**
 * Loads a model saved by `saveLayersModel` (or any tfjs layers-format directory whose weight
 * files sit inside it, e.g. the converter's group1-shard1of1.bin shards). `path` is the
 * directory or its model.json.
 */
export async function loadLayersModel(path: string, options: { strict?: boolean } = {}): Promise<tf.LayersModel> {
  const dir = basename(path) === MODEL_JSON ? dirname(path) : path;
  const root = resolve(dir);
  const jsonPath = join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await readFile(join(root, MODEL_JSON), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new Error(`${jsonPath}: not found`, { cause: err });
    throw new Error(`${jsonPath}: cannot read (${(err as Error).message})`, { cause: err });
  }
  let modelJson: tf.io.ModelJSON;
  try {
    modelJson = JSON.parse(text) as tf.io.ModelJSON;
  } catch (err) {
    throw new Error(`${jsonPath}: corrupt JSON (${(err as Error).message})`, { cause: err });
  }
  if (modelJson == null || typeof modelJson !== 'object' || modelJson.modelTopology == null) {
    throw new Error(`${jsonPath}: not a tfjs layers model (no modelTopology)`);
  }
  if (!Array.isArray(modelJson.weightsManifest)) {
    throw new Error(`${jsonPath}: not a tfjs layers model (no weightsManifest)`);
  }

  const artifacts = await tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const chunks: Uint8Array[] = [];
    const names: string[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const p of group.paths) {
        const file = resolve(root, p);
        if (file !== root && !file.startsWith(root + sep)) {
          throw new Error(`${jsonPath}: weight path '${p}' points outside ${dir}`);
        }
        names.push(p);
        try {
          chunks.push(await readFile(file));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${join(dir, p)}: not found`, { cause: err });
          throw err;
        }
      }
    }
    const actual = chunks.reduce((n, c) => n + c.byteLength, 0);
    const expected = expectedBytes(jsonPath, specs);
    if (actual !== expected) {
      const what = names.length === 1 ? `${join(dir, names[0]!)} is` : `${names.map((n) => join(dir, n)).join(' + ')} are`;
      throw new Error(`${what} ${actual} bytes, ${basename(jsonPath)} expects ${expected}`);
    }
    const data = new Uint8Array(actual);
    let offset = 0;
    for (const c of chunks) {
      data.set(c, offset);
      offset += c.byteLength;
    }
    return [specs, data.buffer];
  });
  try {
    return await tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: options.strict ?? true });
  } catch (err) {
    throw new Error(`${jsonPath}: ${(err as Error).message}`, { cause: err });
  }
}
