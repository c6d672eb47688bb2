import { resolve } from 'node:path';
import { resolveData } from '../../data/download.ts';
import { describeBackend, useBackend } from '../../engine/backend.ts';
import { wasmHeapStats } from '../../engine/heap-stats.ts';
import { BUILTIN_FEATURE_BACKBONES, NO_FEATURE_DISC } from '../../models/backbones/registry.ts';
import { hasFeatureDisc, type TrainConfig, type TrainMethod } from '../../train/config.ts';
import { methodLabel, type Losses } from '../../train/model.ts';
import { train } from '../../train/loop.ts';
import { RunLockedError, runLockHolder } from '../../train/run-lock.ts';
import { Option } from 'commander';
import {
  CUT_ONLY_OPTIONS,
  FEATURE_ONLY_OPTIONS,
  TRAIN_OPTION_KEYS,
  TRAIN_OPTIONS,
  trainConfigFromValues,
  type TrainOptionKey,
} from '../../train/options.ts';
import type { GlobalOptions } from '../options.ts';
import { UserError } from '../errors.ts';
import { downloadBar, trainingBar } from '../progress.ts';

const f3 = (x: number | undefined) => (x ?? Number.NaN).toFixed(3);

/**
 * The progress bar's losses: CycleGAN's G, F, cycle and mean D; CUT's G, NCE, NCE_Y and D; with a
 * feature discriminator, its mean generator term and mean heads' loss (FG, FD).
 */
export function barLosses(method: TrainMethod, l: Losses): string {
  const mean = (...xs: (number | undefined)[]) => xs.reduce<number>((a, b) => a + b!, 0) / xs.length;
  const feature =
    l.discFeatB === undefined
      ? ''
      : method === 'cyclegan'
        ? ` FG ${f3(mean(l.featAtoB, l.featBtoA))} FD ${f3(mean(l.discFeatA, l.discFeatB))}`
        : ` FG ${f3(l.featAtoB)} FD ${f3(l.discFeatB)}`;
  if (method === 'cyclegan') return `G ${f3(l.genAtoB)} F ${f3(l.genBtoA)} cyc ${f3(l.cycle)} D ${f3((l.discA! + l.discB!) / 2)}${feature}`;
  return `G ${f3(l.genAtoB)} NCE ${f3(l.nce)} NCE_Y ${f3(l.nceIdentity)} D ${f3(l.discB)}${feature}`;
}

/** The epoch line's losses, named as cycle_gan_model.py and cut_model.py name them (FD_*: the feature discriminator). */
export function epochLosses(method: TrainMethod, l: Losses): string {
  const feature =
    l.discFeatB === undefined
      ? ''
      : method === 'cyclegan'
        ? ` G_feat ${f3(l.featAtoB)} F_feat ${f3(l.featBtoA)} FD_A ${f3(l.discFeatA)} FD_B ${f3(l.discFeatB)}`
        : ` G_feat ${f3(l.featAtoB)} FD_B ${f3(l.discFeatB)}`;
  if (method === 'cyclegan') {
    return `G ${f3(l.genAtoB)} F ${f3(l.genBtoA)} cycle ${f3(l.cycle)} identity ${f3(l.identity)} D_A ${f3(l.discA)} D_B ${f3(l.discB)}${feature}`;
  }
  return `G ${f3(l.genAtoB)} NCE ${f3(l.nce)} NCE_Y ${f3(l.nceIdentity)} D ${f3(l.discB)}${feature}`;
}

/**
 * `cyclegan train`'s options (what commander parsed) as the overrides for resolveConfig. main.ts
 * made each entry's commander option with the entry's flag, so commander stored its value under
 * that flag's attribute name (`--nce-idt`: nceIdt, `--no-flip`: flip).
 */
