/**
 * The training loop: data pipeline → the model's trainStep (CycleGan, or Cut for CUT/FastCUT), with the learning-rate schedule, an
 * epoch log line and sample image, the loss-curve PNG, checkpoints every `saveEvery` epochs, and a
 * stop request (Ctrl-C, --max-steps) that always ends on a resumable checkpoint.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '../data/dataset.ts';
import { loadSplit, splitDataset } from '../data/splits.ts';
import { BEST_CHECKPOINT } from '../infer/model-folder.ts';
import { writeImage } from '../data/image-io.ts';
import { floatToImage } from '../data/pixels.ts';
import { loadTestImage, UnpairedPipeline, type PipelinePair } from '../data/pipeline.ts';
import { Rng } from '../util/rng.ts';
import { checkpointName, loadCheckpoint, pruneCheckpoints, saveCheckpoint, type RunPosition } from './checkpoint.ts';
import { hasFeatureDisc, incompatibleOptions, learningRateAt, resolveConfig, RESUME_OVERRIDABLE, type TrainConfig } from './config.ts';
import { loadCheckpointBackbone, loadRunBackbone } from './feature-critic.ts';
import { buildModel, hasBtoA, lossNames, type Losses, type TrainModel } from './model.ts';
import { plotLosses, readLog, repairLog } from './run-log.ts';
import { claimNewRunFolder } from './run-folder.ts';
import { acquireRunLock } from './run-lock.ts';
import { RunValidation, type ValidationResult } from './validation.ts';
import { warmStart } from './warm-start.ts';
import type { FeatureNetwork } from '../eval/feature-net.ts';
import type { FeatureBackbone } from '../models/backbones/backbone.ts';

export interface TrainProgress {
  epoch: number;
  epochs: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  globalStep: number;
  /** The step's losses, named as the method's step names them (StepLosses, CutLosses). */
  losses: Losses;
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
  losses: Losses;
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

const namesOf = (config: TrainConfig) => lossNames(config.method, hasFeatureDisc(config));
const zeroLosses = (config: TrainConfig): Losses => Object.fromEntries(namesOf(config).map((k) => [k, 0]));

export async function train(options: TrainOptions): Promise<TrainResult> {
  const runDir = resolve(options.out);
  // Before anything is read or written: a second trainer on this folder stops here. A resume of a
  // folder that does not exist gets loadCheckpoint's error, not a new empty folder.
  const lock = options.resume && !existsSync(runDir) ? null : acquireRunLock(runDir);
  try {
    return await trainLocked(options, runDir);
  } finally {
    lock?.release();
  }
}

async function trainLocked(options: TrainOptions, runDir: string): Promise<TrainResult> {
  const logFile = join(runDir, 'log.jsonl');
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const { gan, config, saved, resumedFrom } = options.resume
    ? await resumeGan(runDir, options.config ?? {})
    : await newGan(runDir, options);
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
          running: { sums: zeroLosses(config), count: 0 },
          data: dataRoot,
        };
    const totalEpochs = config.epochs + config.epochsDecay;
    const stepsPerEpoch = Math.ceil(pipeline.stepsPerEpoch / config.batchSize);
    await mkdir(join(runDir, 'samples'), { recursive: true });
    const sampleSource = dataset.testA?.[0] ?? sets.valA[0] ?? sets.trainA[0]!;
    const sampleInput = await loadTestImage(sampleSource, config.cropSize);
    if (config.evalEvery > 0) {
      validation = await RunValidation.create(sets, {
        size: config.evalSize,
        classA: config.evalClassA,
        classB: config.evalClassB,
        featureNet: options.featureNet,
        directions: hasBtoA(config.method) ? ['AtoB', 'BtoA'] : ['AtoB'],
      });
    }
    options.onStart?.({ config, stepsPerEpoch, position, resumedFrom });
    return await runSteps({
      options,
      gan,
      config,
      pipeline,
      position,
      runDir,
      logFile,
      totalEpochs,
      stepsPerEpoch,
      sampleInput,
      validation,
    });
  } finally {
    validation?.dispose();
    pipeline?.close();
    gan.dispose();
  }
}

async function newGan(runDir: string, options: TrainOptions) {
  if (!options.data) throw new Error('train needs --data (a dataset folder with trainA/ and trainB/)');
  if (existsSync(join(runDir, 'checkpoints', 'latest'))) {
    throw new Error(`${options.out} already holds a run: continue it with --resume ${options.out}, or pick another --out`);
  }
  const config = resolveConfig(options.config);
  // Before the folder is claimed: an unknown or uninstalled backbone leaves nothing behind.
  const backbone = await loadRunBackbone(config);
  try {
    claimNewRunFolder(runDir);
  } catch (error) {
    backbone?.dispose();
    throw error;
  }
  return { gan: buildModel(config, new Rng(config.seed), undefined, backbone), config, saved: null, resumedFrom: null };
}

