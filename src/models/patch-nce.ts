/**
 * PatchNCE (Park, Efros, Zhang, Zhu, "Contrastive Learning for Unpaired Image-to-Image
 * Translation", ECCV 2020; code: taesungp/contrastive-unpaired-translation): the loss that lets
 * CUT drop CycleGAN's second generator and its cycle. A patch of the output should be more like
 * the input patch at the same place than like the input's other patches, measured on features of
 * the generator's own encoder passed through a small projection head per layer.
 *
 * The pieces, in the order the loss uses them: feature taps of the ResNet generator, one
 * projection head per tap, patch sampling (the same positions for the input and the output), and
 * the loss itself (patchnce.py with nce_includes_all_negatives_from_minibatch = False).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../util/rng.ts';
import { checkPositiveInt, toRng, type SeedSource } from './norm.ts';

/**
 * The layers CUT contrasts (`--nce_layers 0,4,8,12,16` of its PyTorch ResnetGenerator, whose
 * `model` is one nn.Sequential) named as in this project's `buildResnetGenerator`. With CUT's
 * default anti-aliased downsampling that Sequential is
 *   0 ReflectionPad2d(3) · 1-3 conv 7×7, norm, ReLU · 4-7 conv 3×3 s1, norm, ReLU, blur-pool ·
 *   8-11 the same at 4·ngf · 12.. ResnetBlocks,
 * so the five features are the padded input, the outputs of the two downsampling convolutions
 * (before their norm) and the outputs of the first and fifth residual blocks. Differences here:
 * this generator downsamples with stride-2 convolutions (CUT's `--no_antialias`), so the two
 * conv taps are at half the resolution of CUT's (its blur-pool comes after its conv); the tap
 * after the 7×7 stem (`stem_relu`, PyTorch layer 3) is not one of the five.
 *
 * Layer 0 is the reflection-padded input (`stem_pad`), not the raw input: that is what CUT
 * samples, so its 3-channel head sees the same positions, mirrored border included, and the loss
 * compares with the reference's. (A border patch then has mirrored twins among its negatives;
 * they are as few as in CUT's own training.)
 */
export const CUT_TAP_LAYERS: readonly string[] = ['stem_pad', 'down1_conv', 'down2_conv', 'res1_add', 'res5_add'];

/** CUT's `--netF_nc`: width of both layers of every projection head. */
export const DEFAULT_HEAD_UNITS = 256;
/** CUT's `--num_patches`. */
export const DEFAULT_NCE_PATCHES = 256;
/** CUT's `--nce_T`. */
export const DEFAULT_NCE_TEMPERATURE = 0.07;
/** What patchnce.py fills the diagonal of the negative logits with (exp(−10/T) is nothing). */
const DIAGONAL_LOGIT = -10;
/** Normalize(2) in CUT's networks.py divides by the norm plus this. */
const L2_EPSILON = 1e-7;

export interface FeatureTaps {
  /** The tapped layers' names, in output order. */
  layers: string[];
  /** Channels of each tap (the input width of its head). */
  channels: number[];
  /** Generator input → the taps (the encoder part only is computed). */
  encoder: tf.LayersModel;
  /** Generator input → [the generator's image, ...the taps], in one pass. */
  withImage: tf.LayersModel;
}

/**
 * Models sharing `generator`'s layers and weights that output its features at `layers`. They own
 * nothing: never dispose them (tfjs would free the generator's weights); disposing the generator
 * is what frees them.
 */
export function buildFeatureTaps(generator: tf.LayersModel, layers: readonly string[] = CUT_TAP_LAYERS): FeatureTaps {
  if (layers.length === 0) throw new Error('buildFeatureTaps needs at least one layer to tap');
  const outputs = layers.map((name) => {
    const layer = generator.layers.find((l) => l.name === name);
    if (!layer) {
      throw new Error(
        `generator '${generator.name}' has no layer '${name}' to tap for PatchNCE (CUT needs the ResNet generator with at least 5 residual blocks)`,
      );
    }
    if (layer.inboundNodes.length !== 1) throw new Error(`layer '${name}' of '${generator.name}' is used more than once; cannot tap it`);
    return layer.output as tf.SymbolicTensor;
  });
  const channels = outputs.map((o, i) => {
    const c = o.shape[o.shape.length - 1];
    if (o.shape.length !== 4 || c == null)
      throw new Error(`tap '${layers[i]}' is not an NHWC feature map with known channels: [${o.shape}]`);
    return c;
  });
  const input = generator.inputs[0]!;
  return {
    layers: [...layers],
    channels,
    encoder: tf.model({ inputs: input, outputs, name: `${generator.name}_taps` }),
    withImage: tf.model({ inputs: input, outputs: [generator.outputs[0]!, ...outputs], name: `${generator.name}_image_taps` }),
  };
}

