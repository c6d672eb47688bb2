/**
 * The training loop: data pipeline → CycleGan.trainStep, with the learning-rate schedule, an
 * epoch log line and sample image, the loss-curve PNG, checkpoints every `saveEvery` epochs, and a
 * stop request (Ctrl-C, --max-steps) that always ends on a resumable checkpoint.
 */
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '../data/dataset.ts';
import { writeImage } from '../data/image-io.ts';
import { loadTestImage, UnpairedPipeline } from '../data/pipeline.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { Rng } from '../util/rng.ts';
import {
  checkpointName,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
  type RunPosition,
} from './checkpoint.ts';
import { incompatibleOptions, learningRateAt, resolveConfig, RESUME_OVERRIDABLE, type TrainConfig } from './config.ts';
import { CycleGan, LOSS_NAMES, type StepLosses } from './cyclegan.ts';
import { writeLineChart } from './plot.ts';

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
  let gan: CycleGan;
  let saved: RunPosition | null = null;
  let config: TrainConfig;
  let resumedFrom: string | null = null;

  if (options.resume) {
    const ckpt = await loadCheckpoint(runDir);
    const requested = options.config ?? {};
    const problems = incompatibleOptions(ckpt.meta.config, requested);
    if (problems.length > 0) {
      throw new Error(`cannot resume ${ckpt.dir} with other options (${problems.join('; ')})`);
    }
    const overrides = Object.fromEntries(RESUME_OVERRIDABLE.filter((k) => requested[k] !== undefined).map((k) => [k, requested[k]]));
    config = resolveConfig({ ...ckpt.meta.config, ...overrides });
    saved = ckpt.meta.position;
    const rng = new Rng(saved.rng);
    gan = new CycleGan(config, rng, ckpt.models);
    for (const key of ['genAtoB', 'genBtoA', 'discA', 'discB'] as const) gan.optimizers[key].setState(ckpt.optimizerStates[key]);
    gan.poolA.setState(ckpt.pools.A);
    gan.poolB.setState(ckpt.pools.B);
    resumedFrom = ckpt.dir;
    await truncateLog(logFile, saved.epoch);
  } else {
    if (!options.data) throw new Error('train needs --data (a dataset folder with trainA/ and trainB/)');
    if (existsSync(join(runDir, 'checkpoints', 'latest'))) {
      throw new Error(`${options.out} already holds a run: continue it with --resume ${options.out}, or pick another --out`);
    }
    config = resolveConfig(options.config);
    gan = new CycleGan(config, new Rng(config.seed));
  }

  const dataRoot = resolve(options.data ?? saved!.data);
  const dataset = await openDataset(dataRoot, { onWarning: options.onWarning });
  const pipeline = new UnpairedPipeline(
    { a: dataset.trainA, b: dataset.trainB },
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
  const sampleSource = dataset.testA?.[0] ?? dataset.trainA[0]!;
  const sampleInput = await loadTestImage(sampleSource, config.cropSize);
  options.onStart?.({ config, stepsPerEpoch, position, resumedFrom });

  const startedAt = Date.now();
  let sessionSteps = 0;
  let epochStartedAt = Date.now();
  const save = async (): Promise<string> => {
    position.rng = gan.rng.getState();
    position.pipeline = pipeline.getState();
    const dir = await saveCheckpoint(runDir, checkpointName(position, stepsPerEpoch), gan, position);
    await pruneCheckpoints(runDir, config.keep);
    return dir;
  };

  try {
    while (position.epoch < totalEpochs) {
      const lr = learningRateAt(config, position.epoch);
      gan.setLearningRate(lr);
      while (position.stepInEpoch < stepsPerEpoch) {
        if (options.signal?.aborted) return { reason: 'interrupted', checkpoint: await save(), position, config };
        if (options.maxSteps !== undefined && position.globalStep >= options.maxSteps) {
          return { reason: 'max-steps', checkpoint: await save(), position, config };
        }
        const pair = await pipeline.next();
        const size = pair.size;
        const realA = tf.tensor4d(pair.a, [1, size, size, 3]);
        const realB = tf.tensor4d(pair.b, [1, size, size, 3]);
        let losses: StepLosses;
        try {
          losses = gan.trainStep(realA, realB);
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
      }
      // End of epoch: log line, sample, curve, maybe a checkpoint.
      const count = Math.max(1, position.running.count);
      const means = Object.fromEntries(LOSS_NAMES.map((k) => [k, position.running.sums[k] / count])) as unknown as StepLosses;
      const epochNumber = position.epoch + 1;
      const sample = join(runDir, 'samples', `epoch-${String(epochNumber).padStart(4, '0')}.png`);
      await writeSample(gan, sampleInput, sample);
      const seconds = (Date.now() - epochStartedAt) / 1000;
      await appendFile(
        logFile,
        `${JSON.stringify({ epoch: epochNumber, globalStep: position.globalStep, steps: position.running.count, lr, ...means, seconds: Number(seconds.toFixed(3)) })}\n`,
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
  } finally {
    pipeline.close();
    gan.dispose();
  }
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
    await writeImage(path, { tensor: row });
  } finally {
    row.dispose();
  }
}

async function readLog(logFile: string): Promise<Record<string, number>[]> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, number>);
}

/** Drops log lines of epochs a resumed run will redo (written after its checkpoint). */
async function truncateLog(logFile: string, finishedEpochs: number): Promise<void> {
  if (!existsSync(logFile)) return;
  const kept = (await readLog(logFile)).filter((l) => (l.epoch ?? 0) <= finishedEpochs);
  await writeFileAtomic(logFile, kept.map((l) => `${JSON.stringify(l)}\n`).join(''));
}

async function plotLosses(logFile: string, out: string): Promise<void> {
  const lines = await readLog(logFile);
  const series = LOSS_NAMES.map((name) => ({ name, values: lines.map((l) => l[name] ?? Number.NaN) }));
  await writeLineChart(out, series, 'CycleGAN losses (epoch means)', 'epoch');
}