async function resumeGan(runDir: string, requested: Partial<TrainConfig>) {
  const ckpt = await loadCheckpoint(runDir);
  let gan: TrainModel | undefined;
  let backbone: FeatureBackbone | null = null;
  try {
    // Against the checkpoint's options as this build reads them (an old one has no `method`: CycleGAN).
    const problems = incompatibleOptions(resolveConfig(ckpt.meta.config), requested);
    if (problems.length > 0) {
      throw new Error(`cannot resume ${ckpt.dir} with other options (${problems.join('; ')})`);
    }
    const overrides = Object.fromEntries(RESUME_OVERRIDABLE.filter((k) => requested[k] !== undefined).map((k) => [k, requested[k]]));
    const config = resolveConfig({ ...ckpt.meta.config, ...overrides });
    const saved = ckpt.meta.position;
    backbone = await loadCheckpointBackbone(config, ckpt.meta.featureBackbone, ckpt.dir);
    gan = buildModel(config, new Rng(saved.rng), ckpt.models, backbone);
    for (const [key, optimizer] of Object.entries(gan.optimizerRecord())) {
      const state = ckpt.optimizerStates[key];
      if (!state) throw new Error(`${ckpt.dir}: no optimizer state for ${key} (it has ${Object.keys(ckpt.optimizerStates).join(', ')})`);
      optimizer.setState(state);
    }
    gan.poolA?.setState(ckpt.pools.A);
    gan.poolB?.setState(ckpt.pools.B);
    return { gan, config, saved, resumedFrom: ckpt.dir };
  } catch (error) {
    // The model owns the loaded networks once built.
    if (gan) gan.dispose();
    else {
      for (const model of Object.values(ckpt.models)) model.dispose();
      backbone?.dispose();
    }
    throw error;
  }
}

interface RunState {
  options: TrainOptions;
  gan: TrainModel;
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
  // The figure is a convenience: a failure to draw it is a warning, never the end of a run.
  const plot = async (): Promise<void> => {
    try {
      await plotLosses(logFile, join(runDir, 'losses.png'), config.method);
    } catch (error) {
      (options.onWarning ?? console.warn)(`${join(runDir, 'losses.png')}: not drawn (${(error as Error).message})`);
    }
  };
  const names = namesOf(config);
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
    await validation.writeSheet(gan, join(runDir, 'samples', `val-step-${String(position.globalStep).padStart(6, '0')}.jpg`));
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
    await plot();
    options.onEval?.({ ...result, globalStep: position.globalStep, best });
  };

  while (position.epoch < totalEpochs) {
    const lr = learningRateAt(config, position.epoch);
    gan.setLearningRate(lr);
    while (position.stepInEpoch < stepsPerEpoch) {
      if (options.signal?.aborted) return stop('interrupted');
      if (options.maxSteps !== undefined && position.globalStep >= options.maxSteps) return stop('max-steps');
      // The epoch's last step takes what is left of it, so a batch never straddles two epochs.
      const count = Math.min(config.batchSize, pipeline.stepsPerEpoch - position.stepInEpoch * config.batchSize);
      const pairs: PipelinePair[] = [];
      for (let i = 0; i < count; i++) pairs.push(await pipeline.next());
      const realA = batchOf(
        pairs.map((p) => p.a),
        pairs[0]!.size,
      );
      const realB = batchOf(
        pairs.map((p) => p.b),
        pairs[0]!.size,
      );
      let losses: Losses;
      try {
        losses = await gan.trainStep(realA, realB);
      } finally {
        tf.dispose([realA, realB]);
      }
      for (const k of names) position.running.sums[k] = (position.running.sums[k] ?? 0) + losses[k]!;
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
    const means: Losses = Object.fromEntries(names.map((k) => [k, position.running.sums[k]! / count]));
    const epochNumber = position.epoch + 1;
    const sample = join(runDir, 'samples', `epoch-${String(epochNumber).padStart(4, '0')}.png`);
    await writeSample(gan, s.sampleInput, sample);
    const seconds = (Date.now() - epochStartedAt) / 1000;
    const spent = compute();
    await appendFile(
      logFile,
      `${JSON.stringify({ epoch: epochNumber, globalStep: position.globalStep, steps: position.running.count, lr, ...means, seconds: round3(seconds), cpuSeconds: round3(spent.cpuSeconds), wallSeconds: round3(spent.wallSeconds) })}\n`,
    );
    await plot();
    position.epoch += 1;
    position.stepInEpoch = 0;
    position.running = { sums: zeroLosses(config), count: 0 };
    epochStartedAt = Date.now();
    let checkpoint: string | null = null;
    if (position.epoch % config.saveEvery === 0 || position.epoch === totalEpochs) checkpoint = await save();
    options.onEpoch?.({
      epoch: epochNumber,
      globalStep: position.globalStep,
      steps: count,
      lr,
      losses: means,
      seconds,
      sample,
      checkpoint,
    });
  }
  return { reason: 'finished', checkpoint: await ensureFinalCheckpoint(runDir, position, stepsPerEpoch, save), position, config };
}

const round3 = (x: number) => Number(x.toFixed(3));

/** Square HWC images of one size as an NHWC batch. */
function batchOf(images: Float32Array[], size: number): tf.Tensor4D {
  const values = new Float32Array(images.length * size * size * 3);
  images.forEach((image, i) => values.set(image, i * image.length));
  return tf.tensor4d(values, [images.length, size, size, 3]);
}

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

async function ensureFinalCheckpoint(
  runDir: string,
  position: RunPosition,
  stepsPerEpoch: number,
  save: () => Promise<string>,
): Promise<string> {
  const dir = join(runDir, 'checkpoints', checkpointName(position, stepsPerEpoch));
  return existsSync(join(dir, 'cyclegan.json')) ? dir : save();
}

/**
 * The tutorial's generate_images: the fixed input beside its translation (A→B) and the reverse
 * cycle; input | translation for CUT, which has no way back.
 */
async function writeSample(gan: TrainModel, input: { data: Float32Array; width: number; height: number }, path: string): Promise<void> {
  const row = tf.tidy(() => {
    const x = tf.tensor4d(input.data, [1, input.height, input.width, 3]);
    const fake = gan.translate(x, 'AtoB');
    if (!hasBtoA(gan.config.method)) return tf.concat([x, fake], 2);
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
