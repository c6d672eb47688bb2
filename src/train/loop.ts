/**
 * The training loop: data pipeline → CycleGan.trainStep, with the learning-rate schedule, an
 * epoch log line and sample image, the loss-curve PNG, checkpoints every `saveEvery` epochs, and a
 * stop request (Ctrl-C, --max-steps) that always ends on a resumable checkpoint.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { util } from '@tensorflow/tfjs';
import { openDataset } from '../data/dataset.ts';
import { loadSplit, splitDataset } from '../data/splits.ts';
import { locateGenerator } from '../infer/translator.ts';
import { loadLayersModel } from '../models/io.ts';
import { floatToImage, writeImage } from '../data/image-io.ts';
import { loadTestImage, UnpairedPipeline } from '../data/pipeline.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { Rng } from '../util/rng.ts';
import {
  BEST_CHECKPOINT,
  checkpointName,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
  type RunPosition,
} from './checkpoint.ts';
import { incompatibleOptions, learningRateAt, resolveConfig, RESUME_OVERRIDABLE, type TrainConfig } from './config.ts';
import { CycleGan, LOSS_NAMES, type StepLosses } from './cyclegan.ts';
import { writeChartPanels, type Series } from './plot.ts';
import { RunValidation, type ValidationResult } from './validation.ts';
import type { FeatureNetwork } from '../eval/feature-net.ts';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  globalStep: number;
  losses: StepLosses;
  /** Steps per second over this session's steps. */
  rate: number;
  /** Seconds left for the whole run at the current rate. */
  etaSeconds: number;
}

export interface EpochSummary {
  epoch: number;
  globalStep: number;
  steps: number;
  lr: number;
  losses: StepLosses;
  seconds: number;
  sample: string;
  checkpoint: string | null;
}

export interface TrainOptions {
  /** Dataset root with trainA/ and trainB/. Required for a new run; a resume uses the saved one by default. */
  data?: string;
  /** Run folder. */
  out: string;
  /** Options over the preset (new run) or the changes allowed on resume (epochs, saveEvery, keep). */
  config?: Partial<TrainConfig>;
  resume?: boolean;
  /** Stop after this many steps in total (counting steps before a resume), with a checkpoint. */
  maxSteps?: number;
  /** Aborting it stops the run after the current step, with a checkpoint. */
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  onEpoch?: (s: EpochSummary) => void;
  onStart?: (info: { config: TrainConfig; stepsPerEpoch: number; position: RunPosition; resumedFrom: string | null }) => void;
  onWarning?: (message: string) => void;
  /** Called after each validation (every config.evalEvery steps). */
  onEval?: (e: EvalSummary) => void;
  /** Feature network for validation; default the bundled Darknet-tiny. Borrowed, not disposed. */
  featureNet?: FeatureNetwork;
}

export interface EvalSummary extends ValidationResult {
  globalStep: number;
  /** Whether this validation wrote the `best` checkpoint. */
  best: boolean;
}

export interface TrainResult {
  reason: 'finished' | 'interrupted' | 'max-steps';
  checkpoint: string;
  position: RunPosition;
  config: TrainConfig;
}

const zeroLosses = (): StepLosses => ({ genAtoB: 0, genBtoA: 0, cycle: 0, identity: 0, discA: 0, discB: 0 });

export async function train(options: TrainOptions): Promise<TrainResult> {
  const runDir = resolve(options.out);
  const logFile = join(runDir, 'log.jsonl');
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const { gan, config, saved, resumedFrom } = options.resume ? await resumeGan(runDir, options.config ?? {}) : newGan(runDir, options);
  let pipeline: UnpairedPipeline | undefined;
  let validation: RunValidation | undefined;
  try {
    // A crash before the first checkpoint leaves log lines for steps a new run redoes: the log
    // always ends at the checkpoint the run continues from (step 0 for a new run).
    await repairLog(logFile, saved?.globalStep ?? 0, warn);
    if (!saved && config.initFrom) await warmStart(gan, config.initFrom);
    const dataRoot = resolve(options.data ?? saved!.data);
    const dataset = await openDataset(dataRoot, { onWarning: options.onWarning });
    const sets = splitDataset(dataset, config.valSplit ? await loadSplit(config.valSplit) : null);
    if (config.evalEvery > 0 && (sets.valA.length === 0 || sets.valB.length === 0)) {
      throw new Error(`--eval-every needs validation images: ${dataRoot} has no valA/ and valB/, and no --val-split was given`);
    }
    pipeline = new UnpairedPipeline(
      { a: sets.trainA, b: sets.trainB },
      {
        loadSize: config.loadSize,
        cropSize: config.cropSize,
        resize: config.resize,
        flip: config.flip,
        epochLength: config.epochLength,
        seed: (config.seed + 1) >>> 0,
        state: saved?.pipeline,
      },
    );
    const position: RunPosition = saved
      ? { ...saved, data: dataRoot }
      : {
          epoch: 0,
          stepInEpoch: 0,
          globalStep: 0,
          rng: gan.rng.getState(),
          pipeline: pipeline.getState(),
          running: { sums: zeroLosses(), count: 0 },
          data: dataRoot,
        };
    const totalEpochs = config.epochs + config.epochsDecay;
    const stepsPerEpoch = pipeline.stepsPerEpoch;
    await mkdir(join(runDir, 'samples'), { recursive: true });
    const sampleSource = dataset.testA?.[0] ?? sets.valA[0] ?? sets.trainA[0]!;
    const sampleInput = await loadTestImage(sampleSource, config.cropSize);
    if (config.evalEvery > 0) {
      validation = await RunValidation.create(sets, {
        size: config.evalSize,
        classA: config.evalClassA,
        classB: config.evalClassB,
        featureNet: options.featureNet,
      });
    }
    options.onStart?.({ config, stepsPerEpoch, position, resumedFrom });
    return await runSteps({ options, gan, config, pipeline, position, runDir, logFile, totalEpochs, stepsPerEpoch, sampleInput, validation });
  } finally {
    validation?.dispose();
    pipeline?.close();
    gan.dispose();
  }
}

