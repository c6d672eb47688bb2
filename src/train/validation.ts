/**
 * Validation during training: every `evalEvery` steps the current generators translate the
 * held-out images and KID against the held-out targets says how far they are from real ones. The
 * target side (features, floor, ceiling) is analysed once per session. The score that picks the
 * `best` checkpoint is the mean KID×1000 over the directions the model learns (both for CycleGAN,
 * A→B for CUT). A yardstick, never a training
 * signal: nothing here feeds a loss.
 */
import * as tf from '@tensorflow/tfjs';
import { writeImage } from '../data/image-io.ts';
import type { RgbImage } from '../data/pixels.ts';
import { DirectionEvaluator, type Direction, type Figures } from '../eval/evaluator.ts';
import { FeatureNetwork } from '../eval/feature-net.ts';
import { loadEvalImages } from '../eval/images.ts';
import type { TrainValSets } from '../data/splits.ts';
import type { TrainModel } from './model.ts';

export interface ValidationOptions {
  /** Translation size (square); the figures are those `cyclegan eval --size` gives. */
  size: number;
  /** ImageNet class names of the domains, for the class-rate figures (e.g. sorrel, zebra). */
  classA?: string | null;
  classB?: string | null;
  /** The feature network; default the bundled Darknet-tiny (tests pass a tiny one). */
  featureNet?: FeatureNetwork;
  subsets?: number;
  /** The directions the model learns (default both; CUT: AtoB). */
  directions?: Direction[];
}

/** Validation images of domain A on the sample sheet (the first, in file-name order). */
export const SHEET_IMAGES = 8;
/** Input | translation pairs per row of the sheet. */
const SHEET_PAIRS_PER_ROW = 4;

export interface ValidationResult {
  /** Mean KID×1000 over the directions: lower is better. */
  score: number;
  figures: Partial<Record<Direction, Figures>>;
}

export class RunValidation {
  private constructor(
    private readonly evaluators: DirectionEvaluator[],
    private readonly net: FeatureNetwork,
    private readonly ownsNet: boolean,
    private readonly sheetInputs: RgbImage[],
  ) {}

  static async create(sets: TrainValSets, options: ValidationOptions): Promise<RunValidation> {
    const net = options.featureNet ?? (await FeatureNetwork.load());
    try {
      const a = await loadEvalImages(sets.valA, options.size);
      const b = await loadEvalImages(sets.valB, options.size);
      const common = { subsets: options.subsets };
      const directions = options.directions ?? ['AtoB', 'BtoA'];
      const evaluators: DirectionEvaluator[] = [];
      if (directions.includes('AtoB'))
        evaluators.push(
          await DirectionEvaluator.create(net, a, b, { ...common, direction: 'AtoB', targetClass: options.classB ?? undefined }),
        );
      if (directions.includes('BtoA'))
        evaluators.push(
          await DirectionEvaluator.create(net, b, a, { ...common, direction: 'BtoA', targetClass: options.classA ?? undefined }),
        );
      return new RunValidation(evaluators, net, options.featureNet === undefined, a.slice(0, SHEET_IMAGES));
    } catch (error) {
      if (options.featureNet === undefined) net.dispose();
      throw error;
    }
  }

  /** The floors and ceilings, for the log's first eval line. */
  baselines(): Partial<Record<Direction, { floor: Figures; ceiling: Figures }>> {
    return Object.fromEntries(this.evaluators.map((e) => [e.direction, { floor: e.floor, ceiling: e.ceiling }]));
  }

  async run(gan: TrainModel): Promise<ValidationResult> {
    const figures: ValidationResult['figures'] = {};
    for (const evaluator of this.evaluators) {
      figures[evaluator.direction] = await evaluator.evaluate((x) => gan.translate(x, evaluator.direction));
    }
    const kids = Object.values(figures).map((f) => f.kid.mean);
    return { score: kids.reduce((s, k) => s + k, 0) / kids.length, figures };
  }

  /** The sample sheet of `gan`'s A→B translations (see writeSampleSheet). */
  writeSheet(gan: TrainModel, path: string): Promise<void> {
    return writeSampleSheet((x) => gan.translate(x, 'AtoB'), this.sheetInputs, path);
  }

  dispose(): void {
    if (this.ownsNet) this.net.dispose();
  }
}

/**
 * The sample sheet: `images` (the first SHEET_IMAGES validation images) each beside its
 * translation by `translate` (NHWC in [-1, 1] → the same), four pairs a row, written to `path`
 * (.jpg or .png). The same images at every validation, so sheets of a run read as a sequence.
 */
export async function writeSampleSheet(translate: (x: tf.Tensor4D) => tf.Tensor4D, images: RgbImage[], path: string): Promise<void> {
  const { width: w, height: h } = images[0]!;
  const grid = tf.tidy(() => {
    const x = tf.tensor4d(Float32Array.from(images.flatMap((img) => Array.from(img.data, (v) => v / 127.5 - 1))), [images.length, h, w, 3]);
    const pairs = tf.unstack(tf.concat([x, translate(x)], 2)); // each [h, 2w, 3]
    const rows: tf.Tensor[] = [];
    for (let i = 0; i < pairs.length; i += SHEET_PAIRS_PER_ROW) {
      const row = pairs.slice(i, i + SHEET_PAIRS_PER_ROW);
      // A short last row is padded with black so the sheet stays rectangular.
      while (row.length < Math.min(SHEET_PAIRS_PER_ROW, pairs.length)) row.push(tf.fill([h, 2 * w, 3], -1));
      rows.push(tf.concat(row, 1));
    }
    return tf.concat(rows, 0);
  });
  try {
    await writeImage(path, { tensor: grid }, { quality: 88 });
  } finally {
    grid.dispose();
  }
}
