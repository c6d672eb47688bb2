import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { resolveData } from '../../data/download.ts';
import { BUILTIN_SPLITS } from '../../data/splits.ts';
import { describeBackend, useBackend } from '../../engine/backend.ts';
import { wasmHeapStats } from '../../engine/heap-stats.ts';
import type { TrainConfig, TrainMethod } from '../../train/config.ts';
import { methodLabel, type Losses } from '../../train/model.ts';
import { train } from '../../train/loop.ts';
import type { GlobalOptions } from '../main.ts';
import { UserError } from '../errors.ts';

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** The CLI spelling of a config key (nceIdentity's is --nce-idt, as CUT's --nce_idt). */
const kebab = (key: string) => (key === 'nceIdentity' ? 'nce-idt' : key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));

const f3 = (x: number | undefined) => (x ?? Number.NaN).toFixed(3);

/** The progress bar's losses: CycleGAN's G, F, cycle and mean D; CUT's G, NCE, NCE_Y and D. */
export function barLosses(method: TrainMethod, l: Losses): string {
  if (method === 'cyclegan') return `G ${f3(l.genAtoB)} F ${f3(l.genBtoA)} cyc ${f3(l.cycle)} D ${f3((l.discA! + l.discB!) / 2)}`;
  return `G ${f3(l.genAtoB)} NCE ${f3(l.nce)} NCE_Y ${f3(l.nceIdentity)} D ${f3(l.discB)}`;
}

/** The epoch line's losses, named as cycle_gan_model.py and cut_model.py name them. */
export function epochLosses(method: TrainMethod, l: Losses): string {
  if (method === 'cyclegan') {
    return `G ${f3(l.genAtoB)} F ${f3(l.genBtoA)} cycle ${f3(l.cycle)} identity ${f3(l.identity)} D_A ${f3(l.discA)} D_B ${f3(l.discB)}`;
  }
  return `G ${f3(l.genAtoB)} NCE ${f3(l.nce)} NCE_Y ${f3(l.nceIdentity)} D ${f3(l.discB)}`;
}