function newGan(runDir: string, options: TrainOptions) {
  if (!options.data) throw new Error('train needs --data (a dataset folder with trainA/ and trainB/)');
  if (existsSync(join(runDir, 'checkpoints', 'latest'))) {
    throw new Error(`${options.out} already holds a run: continue it with --resume ${options.out}, or pick another --out`);
  }
  const config = resolveConfig(options.config);
  return { gan: new CycleGan(config, new Rng(config.seed)), config, saved: null, resumedFrom: null };
}

async function resumeGan(runDir: string, requested: Partial<TrainConfig>) {
  const ckpt = await loadCheckpoint(runDir);
  try {
    const problems = incompatibleOptions(ckpt.meta.config, requested);
    if (problems.length > 0) {
      throw new Error(`cannot resume ${ckpt.dir} with other options (${problems.join('; ')})`);
    }
    const overrides = Object.fromEntries(RESUME_OVERRIDABLE.filter((k) => requested[k] !== undefined).map((k) => [k, requested[k]]));
    const config = resolveConfig({ ...ckpt.meta.config, ...overrides });
    const saved = ckpt.meta.position;
    const gan = new CycleGan(config, new Rng(saved.rng), ckpt.models);
    for (const key of ['genAtoB', 'genBtoA', 'discA', 'discB'] as const) gan.optimizers[key].setState(ckpt.optimizerStates[key]);
    gan.poolA.setState(ckpt.pools.A);
    gan.poolB.setState(ckpt.pools.B);
    return { gan, config, saved, resumedFrom: ckpt.dir };
  } catch (error) {
    for (const model of Object.values(ckpt.models)) model.dispose();
    throw error;
  }
}

/**
 * Copies the generators of a checkpoint, run or export into a new run's (whose discriminators
 * and optimizer stay fresh). The architecture must match: the error names the first weight that
 * differs, so a user sees which option to change.
 */
async function warmStart(gan: CycleGan, source: string): Promise<void> {
  for (const [direction, target] of [['AtoB', gan.genAtoB], ['BtoA', gan.genBtoA]] as const) {
    const modelJson = await locateGenerator(source, direction);
    const loaded = await loadLayersModel(dirname(modelJson));
    try {
      const from = loaded.getWeights();
      const to = target.getWeights();
      const mismatch = to.findIndex((w, i) => from[i] === undefined || !util.arraysEqual(w.shape, from[i]!.shape));
      if (mismatch >= 0 || from.length !== to.length) {
        const i = mismatch >= 0 ? mismatch : to.length;
        throw new Error(
          `--init-from ${source}: its ${direction} generator does not fit this run's (${gan.config.generator} ngf ${gan.config.ngf}): weight ${i} has shape ${JSON.stringify(from[i]?.shape ?? null)}, this run needs ${JSON.stringify(to[i]?.shape ?? null)}`,
        );
      }
      target.setWeights(from);
    } finally {
      loaded.dispose();
    }
  }
}

interface RunState {
  options: TrainOptions;
  gan: CycleGan;
  config: TrainConfig;
  pipeline: UnpairedPipeline;
  position: RunPosition;
  runDir: string;
  logFile: string;
  totalEpochs: number;
  stepsPerEpoch: number;
  sampleInput: { data: Float32Array; width: number; height: number };
  validation?: RunValidation;
}

