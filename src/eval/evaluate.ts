/**
 * `cyclegan eval` as a library function: the images of a split, the feature network, one
 * DirectionEvaluator per direction, and the model's generators measured against them. Without
 * a model it reports only the floors and ceilings, the baselines every model is compared with.
 */
import { resolve } from 'node:path';
import { chooseDirections, openModel, type ModelFolder } from '../infer/model-folder.ts';
import { loadTranslator, type Translator } from '../infer/translator.ts';
import { DirectionEvaluator, translatorFn, type Direction, type DirectionReport } from './evaluator.ts';
import { FeatureNetwork } from './feature-net.ts';
import { evalImageSets, loadEvalImages, type EvalSplit } from './images.ts';

export interface EvaluateOptions {
  /** Dataset root. */
  data: string;
  split?: EvalSplit;
  valSplit?: string;
  /** Run folder (RUN:best for its best checkpoint), checkpoint, export folder or model.json. */
  model?: string;
  /** Only this direction (default: every direction the model has, A→B alone for CUT; both without a model). */
  direction?: Direction;
  /** ImageNet class of domain B, measured on A→B. */
  targetClass?: string;
  /** ImageNet class of domain A, measured on B→A. */
  sourceClass?: string;
  /** Translation size (default 256). */
  size?: number;
  subsets?: number;
  seed?: number;
  /** A loaded network (borrowed, not disposed) or a folder; default the bundled Darknet-tiny. */
  featureNet?: FeatureNetwork | string;
  onProgress?: (message: string) => void;
  onWarning?: (message: string) => void;
}

export interface EvalReport {
  data: string;
  split: EvalSplit;
  /** Where the images came from. */
  images: string;
  model?: string;
  size: number;
  subsets: number;
  seed: number;
  featureNet: string;
  directions: DirectionReport[];
}

/**
 * The model's generators and where to load them from. A bare model.json (or a folder with only
 * one) has no direction of its own: it is taken as A→B unless --direction says otherwise.
 */
export async function modelDirections(path: string, only?: Direction): Promise<{ model: ModelFolder; directions: Direction[] }> {
  // RUN:best and run folders resolve to one checkpoint, so both directions come from the same one.
  const model = await openModel(path);
  return { model, directions: chooseDirections(model, only, ['AtoB']) };
}

export async function evaluateModel(options: EvaluateOptions): Promise<EvalReport> {
  const split = options.split ?? 'val';
  const size = options.size ?? 256;
  const subsets = options.subsets ?? 100;
  const seed = options.seed ?? 0;
  const say = options.onProgress ?? (() => {});
  if (!Number.isInteger(size) || size < 8) throw new Error(`--size must be an integer >= 8, got ${size}`);

  // Everything that can fail fast (model files, images, class names) is checked before the slow part.
  const model = options.model === undefined ? undefined : await modelDirections(options.model, options.direction);
  const directions: Direction[] = model?.directions ?? (options.direction ? [options.direction] : ['AtoB', 'BtoA']);
  const sets = await evalImageSets(options.data, { split, valSplit: options.valSplit, onWarning: options.onWarning });

  const translators = new Map<Direction, Translator>();
  const net = typeof options.featureNet === 'object' ? options.featureNet : await FeatureNetwork.load(options.featureNet);
  try {
    const classOf = (d: Direction) => (d === 'AtoB' ? options.targetClass : options.sourceClass);
    for (const d of directions) {
      const name = classOf(d);
      if (name !== undefined) net.classIndex(name);
    }
    // Loaded before the slow part, so a broken generator file fails in the first second.
    for (const direction of model?.directions ?? []) {
      const engine = model!.model.kind === 'onnx' ? 'onnx' : 'tfjs';
      translators.set(direction, await loadTranslator(model!.model, { direction, engine }));
    }
    say(`loading ${sets.A.length} A and ${sets.B.length} B images at ${size}x${size}`);
    const images = { A: await loadEvalImages(sets.A, size), B: await loadEvalImages(sets.B, size) };
    const reports: DirectionReport[] = [];
    for (const direction of directions) {
      const [sources, targets] = direction === 'AtoB' ? [images.A, images.B] : [images.B, images.A];
      say(`${direction}: analysing ${sources.length} sources and ${targets.length} targets`);
      const evaluator = await DirectionEvaluator.create(net, sources, targets, {
        direction,
        targetClass: classOf(direction),
        subsets,
        seed,
        onProgress: (done, total) => {
          if (done === total || done % 10 === 0) say(`${direction}: translated ${done}/${total}`);
        },
      });
      const translator = translators.get(direction);
      reports.push(evaluator.report(translator ? await evaluator.evaluate(translatorFn(translator)) : undefined));
    }
    return {
      data: resolve(options.data),
      split,
      images: sets.origin,
      ...(options.model === undefined ? {} : { model: options.model }),
      size,
      subsets,
      seed,
      featureNet: net.source,
      directions: reports,
    };
  } finally {
    for (const t of translators.values()) t.dispose();
    if (net !== options.featureNet) net.dispose();
  }
}