export async function run(opts: Record<string, unknown>, globals: GlobalOptions): Promise<number> {
  const resume = opts.resume as string | undefined;
  const out = resume ?? (opts.out as string | undefined);
  if (!out) throw new UserError('train needs --out RUN_DIR (or --resume RUN_DIR)');
  if (resume && opts.out && opts.out !== resume) throw new UserError('give either --out or --resume, not both with different folders');
  const config: Partial<TrainConfig> = {
    preset: opts.preset as TrainConfig['preset'] | undefined,
    generator: opts.generator as TrainConfig['generator'] | undefined,
    ngf: opts.ngf as number | undefined,
    ndf: opts.ndf as number | undefined,
    nLayersD: opts.nLayersD as number | undefined,
    ganLoss: opts.ganLoss as TrainConfig['ganLoss'] | undefined,
    lambdaCycle: opts.lambdaCycle as number | undefined,
    lambdaIdentity: opts.lambdaIdentity as number | undefined,
    poolSize: opts.poolSize as number | undefined,
    lr: opts.lr as number | undefined,
    beta1: opts.beta1 as number | undefined,
    epochs: opts.epochs as number | undefined,
    epochsDecay: opts.epochsDecay as number | undefined,
    loadSize: opts.loadSize as number | undefined,
    cropSize: opts.cropSize as number | undefined,
    resize: opts.resize as TrainConfig['resize'] | undefined,
    epochLength: opts.epochLength as TrainConfig['epochLength'] | undefined,
    // commander's --no-flip sets flip=false; leave it undefined otherwise so a preset decides.
    flip: opts.flip === false ? false : undefined,
    saveEvery: opts.saveEvery as number | undefined,
    saveLatestEvery: opts.saveLatestEvery as number | undefined,
    keep: opts.keep as number | undefined,
    seed: opts.seed as number | undefined,
    valSplit: opts.valSplit === undefined || BUILTIN_SPLITS.includes(opts.valSplit as string) ? (opts.valSplit as string | undefined) : resolve(opts.valSplit as string),
    evalEvery: opts.evalEvery as number | undefined,
    evalSize: opts.evalSize as number | undefined,
    evalClassA: opts.evalClassA as string | undefined,
    evalClassB: opts.evalClassB as string | undefined,
    initFrom: opts.initFrom === undefined ? undefined : resolve(opts.initFrom as string),
    method: opts.method as TrainConfig['method'] | undefined,
    lambdaGan: opts.lambdaGan as number | undefined,
    lambdaNce: opts.lambdaNce as number | undefined,
    // --x/--no-x pairs: undefined unless given, so that the method's preset decides.
    nceIdentity: opts.nceIdt as boolean | undefined,
    flipEquivariance: opts.flipEquivariance as boolean | undefined,
    ncePatches: opts.ncePatches as number | undefined,
    nceTemperature: opts.nceTemperature as number | undefined,
  };
  // A new CycleGAN run would ignore CUT's options: say so instead (a resume checks them against the checkpoint).
  const cutOptions = ['lambdaGan', 'lambdaNce', 'nceIdentity', 'flipEquivariance', 'ncePatches', 'nceTemperature'] as const;
  const given = cutOptions.filter((k) => config[k] !== undefined);
  if (!resume && (config.method ?? 'cyclegan') === 'cyclegan' && given.length > 0) {
    throw new UserError(`${given.map((k) => `--${kebab(k)}`).join(', ')}: CUT options, for --method cut or fastcut (this run trains a CycleGAN)`);
  }
  await useBackend(globals.backend, { threads: globals.threads });
  const backend = describeBackend();
  const data = opts.data ? await resolveData(opts.data as string) : undefined;

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

  const interactive = process.stderr.isTTY === true;
  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epochLabel} |{bar}| {value}/{total} · {rate} it/s · ETA {eta_run} · {losses}',
      hideCursor: interactive,
      noTTYOutput: !interactive,
      notTTYSchedule: 10_000,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let barEpoch = -1;
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
          `${resumedFrom ? `resuming ${resumedFrom} at epoch ${position.epoch + 1}, step ${position.stepInEpoch}` : 'new run'} · ${methodLabel(c.method)} · preset ${c.preset} · ${c.generator} ngf ${c.ngf} · ${c.cropSize}px · ${c.ganLoss} · ${stepsPerEpoch} steps/epoch × ${c.epochs + c.epochsDecay} epochs · seed ${c.seed}`,
        );
      },
      onProgress: (p) => {
        const fields = {
          epochLabel: `${p.epoch + 1}/${p.epochs}`,
          rate: p.rate.toFixed(2),
          eta_run: formatEta(p.etaSeconds),
          losses: barLosses(method, p.losses),
        };
        if (p.epoch !== barEpoch) {
          if (barEpoch >= 0) bar.stop();
          bar.start(p.stepsPerEpoch, p.stepInEpoch, fields);
          barEpoch = p.epoch;
        } else bar.update(p.stepInEpoch, fields);
      },
      onEval: (e) => {
        bar.stop();
        barEpoch = -1;
        const parts = Object.entries(e.figures).map(([direction, f]) => {
          const rate = f.classRate ? ` ${(f.classRate.rate * 100).toFixed(0)}% top-1` : '';
          return `${direction} KID×1000 ${f.kid.mean.toFixed(2)} ± ${f.kid.std.toFixed(2)}${rate}`;
        });
        console.log(`validation at step ${e.globalStep}: ${parts.join(' · ')}${e.best ? ' · new best checkpoint' : ''}`);
      },
      onEpoch: (s) => {
        bar.stop();
        barEpoch = -1;
        const l = s.losses;
        // On wasm, how much of the 4 GiB heap the run needs: the figure to watch at large sizes.
        const heap = wasmHeapStats();
        const memory = heap ? ` · wasm heap ${(heap.heapBytes / 2 ** 20).toFixed(0)} MiB (peak live ${(heap.peakLiveBytes / 2 ** 20).toFixed(0)} MiB)` : '';
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