async function runSteps(s: RunState): Promise<TrainResult> {
  const { options, gan, config, pipeline, position, runDir, logFile, totalEpochs, stepsPerEpoch } = s;
  const compute = computeClock(position.compute);
  const startedAt = Date.now();
  let sessionSteps = 0;
  let epochStartedAt = Date.now();
  const save = async (): Promise<string> => {
    position.rng = gan.rng.getState();
    position.pipeline = pipeline.getState();
    position.compute = compute();
    const dir = await saveCheckpoint(runDir, checkpointName(position, stepsPerEpoch), gan, position);
    await pruneCheckpoints(runDir, config.keep);
    return dir;
  };
  const stop = async (reason: TrainResult['reason']): Promise<TrainResult> => ({ reason, checkpoint: await save(), position, config });
  const validate = async (validation: RunValidation): Promise<void> => {
    const result = await validation.run(gan);
    const best = position.best == null || result.score < position.best.score;
    if (best) {
      position.best = { score: result.score, globalStep: position.globalStep };
      position.rng = gan.rng.getState();
      position.pipeline = pipeline.getState();
      position.compute = compute();
      await saveCheckpoint(runDir, BEST_CHECKPOINT, gan, position, { latest: false });
    }
    const spent = compute();
    const line: Record<string, unknown> = {
      type: 'eval',
      globalStep: position.globalStep,
      score: result.score,
      best,
      ...result.figures,
      cpuSeconds: round3(spent.cpuSeconds),
      wallSeconds: round3(spent.wallSeconds),
    };
    // The first validation of a log carries the floors and ceilings every later figure is read against.
    if (!(await readLog(logFile)).lines.some((l) => l.type === 'eval')) line.baselines = validation.baselines();
    await appendFile(logFile, `${JSON.stringify(line)}\n`);
    await plotLosses(logFile, join(runDir, 'losses.png'));
    options.onEval?.({ ...result, globalStep: position.globalStep, best });
  };

  while (position.epoch < totalEpochs) {
    const lr = learningRateAt(config, position.epoch);
    gan.setLearningRate(lr);
    while (position.stepInEpoch < stepsPerEpoch) {
      if (options.signal?.aborted) return stop('interrupted');
      if (options.maxSteps !== undefined && position.globalStep >= options.maxSteps) return stop('max-steps');
      const pair = await pipeline.next();
      const size = pair.size;
      const realA = tf.tensor4d(pair.a, [1, size, size, 3]);
      const realB = tf.tensor4d(pair.b, [1, size, size, 3]);
      let losses: StepLosses;
      try {
        losses = await gan.trainStep(realA, realB);
      } finally {
        tf.dispose([realA, realB]);
      }
      for (const k of LOSS_NAMES) position.running.sums[k] += losses[k];
      position.running.count += 1;
      position.stepInEpoch += 1;
      position.globalStep += 1;
      sessionSteps += 1;
      const rate = sessionSteps / Math.max(1e-3, (Date.now() - startedAt) / 1000);
      const stepsLeft = (totalEpochs - position.epoch) * stepsPerEpoch - position.stepInEpoch;
      const stepsLeftCapped = options.maxSteps !== undefined ? Math.min(stepsLeft, options.maxSteps - position.globalStep) : stepsLeft;
      options.onProgress?.({
        epoch: position.epoch,
        epochs: totalEpochs,
        stepInEpoch: position.stepInEpoch,
        stepsPerEpoch,
        globalStep: position.globalStep,
        losses,
        rate,
        etaSeconds: stepsLeftCapped / rate,
      });
      // A step checkpoint bounds what a kill -9 loses; the epoch's last step gets its epoch checkpoint instead.
      if (s.validation && position.globalStep % config.evalEvery === 0) await validate(s.validation);
      const mid = position.stepInEpoch < stepsPerEpoch;
      if (mid && config.saveLatestEvery > 0 && position.globalStep % config.saveLatestEvery === 0) await save();
    }
    // End of epoch: log line, sample, curve, maybe a checkpoint.
    const count = Math.max(1, position.running.count);
    const means = Object.fromEntries(LOSS_NAMES.map((k) => [k, position.running.sums[k] / count])) as unknown as StepLosses;
    const epochNumber = position.epoch + 1;
    const sample = join(runDir, 'samples', `epoch-${String(epochNumber).padStart(4, '0')}.png`);
    await writeSample(gan, s.sampleInput, sample);
    const seconds = (Date.now() - epochStartedAt) / 1000;
    const spent = compute();
    await appendFile(
      logFile,
      `${JSON.stringify({ epoch: epochNumber, globalStep: position.globalStep, steps: position.running.count, lr, ...means, seconds: round3(seconds), cpuSeconds: round3(spent.cpuSeconds), wallSeconds: round3(spent.wallSeconds) })}\n`,
    );
    await plotLosses(logFile, join(runDir, 'losses.png'));
    position.epoch += 1;
    position.stepInEpoch = 0;
    position.running = { sums: zeroLosses(), count: 0 };
    epochStartedAt = Date.now();
    let checkpoint: string | null = null;
    if (position.epoch % config.saveEvery === 0 || position.epoch === totalEpochs) checkpoint = await save();
    options.onEpoch?.({ epoch: epochNumber, globalStep: position.globalStep, steps: count, lr, losses: means, seconds, sample, checkpoint });
  }
  return { reason: 'finished', checkpoint: await ensureFinalCheckpoint(runDir, position, stepsPerEpoch, save), position, config };
}