export interface ProjectionHeadOptions {
  /** Channels of the tapped feature. */
  inChannels: number;
  /** Width of both dense layers. Default 256 (CUT's netF_nc). */
  units?: number;
  /** Initializer seed (or an Rng to draw the two kernels' seeds from). Default 0. */
  seed?: SeedSource;
  name: string;
}

/**
 * CUT's PatchSampleF MLP for one tap: Dense C→256, ReLU, Dense 256→256 (the L2 normalisation that
 * follows it is `projectPatches`, so the model holds only stock layers and saves and loads as any
 * tfjs LayersModel). Kernels N(0, 0.02), biases zero: init_type 'normal', gain 0.02, as this
 * project's other networks. CUT's own default is init_type 'xavier' with gain 0.02, i.e. a
 * standard deviation of 0.02·sqrt(2/(fan_in + fan_out)), about 0.00125 for 256→256; the output is
 * L2-normalised, so the scale changes only how fast the head moves at first.
 */
export function buildProjectionHead(options: ProjectionHeadOptions): tf.LayersModel {
  const { inChannels, units = DEFAULT_HEAD_UNITS, name } = options;
  checkPositiveInt('inChannels', inChannels);
  checkPositiveInt('units', units);
  const rng = toRng(options.seed);
  const dense = (layerName: string, activation: 'relu' | 'linear', inputShape?: number[]) =>
    tf.layers.dense({
      units,
      activation,
      kernelInitializer: tf.initializers.randomNormal({ mean: 0, stddev: 0.02, seed: rng.seed() }),
      biasInitializer: 'zeros',
      name: `${name}_${layerName}`,
      ...(inputShape ? { inputShape } : {}),
    });
  return tf.sequential({ name, layers: [dense('fc1', 'relu', [inChannels]), dense('fc2', 'linear')] });
}

/** The head's model name for a tap: CUT calls the heads netF. */
export function headName(tap: string): string {
  return `F_${tap}`;
}

/** One head per tap, seeds drawn from `seed` in tap order. */
export function buildProjectionHeads(
  taps: Pick<FeatureTaps, 'layers' | 'channels'>,
  seed: SeedSource,
  units = DEFAULT_HEAD_UNITS,
): tf.LayersModel[] {
  const rng = toRng(seed);
  return taps.layers.map((tap, i) => buildProjectionHead({ inChannels: taps.channels[i]!, units, seed: rng.seed(), name: headName(tap) }));
}

/**
 * `count` distinct positions out of `positions`, in random order (all of them, shuffled, when
 * there are fewer): the prefix of a permutation, as PatchSampleF's np.random.permutation(HW)[:n],
 * but drawn from the run's Rng so a resumed run draws the same ones.
 */