export function configFromOptions(opts: Record<string, unknown>): Partial<TrainConfig> {
  const values: Partial<Record<TrainOptionKey, unknown>> = {};
  for (const key of TRAIN_OPTION_KEYS) values[key] = opts[new Option(TRAIN_OPTIONS[key].flag).attributeName()];
  return trainConfigFromValues(values);
}

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  const resume = opts.resume as string | undefined;
  const out = resume ?? (opts.out as string | undefined);
  if (!out) throw new UserError('train needs --out RUN_DIR (or --resume RUN_DIR)');
  if (resume && opts.out && opts.out !== resume) throw new UserError('give either --out or --resume, not both with different folders');
  const config = configFromOptions(opts);
  // A new CycleGAN run would ignore CUT's options: say so instead (a resume checks them against the checkpoint).
  const given = CUT_ONLY_OPTIONS.filter((k) => config[k] !== undefined);
  if (!resume && (config.method ?? 'cyclegan') === 'cyclegan' && given.length > 0) {
    throw new UserError(
      `${given.map((k) => TRAIN_OPTIONS[k].flag).join(', ')}: CUT options, for --method cut or fastcut (this run trains a CycleGAN)`,
    );
  }
  // Likewise the feature discriminator's options without one.
  const featureGiven = FEATURE_ONLY_OPTIONS.filter((k) => config[k] !== undefined);
  if (!resume && !hasFeatureDisc({ featureDisc: config.featureDisc ?? NO_FEATURE_DISC }) && featureGiven.length > 0) {
    throw new UserError(
      `${featureGiven.map((k) => TRAIN_OPTIONS[k].flag).join(', ')}: options of the feature discriminator, for --feature-disc ${BUILTIN_FEATURE_BACKBONES.join('|')} (this run has none)`,
    );
  }
  // A trainer already in this folder: stop before the engine starts or a dataset downloads (train()
  // takes the lock itself, which settles a race between two starts).
  const holder = runLockHolder(resolve(out));
  if (holder) throw new RunLockedError(resolve(out), holder);
  await useBackend(globals.backend, { threads: globals.threads, winograd: true });
  const backend = describeBackend();
  let data: string | undefined;
  if (typeof opts.data === 'string' && opts.data !== '') {
    // A dataset name not yet in the cache is downloaded first, with its own bar.
    const download = downloadBar(opts.data);
    try {
      data = await resolveData(opts.data, { onProgress: download.onProgress });
    } finally {
      download.stop();
    }
  }

  const controller = new AbortController();
  const stop = (signal: string) => {
    if (controller.signal.aborted) {
      console.error(`\n${signal} again: exiting without a checkpoint`);
      process.exit(130);
    }
    console.error(`\n${signal}: finishing the current step and saving a checkpoint (press again to quit at once)`);
    controller.abort();
  };
  const onSigint = () => stop('SIGINT');
  const onSigterm = () => stop('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const bar = trainingBar();
  // Known once train() has the configuration (a resume reads it from the checkpoint).
  let method: TrainMethod = 'cyclegan';
  try {
    const result = await train({
      data,
      out,
      config,
      resume: Boolean(resume),
      maxSteps: opts.maxSteps as number | undefined,
      signal: controller.signal,
      onWarning: (m) => console.warn(`warning: ${m}`),
      onStart: ({ config: c, stepsPerEpoch, position, resumedFrom }) => {
        method = c.method;
        console.log(`backend: ${backend}`);
        console.log(
          `${resumedFrom ? `resuming ${resumedFrom} at epoch ${position.epoch + 1}, step ${position.stepInEpoch}` : 'new run'} · ${methodLabel(c.method)} · preset ${c.preset} · ${c.generator} ngf ${c.ngf} · ${c.cropSize}px · ${c.ganLoss} · ${stepsPerEpoch} steps/epoch × ${c.epochs + c.epochsDecay} epochs · seed ${c.seed}${hasFeatureDisc(c) ? ` · feature discriminator ${c.featureDisc} × ${c.lambdaFeature}${c.featureAugment ? ' with DiffAugment' : ''}` : ''}`,
        );
      },
      onProgress: (p) => bar.update(p, barLosses(method, p.losses)),
      onEval: (e) => {
        bar.stop();
        const parts = Object.entries(e.figures).map(([direction, f]) => {
          const rate = f.classRate ? ` ${(f.classRate.rate * 100).toFixed(0)}% top-1` : '';
          return `${direction} KID×1000 ${f.kid.mean.toFixed(2)} ± ${f.kid.std.toFixed(2)}${rate}`;
        });
        console.log(`validation at step ${e.globalStep}: ${parts.join(' · ')}${e.best ? ' · new best checkpoint' : ''}`);
      },
      onEpoch: (s) => {
        bar.stop();
        const l = s.losses;
        // On wasm, how much of the 4 GiB heap the run needs: the figure to watch at large sizes.
        const heap = wasmHeapStats();
        const memory = heap
          ? ` · wasm heap ${(heap.heapBytes / 2 ** 20).toFixed(0)} MiB (peak live ${(heap.peakLiveBytes / 2 ** 20).toFixed(0)} MiB)`
          : '';
        console.log(
          `epoch ${s.epoch} done in ${s.seconds.toFixed(1)}s · lr ${s.lr.toExponential(2)} · ${epochLosses(method, l)}${memory} · sample ${s.sample}${s.checkpoint ? ` · checkpoint ${s.checkpoint}` : ''}`,
        );
      },
    });
    bar.stop();
    if (result.reason === 'finished') console.log(`training finished: ${result.checkpoint}`);
    else {
      console.log(`stopped (${result.reason}) at step ${result.position.globalStep}; checkpoint ${result.checkpoint}`);
      console.log(`resume with: cyclegan train --resume ${out}`);
    }
    return 0;
  } finally {
    bar.stop();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigterm);
  }
}
