/**
 * `--feature-disc mobilenetv2`: the MobileNetV2 (alpha 1.0) whose weights ship inside npm
 * `nsfwjs` 4.4.0 (MIT, Infinite Red), as a frozen feature extractor. Its two data modules,
 * `dist/models/mobilenet_v2/model.min.js` (the Keras topology and the weights manifest, uint8
 * quantized) and `group1-shard1of1.min.js` (the weights, base64), are read as text and parsed
 * (js-literal.ts): none of nsfwjs's code runs, and nothing is downloaded. Both files are checked
 * against their SHA-256, so the weights are exactly the ones this was written against.
 *
 * Taps: the ends of the stride-4, stride-8 and first stride-16 stages, `block_2_add` (24
 * channels), `block_5_add` (32) and `block_9_add` (64): 32×32, 16×16 and 8×8 maps of a 128-px
 * crop. Generic lower and middle features: the saved topology marks Conv1 … block_10 as not
 * trainable (frozen while nsfwjs's classifier was fine-tuned from ImageNet MobileNetV2), block_11
 * on as fine-tuned for its NSFW classes, so all three taps lie in the ImageNet part. Deeper maps
 * (stride 32) would be 4×4 at 128 px: too few patches to judge.
 *
 * Input: nsfwjs feeds this model pixels/255, i.e. [0, 1] (its core.js divides by 255); our
 * images are in [-1, 1] and are mapped to (x + 1)/2. The crop is fed at its own size (no resize
 * to nsfwjs's 224): the trunk is fully convolutional.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { checkFeatures, type BackboneIdentity, type FeatureBackbone } from './backbone.ts';
import { bundledExport, type JsValue } from './js-literal.ts';
import { buildKerasTrunk } from './keras-trunk.ts';

export const MOBILENETV2_TAPS: readonly string[] = ['block_2_add', 'block_5_add', 'block_9_add'];

/** The nsfwjs release the files are read from (package.json pins it exactly). */
export const NSFWJS_VERSION = '4.4.0';
const FILES = {
  model: { path: 'dist/models/mobilenet_v2/model.min.js', sha256: 'c32f104fd562b08cdff5ed69dfe1209643afa47e792fb12751d2949aa61a397a' },
  weights: {
    path: 'dist/models/mobilenet_v2/group1-shard1of1.min.js',
    sha256: 'ef2e0a63f7d2c4960b37b024b669313f65d3c45cd59e9042636c55b39de53517',
  },
} as const;

/** The installed nsfwjs package's folder (found through Node's resolution, as an import would). */
export function nsfwjsRoot(): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve('nsfwjs');
  } catch (error) {
    throw new Error(`the mobilenetv2 backbone needs npm package nsfwjs@${NSFWJS_VERSION}, which is not installed (npm ci)`, {
      cause: error,
    });
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'dist', 'models'))) return dir;
  }
  throw new Error(`nsfwjs resolved to ${entry}, but no package folder with dist/models holds it`);
}

const isObject = (v: JsValue | undefined): v is { [key: string]: JsValue } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The topology, the weights manifest and the decoded weights of nsfwjs's MobileNetV2. */
export async function readNsfwjsMobileNetV2(root = nsfwjsRoot()): Promise<{
  topology: JsValue;
  specs: tf.io.WeightsManifestEntry[];
  /** The weight bytes as stored (uint8), which `specs` describe. */
  weightData: ArrayBuffer;
  weights: Map<string, tf.Tensor>;
  version: string;
}> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name?: string; version?: string };
  if (pkg.name !== 'nsfwjs' || pkg.version !== NSFWJS_VERSION) {
    throw new Error(
      `the mobilenetv2 backbone is read from nsfwjs@${NSFWJS_VERSION}'s files; ${root} holds ${pkg.name}@${pkg.version} (npm ci installs the pinned one)`,
    );
  }
  const text: Record<keyof typeof FILES, string> = { model: '', weights: '' };
  for (const key of ['model', 'weights'] as const) {
    const file = join(root, FILES[key].path);
    const bytes = await readFile(file).catch((error: Error) => {
      throw new Error(`${file}: cannot read (${error.message})`, { cause: error });
    });
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== FILES[key].sha256)
      throw new Error(`${file}: SHA-256 ${sha}, expected ${FILES[key].sha256} (nsfwjs@${NSFWJS_VERSION}'s file)`);
    text[key] = bytes.toString('utf8');
  }
  const model = bundledExport(text.model, FILES.model.path);
  const base64 = bundledExport(text.weights, FILES.weights.path);
  const manifest = isObject(model) ? model.weightsManifest : undefined;
  if (!isObject(model) || !Array.isArray(manifest) || typeof base64 !== 'string') {
    throw new Error(`${FILES.model.path}: not {modelTopology, weightsManifest} with a base64 weight string`);
  }
  const specs = manifest.flatMap((group) =>
    isObject(group) && Array.isArray(group.weights) ? group.weights : [],
  ) as unknown as tf.io.WeightsManifestEntry[];
  const data = Buffer.from(base64, 'base64');
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  // tfjs's own decoder: it dequantizes the uint8 weights (value = q·scale + min) to float32.
  const decoded = tf.io.decodeWeights(buffer, specs);
  return {
    topology: model.modelTopology!,
    specs,
    weightData: buffer,
    weights: new Map(Object.entries(decoded)),
    version: `nsfwjs@${pkg.version} ${FILES.weights.path} sha256:${FILES.weights.sha256.slice(0, 16)}`,
  };
}

/** Loads the backbone (about 0.3 s: parse, dequantize, fold the batch norms). */
export async function loadMobileNetV2(taps: readonly string[] = MOBILENETV2_TAPS): Promise<FeatureBackbone> {
  const { topology, weights, version } = await readNsfwjsMobileNetV2();
  let trunk;
  try {
    trunk = buildKerasTrunk(topology, weights, taps, `nsfwjs ${FILES.model.path}`);
  } finally {
    tf.dispose([...weights.values()]);
  }
  const identity: BackboneIdentity = { name: 'mobilenetv2', version, taps: [...taps] };
  const backbone: FeatureBackbone = {
    identity,
    channels: trunk.channels,
    strides: trunk.strides,
    features: (images) =>
      checkFeatures(
        backbone,
        tf.tidy(() => trunk.run(tf.mul(tf.add(images, 1), 0.5) as tf.Tensor4D)),
      ),
    weights: () => trunk.tensors,
    dispose: () => tf.dispose(trunk.tensors),
  };
  return backbone;
}