export function samplePatchIds(positions: number, count: number, rng: Rng): Int32Array {
  checkPositiveInt('positions', positions);
  checkPositiveInt('count', count);
  const n = Math.min(count, positions);
  const perm = new Int32Array(positions);
  for (let i = 0; i < positions; i++) perm[i] = i;
  // Partial Fisher–Yates: only the first n slots need to be settled.
  for (let i = 0; i < n; i++) {
    const j = i + rng.int(positions - i);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  return perm.slice(0, n);
}

/** Positions (row-major over H×W) for every tap of a feature set. */
export function samplePatchIdsForTaps(features: readonly tf.Tensor4D[], count: number, rng: Rng): Int32Array[] {
  return features.map((f) => samplePatchIds(f.shape[1] * f.shape[2], count, rng));
}

/**
 * The features at `ids` of every image: [B, H, W, C] → [B, P, C] (the same positions in every
 * image of the batch, as PatchSampleF does). The gradient is written out with ScatterNd because
 * tf.gather's own needs UnsortedSegmentSum, which the wasm backend does not have.
 */
export function gatherPatches(feature: tf.Tensor4D, ids: Int32Array): tf.Tensor3D {
  const [b, h, w, c] = feature.shape;
  const positions = h * w;
  for (const id of ids) {
    if (!(id >= 0 && id < positions)) throw new Error(`patch position ${id} is outside a ${h}×${w} feature map`);
  }
  const gather = tf.customGrad(((x: tf.Tensor3D, save: tf.GradSaveFunc) => {
    const indices = tf.tensor1d(ids, 'int32');
    save([indices]);
    const value = tf.gather(x, indices, 1);
    indices.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor3D, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const idx = tf.reshape(saved[0]!, [ids.length, 1]) as tf.Tensor2D;
          // Distinct positions: the scatter places each patch's gradient, nothing is summed.
          const placed = tf.scatterND(idx, tf.transpose(dy, [1, 0, 2]), [positions, b, c]);
          return tf.transpose(placed, [1, 0, 2]);
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor3D;
  return tf.tidy(() => gather(tf.reshape(feature, [b, positions, c])));
}

/** x / (‖x‖₂ + 1e-7) along the last axis, as CUT's Normalize(2). */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.div(x, tf.add(tf.sqrt(tf.sum(tf.square(x), -1, true)), L2_EPSILON)));
}

/** Head then L2 normalisation of sampled patches: [B, P, C] → [B, P, units]. */
export function projectPatches(head: tf.LayersModel, patches: tf.Tensor3D): tf.Tensor3D {
  const [b, p, c] = patches.shape;
  return tf.tidy(() => {
    const projected = head.apply(tf.reshape(patches, [b * p, c]), { training: true }) as tf.Tensor2D;
    return tf.reshape(l2Normalize(projected), [b, p, projected.shape[1]]) as tf.Tensor3D;
  });
}

/**
 * PatchNCE of queries `q` (features of the output) against keys `k` (of the input at the same
 * positions), both [B, P, D] and L2-normalised, negatives from the same image only:
 *   l_pos = q_i·k_i,  l_neg[i, j] = q_i·k_j with l_neg[i, i] = −10,
 *   loss = mean over images and patches of CE([l_pos, l_neg[i, :]] / T, target 0).
 * patchnce.py detaches k; here the caller does, by computing k outside the gradient (`Cut`).
 */
export function patchNceLoss(q: tf.Tensor3D, k: tf.Tensor3D, temperature = DEFAULT_NCE_TEMPERATURE): tf.Scalar {
  if (q.rank !== 3 || !tf.util.arraysEqual(q.shape, k.shape)) {
    throw new Error(`patchNceLoss needs queries and keys of the same [B, P, D] shape, got [${q.shape}] and [${k.shape}]`);
  }
  if (!(temperature > 0 && Number.isFinite(temperature))) throw new Error(`NCE temperature must be a positive number, got ${temperature}`);
  const p = q.shape[1];
  return tf.tidy(() => {
    const lPos = tf.sum(tf.mul(q, k), -1, true); // [B, P, 1]
    const lNegAll = tf.matMul(q, k, false, true); // [B, P, P]
    const eye = tf.eye(p);
    // off-diagonal·1 + 0 and diagonal·0 + (−10): exactly the masked_fill of patchnce.py.
    const lNeg = tf.add(tf.mul(lNegAll, tf.sub(1, eye)), tf.mul(eye, DIAGONAL_LOGIT));
    const logits = tf.div(tf.concat([lPos, lNeg], -1), temperature); // [B, P, 1 + P]
    const positive = tf.squeeze(tf.slice(logits, [0, 0, 0], [-1, -1, 1]), [2]);
    return tf.mean(tf.sub(tf.logSumExp(logits, -1), positive)) as tf.Scalar;
  });
}

/** The mean over taps of patchNceLoss (CUT's calculate_NCE_loss before λ). */
export function multiLayerPatchNceLoss(
  qs: readonly tf.Tensor3D[],
  ks: readonly tf.Tensor3D[],
  temperature = DEFAULT_NCE_TEMPERATURE,
): tf.Scalar {
  if (qs.length === 0 || qs.length !== ks.length)
    throw new Error(`PatchNCE needs as many key as query taps (got ${qs.length} and ${ks.length})`);
  return tf.tidy(() => tf.div(tf.addN(qs.map((q, i) => patchNceLoss(q, ks[i]!, temperature))), qs.length) as tf.Scalar);
}

/** Sampled, projected, normalised patches of every tap: the q or k side of the loss. */
export function encodePatches(
  heads: readonly tf.LayersModel[],
  features: readonly tf.Tensor4D[],
  ids: readonly Int32Array[],
): tf.Tensor3D[] {
  if (heads.length !== features.length || ids.length !== features.length) {
    throw new Error(`PatchNCE got ${features.length} taps, ${heads.length} heads and ${ids.length} position sets`);
  }
  return tf.tidy(() => features.map((f, i) => projectPatches(heads[i]!, gatherPatches(f, ids[i]!))));
}