const round3 = (x: number) => Number(x.toFixed(3));

/** Cumulative compute of the run: what earlier sessions spent plus this process's since the call. */
function computeClock(before: RunPosition['compute']): () => { cpuSeconds: number; wallSeconds: number } {
  const cpu0 = process.cpuUsage();
  const wall0 = Date.now();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    return {
      cpuSeconds: (before?.cpuSeconds ?? 0) + (cpu.user + cpu.system) / 1e6,
      wallSeconds: (before?.wallSeconds ?? 0) + (Date.now() - wall0) / 1000,
    };
  };
}

async function ensureFinalCheckpoint(runDir: string, position: RunPosition, stepsPerEpoch: number, save: () => Promise<string>): Promise<string> {
  const dir = join(runDir, 'checkpoints', checkpointName(position, stepsPerEpoch));
  return existsSync(join(dir, 'cyclegan.json')) ? dir : save();
}

/** The tutorial's generate_images: the fixed input beside its translation (A→B) and the reverse cycle. */
async function writeSample(gan: CycleGan, input: { data: Float32Array; width: number; height: number }, path: string): Promise<void> {
  const row = tf.tidy(() => {
    const x = tf.tensor4d(input.data, [1, input.height, input.width, 3]);
    const fake = gan.translate(x, 'AtoB');
    const cycled = gan.translate(fake, 'BtoA');
    return tf.concat([x, fake, cycled], 2);
  });
  try {
    // Read asynchronously: a GPU backend in Node cannot read synchronously.
    const [, height, width] = row.shape;
    await writeImage(path, floatToImage((await row.data()) as Float32Array, width, height));
  } finally {
    row.dispose();
  }
}

type LogLine = Record<string, unknown> & { globalStep?: number; epoch?: number; type?: string };

interface LogLines {
  lines: LogLine[];
  /** Lines that did not parse (a torn last line after a crash). */
  torn: number;
}

async function readLog(logFile: string): Promise<LogLines> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  const lines: LogLine[] = [];
  let torn = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      lines.push(JSON.parse(line) as LogLine);
    } catch {
      torn += 1;
    }
  }
  return { lines, torn };
}

/**
 * The checkpoint is the truth: on resume, log lines written after it (the run will redo those
 * steps) and lines a crash tore are dropped, with one notice, so the log matches the checkpoint.
 */
export async function repairLog(logFile: string, checkpointStep: number, warn: (m: string) => void): Promise<void> {
  if (!existsSync(logFile)) return;
  const { lines, torn } = await readLog(logFile);
  const kept = lines.filter((l) => (l.globalStep ?? 0) <= checkpointStep);
  const dropped = lines.length - kept.length;
  if (torn === 0 && dropped === 0) return;
  const what = [torn > 0 ? `${torn} torn line${torn > 1 ? 's' : ''}` : '', dropped > 0 ? `${dropped} line${dropped > 1 ? 's' : ''} past the checkpoint` : '']
    .filter(Boolean)
    .join(' and ');
  warn(`${logFile}: dropped ${what} (the log now ends at the checkpoint's step ${checkpointStep})`);
  await writeFileAtomic(logFile, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

/** The loss curves (epoch means) and, when the run validates, the validation KID against steps. */
async function plotLosses(logFile: string, out: string): Promise<void> {
  const { lines } = await readLog(logFile);
  const epochs = lines.filter((l) => l.type === undefined && l.epoch !== undefined);
  const value = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  const panels: { series: Series[]; title: string; xLabel: string }[] = [{ series: LOSS_NAMES.map((name) => ({ name, values: epochs.map((l) => value(l[name])) })), title: 'CycleGAN losses (epoch means)', xLabel: 'epoch' }];
  const evals = lines.filter((l) => l.type === 'eval');
  if (evals.length > 0) {
    const kid = (d: string) => evals.map((l) => value((l[d] as { kid?: { mean?: number } } | undefined)?.kid?.mean));
    panels.push({
      series: [{ name: 'KID×1000 A→B', values: kid('AtoB') }, { name: 'KID×1000 B→A', values: kid('BtoA') }],
      title: `validation KID×1000 (every ${evals.length > 1 ? value(evals[1]!.globalStep) - value(evals[0]!.globalStep) : value(evals[0]!.globalStep)} steps)`,
      xLabel: 'validation',
    });
  }
  await writeChartPanels(out, panels);
}
