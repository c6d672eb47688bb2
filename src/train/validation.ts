/**
 * Validation during training: every `evalEvery` steps the current generators translate the
 * held-out images and KID against the held-out targets says how far they are from real ones. The
 * target side (features, floor, ceiling) is analysed once per session. The score that picks the
 * `best` checkpoint is the mean KID×1000 over the directions the model learns (both for CycleGAN,
 * A→B for CUT). A yardstick, never a training
 * signal: nothing here feeds a loss.
 */
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
      return new RunValidation(evaluators, net, options.featureNet === undefined);
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

  dispose(): void {
    if (this.ownsNet) this.net.dispose();
  }
}
