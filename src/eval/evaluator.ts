/**
 * Evaluation of one translation direction against real images of the target domain. Built once
 * (the target side is analysed once, and the floor and ceiling with it), then `evaluate` measures
 * any translate function: the command line's loaded generator, or the training loop's current
 * one every N steps. A yardstick, never a training signal: nothing here has a gradient.
 *
 *   model   — translations of the sources vs the targets
 *   floor   — the untranslated sources vs the targets (what doing nothing scores)
 *   ceiling — one half of the targets vs the other half (what real target images score; the
 *             halves come from a seeded shuffle). The class-rate ceiling is over all targets.
 */
import * as tf from '@tensorflow/tfjs';
import { tensorToImage, type RgbImage } from '../data/pixels.ts';
import type { Direction } from '../infer/manifest.ts';
import type { Translator } from '../infer/translator.ts';
import { Rng } from '../util/rng.ts';
import { classRate, type ClassRate } from './class-rate.ts';
import type { FeatureNetwork, ImageStats } from './feature-net.ts';
import { kernelInceptionDistance, type FeatureSet, type KidOptions, type KidResult } from './kid.ts';

export type { Direction };

/** [1,h,w,3] in [-1, 1] → [1,h,w,3] in [-1, 1]. The input is disposed by the caller, the output by the evaluator. */
export type TranslateFn = (image: tf.Tensor4D) => tf.Tensor4D | Promise<tf.Tensor4D>;

export interface Kid1000 {
  /** KID x 1000, mean over the subsets. */
  mean: number;
  /** KID x 1000, standard deviation over the subsets. */
  std: number;
  subsetSize: number;
  /** KID x 1000 over subsets of half the size: an upper estimate of the figure's standard error (kid.ts). */
  halfStd?: number;
}

export interface Figures {
  kid: Kid1000;
  /** Present when a target class was given. */
  classRate?: ClassRate;
}

export interface DirectionReport {
  direction: Direction;
  sources: number;
  targets: number;
  targetClass?: string;
  model?: Figures;
  floor: Figures;
  ceiling: Figures;
}

export interface DirectionEvaluatorOptions {
  direction: Direction;
  /** ImageNet class name of the target domain (e.g. 'zebra' for AtoB). */
  targetClass?: string;
  /** KID subsets (default 100). */
  subsets?: number;
  /** Seed of the KID subsets and of the halves of the ceiling (default 0). */
  seed?: number;
  maxSubsetSize?: number;
  /** Called after each translated image. */
  onProgress?: (done: number, total: number) => void;
}

function selectRows(set: FeatureSet, rows: ArrayLike<number>): FeatureSet {
  const out = new Float64Array(rows.length * set.dim);
  for (let r = 0; r < rows.length; r++) out.set(set.data.subarray(rows[r]! * set.dim, (rows[r]! + 1) * set.dim), r * set.dim);
  return { count: rows.length, dim: set.dim, data: out };
}

export class DirectionEvaluator {
  readonly floor: Figures;
  readonly ceiling: Figures;
  private readonly kidOptions: KidOptions;

  private constructor(
    private readonly net: FeatureNetwork,
    private readonly sources: readonly RgbImage[],
    private readonly targetStats: ImageStats,
    private readonly classIndex: number | undefined,
    private readonly options: DirectionEvaluatorOptions,
    sourceStats: ImageStats,
  ) {
    this.kidOptions = { subsets: options.subsets, seed: options.seed, maxSubsetSize: options.maxSubsetSize };
    this.floor = this.figures(sourceStats);
    const n = targetStats.features.count;
    const order = new Rng(options.seed ?? 0).shuffle(Array.from({ length: n }, (_, i) => i));
    const half = Math.floor(n / 2);
    const first = selectRows(targetStats.features, order.slice(0, half));
    const second = selectRows(targetStats.features, order.slice(half));
    this.ceiling = {
      kid: toKid1000(kernelInceptionDistance(second, first, this.kidOptions)),
      ...(classIndex === undefined ? {} : { classRate: classRate(targetStats, classIndex) }),
    };
  }

  /**
   * Analyses the sources and targets (8-bit images, typically at the translation size) and
   * computes the floor and the ceiling. The network is borrowed, not disposed.
   */
  static async create(
    net: FeatureNetwork,
    sources: readonly RgbImage[],
    targets: readonly RgbImage[],
    options: DirectionEvaluatorOptions,
  ): Promise<DirectionEvaluator> {
    if (sources.length < 2) throw new Error(`${options.direction}: KID needs at least 2 source images, got ${sources.length}`);
    if (targets.length < 4)
      throw new Error(`${options.direction}: the ceiling needs at least 4 target images (two halves of 2), got ${targets.length}`);
    const classIndex = options.targetClass === undefined ? undefined : net.classIndex(options.targetClass);
    const targetStats = await net.analyse(targets);
    const sourceStats = await net.analyse(sources);
    return new DirectionEvaluator(net, sources, targetStats, classIndex, options, sourceStats);
  }

  get direction(): Direction {
    return this.options.direction;
  }

  get sourceCount(): number {
    return this.sources.length;
  }

  get targetCount(): number {
    return this.targetStats.features.count;
  }

  /** Translates every source with `translate` and measures the translations against the targets. */
  async evaluate(translate: TranslateFn): Promise<Figures> {
    const translated: RgbImage[] = [];
    for (const source of this.sources) {
      translated.push(await translateOne(translate, source));
      this.options.onProgress?.(translated.length, this.sources.length);
    }
    return this.figures(await this.net.analyse(translated));
  }

  /** The report of this direction, with `model` the figures of `evaluate` when there is a model. */
  report(model?: Figures): DirectionReport {
    return {
      direction: this.direction,
      sources: this.sourceCount,
      targets: this.targetCount,
      ...(this.options.targetClass === undefined ? {} : { targetClass: this.options.targetClass }),
      ...(model ? { model } : {}),
      floor: this.floor,
      ceiling: this.ceiling,
    };
  }

  private figures(stats: ImageStats): Figures {
    return {
      kid: toKid1000(kernelInceptionDistance(stats.features, this.targetStats.features, this.kidOptions)),
      ...(this.classIndex === undefined ? {} : { classRate: classRate(stats, this.classIndex) }),
    };
  }
}

function toKid1000(r: KidResult): Kid1000 {
  return { mean: r.mean * 1000, std: r.std * 1000, subsetSize: r.subsetSize, ...(r.halfStd === null ? {} : { halfStd: r.halfStd * 1000 }) };
}

/** One image through `translate`; every tensor made here is released, also when translate throws. */
async function translateOne(translate: TranslateFn, image: RgbImage): Promise<RgbImage> {
  const input = tf.tidy(
    () => tf.sub(tf.div(tf.tensor4d(image.data, [1, image.height, image.width, 3], 'int32').toFloat(), 127.5), 1) as tf.Tensor4D,
  );
  let output: tf.Tensor | undefined;
  try {
    output = await translate(input);
    const expected = [1, image.height, image.width, 3];
    if (!(output instanceof tf.Tensor) || !tf.util.arraysEqual(output.shape, expected)) {
      const got = output instanceof tf.Tensor ? `shape [${output.shape.join(',')}]` : `a ${typeof output}`;
      throw new Error(`the translation of a [${expected.join(',')}] image returned ${got}, expected the same shape`);
    }
    const values = output.dataSync();
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new Error(`the translation has a non-finite value (${values[i]}) at index ${i}`);
    }
    return tensorToImage(output);
  } finally {
    if (output instanceof tf.Tensor && output !== input) output.dispose();
    input.dispose();
  }
}

/** A TranslateFn running a loaded translator (tfjs or ONNX) through its pad/tile plan. */
export function translatorFn(translator: Translator): TranslateFn {
  return async (image) => {
    const [, height, width] = image.shape;
    const out = await translator.translatePixels({ data: (await image.data()) as Float32Array, height, width });
    return tf.tensor4d(out.data, [1, out.height, out.width, 3]);
  };
}
