/**
 * `npm run bench -- train [--sizes 64,128,256] [--generators unet,resnet9] [--ngf 64] [--ndf 64] [--batch-size 1,2,4] [--methods cyclegan] [--feature-disc none,mobilenetv2] [--backends wasm] [--steps 3] [--threads N]`
 * (`--help` prints the usage).
 *
 * For each backend, generator and size: the generator's forward pass (inference) and one full
 * CycleGAN training step (both generators, both discriminators, identity loss on, batch 1, the
 * tutorial's networks at the given ngf/ndf), with GFLOP/s, the share of the machine's measured peak, peak
 * RSS, the peak bytes of live tensor buffers and the wasm heap (after the warm-up step and after
 * the last, so growth shows). When Debian's PyTorch is installed (/usr/bin/python3 with torch),
 * bench/reference/cyclegan_step.py times the same forward and step in the same run, and the
 * machine peak is its float32 GEMM; otherwise the peak is tfjs-wasm's own matMul.
 *
 * FLOPs are counted from the layers (2·MACs of every convolution); a step is taken as 3× the
 * forward cost (forward + input and weight gradients) of 6 generator passes and 6 discriminator
 * passes, the same rule for both engines. Each configuration runs in its own process, so a heap
 * abort is a table row rather than the end of the bench. With none of --generators, --sizes,
 * --ngf, --ndf given, the rows are the full networks (ngf/ndf 64) at every size plus ResNet-6
 * ngf/ndf 32 at 128 px, the configuration of the long training runs. `--batch-size` takes a list:
 * each row runs at each batch size (the step then takes that many images per domain), and the
 * table gives the cost per image beside the cost per step. `--feature-disc` likewise: each row
 * without and with a feature discriminator (heads on a frozen backbone; its FLOPs are not
 * counted); the default rows add the long-run configuration with `mobilenetv2` beside the plain one.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBackend, type BackendName } from '../src/engine/backend.ts';
import { resetPeakBuffers, wasmHeapStats } from '../src/engine/heap-stats.ts';
import { useInstanceNormKernels, wasmKernelTuning } from '../src/engine/wasm-kernels.ts';
import { BUILTIN_FEATURE_BACKBONES, isFeatureBackboneName, NO_FEATURE_DISC } from '../src/models/backbones/registry.ts';
import { resolveConfig, type GeneratorArch, type TrainMethod } from '../src/train/config.ts';
import { loadRunBackbone } from '../src/train/feature-critic.ts';
import { buildModel } from '../src/train/model.ts';
import { Rng } from '../src/util/rng.ts';

const USAGE = `usage: npm run bench -- train [options]

  --generators LIST  generators, comma-separated: unet, resnet9, resnet6 (default unet,resnet9)
  --sizes LIST       image sizes in pixels, comma-separated (default 64,128,256)
  --ngf N            generator width (default 64)
  --ndf N            discriminator width (default 64)
  --batch-size LIST  images per domain in each step, comma-separated (default 1); the table
                     gives the step time per image too
  --methods LIST     cyclegan, cut, fastcut, comma-separated (default cyclegan); CUT needs a ResNet
  --feature-disc LIST  none or a feature backbone (mobilenetv2), comma-separated (default none):
                     every row without and/or with a feature discriminator
  --backends LIST    engines, comma-separated, each handed to useBackend (default wasm)
  --steps N          timed training steps after a warm-up step (default 3)
  --threads N        wasm threads (default: one per core)
  --no-winograd      3x3 stride-1 convolutions through XNNPACK's direct convolution instead of
                     Winograd F(4x4,3x3) (the default), for before/after runs
  --no-norm-kernels  instance norm op by op instead of the compiled kernels, for before/after runs
  --help             this text

Without --generators, --sizes, --ngf and --ndf the rows are the full networks (ngf/ndf 64) at
64, 128 and 256 px plus ResNet-6 ngf/ndf 32 at 128 px, and that last one again with
--feature-disc mobilenetv2 (the feature discriminator's cost beside the plain step). PyTorch (bench/reference/cyclegan_step.py,
when /usr/bin/python3 has torch) runs each CycleGAN row's configuration in the same run (it has
no CUT). A CUT/FastCUT step is timed with CUT's own defaults (LSGAN, no pool, 256 patches per
layer); its GFLOP/s are not counted.`;

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
}

function positiveInt(args: string[], name: string, fallback: number): number {
  const raw = option(args, name, String(fallback));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} needs a positive integer, got '${raw}'`);
  return n;
}

const GENERATORS: readonly GeneratorArch[] = ['unet', 'resnet9', 'resnet6'];
const METHODS: readonly TrainMethod[] = ['cyclegan', 'cut', 'fastcut'];

/** One table row's configuration. */
interface Row {
  method: TrainMethod;
  generator: GeneratorArch;
  size: number;
  ngf: number;
  ndf: number;
  batchSize: number;
  /** The feature discriminator's backbone, or 'none'. */
  featureDisc: string;
}

/** The rows the options ask for (see the usage). */
export function benchRows(args: string[]): Row[] {
  const given = ['generators', 'sizes', 'ngf', 'ndf'].some((name) => args.includes(`--${name}`));
  const sizes = option(args, 'sizes', '64,128,256').split(',').map(Number);
  for (const size of sizes)
    if (!Number.isInteger(size) || size < 8) throw new Error(`--sizes needs integers of at least 8, got '${option(args, 'sizes', '')}'`);
  const generators = option(args, 'generators', 'unet,resnet9').split(',') as GeneratorArch[];
  for (const g of generators) if (!GENERATORS.includes(g)) throw new Error(`unknown generator '${g}' (expected ${GENERATORS.join(', ')})`);
  const ngf = positiveInt(args, 'ngf', 64);
  const ndf = positiveInt(args, 'ndf', 64);
  const methods = option(args, 'methods', 'cyclegan').split(',') as TrainMethod[];
  for (const m of methods) if (!METHODS.includes(m)) throw new Error(`unknown method '${m}' (expected ${METHODS.join(', ')})`);
  const batchText = option(args, 'batch-size', '1');
  const batchSizes = batchText.split(',').map(Number);
  for (const b of batchSizes)
    if (!Number.isInteger(b) || b < 1) throw new Error(`--batch-size needs positive integers, got '${batchText}'`);
  const featureText = option(args, 'feature-disc', NO_FEATURE_DISC);
  const featureDiscs = featureText.split(',');
  for (const f of featureDiscs)
    if (!isFeatureBackboneName(f)) throw new Error(`--feature-disc needs backbone names or none, got '${featureText}'`);
  const configurations = methods.flatMap((method) =>
    generators.flatMap((generator) =>
      sizes.flatMap((size) => featureDiscs.map((featureDisc) => ({ method, generator, size, ngf, ndf, featureDisc }))),
    ),
  );
  if (!given) {
    for (const method of methods) {
      const longRun = { method, generator: 'resnet6', size: 128, ngf: 32, ndf: 32 } as const;
      const variants = args.includes('--feature-disc') ? featureDiscs : [NO_FEATURE_DISC, ...BUILTIN_FEATURE_BACKBONES];
      for (const featureDisc of variants) configurations.push({ ...longRun, featureDisc });
    }
  }
  const rows = configurations.flatMap((c) => batchSizes.map((batchSize) => ({ ...c, batchSize })));
  // CUT has no U-Net: those rows would only say so.
  return rows.filter((r) => r.method === 'cyclegan' || r.generator !== 'unet');
}

/** 2·MACs of one forward pass over the conv layers of a model at input size `size`. */
export function forwardFlops(model: tf.LayersModel, size: number): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls !== 'Conv2D' && cls !== 'Conv2DTranspose') continue;
    const kernel = layer.getWeights()[0]!.shape as number[];
    const [kh, kw] = kernel;
    // Conv2D kernels are [kh,kw,in,out]; Conv2DTranspose kernels [kh,kw,out,in].
    const cin = cls === 'Conv2D' ? kernel[2]! : kernel[3]!;
    const cout = cls === 'Conv2D' ? kernel[3]! : kernel[2]!;
    const outShape = layer.outputShape as number[];
    const inShape = (layer.input as tf.SymbolicTensor).shape as number[];
    const scale = (d: number | null | undefined) => (d == null ? size : d);
    const positions = cls === 'Conv2D' ? scale(outShape[1]) * scale(outShape[2]) : scale(inShape[1]) * scale(inShape[2]);
    flops += 2 * positions * kh! * kw! * cin * cout;
  }
  return flops;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const MiB = 2 ** 20;

interface Measured {
  backend: string;
  forwardMs: number;
  stepSeconds: number;
  /** Process CPU seconds (every thread) of the median step: what a shared machine does not inflate. */
  stepCpuSeconds: number;
  /** null where the step's FLOPs are not counted (CUT). */
  gflop: number | null;
  peakRssMiB: number;
  peakLiveMiB: number | null;
  heapAfterWarmupMiB: number | null;
  heapAfterLastMiB: number | null;
  steps: number;
}

function reference(args: string[]): string | undefined {
  const script = fileURLToPath(new URL('./reference/cyclegan_step.py', import.meta.url));
  if (!existsSync('/usr/bin/python3')) return undefined;
  const r = spawnSync('/usr/bin/python3', [script, ...args], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

function referenceNumber(args: string[], key: string): number | undefined {
  const out = reference(args);
  const match = out && new RegExp(`${key}=([\\d.]+)`).exec(out);
  return match ? Number(match[1]) : undefined;
}

/** Measures one configuration in this process; prints one JSON line. */
async function measure(
  { method, generator, size, ngf, ndf, batchSize, featureDisc }: Row,
  backend: string,
  steps: number,
  threads: number | undefined,
  winograd: boolean,
  normKernels: boolean,
): Promise<void> {
  // The name goes through unchecked, so engines useBackend gains are benchmarked without changes here.
  await useBackend(backend as BackendName, { threads });
  wasmKernelTuning.winograd = winograd;
  if (backend === 'wasm') useInstanceNormKernels(normKernels);
  const config = resolveConfig({ preset: 'tutorial', method, generator, cropSize: size, loadSize: size, ngf, ndf, batchSize, featureDisc });
  const { buildPatchDiscriminator } = await import('../src/models/discriminator.ts');
  const { buildResnetGenerator, buildUnetGenerator } = await import('../src/models/generators.ts');
  // FLOPs from fixed-size twins, so fully convolutional layers have concrete shapes.
  const gTwin =
    generator === 'unet'
      ? buildUnetGenerator({ size, ngf, name: 'flops_g' })
      : buildResnetGenerator({ size, ngf, nBlocks: generator === 'resnet9' ? 9 : 6, name: 'flops_g' });
  const dTwin = buildPatchDiscriminator({ size, ndf, name: 'flops_d' });
  const counted = method === 'cyclegan' && featureDisc === NO_FEATURE_DISC;
  const stepFlops = counted ? 3 * batchSize * (6 * forwardFlops(gTwin, size) + 6 * forwardFlops(dTwin, size)) : Number.NaN;
  gTwin.dispose();
  dTwin.dispose();
  const gan = buildModel(config, new Rng(0), undefined, await loadRunBackbone(config));
  const batch = () => tf.randomUniform([batchSize, size, size, 3], -1, 1) as tf.Tensor4D;

  const forwardTimes: number[] = [];
  // The forward column stays one image: it is the translation a user waits for.
  const input = tf.randomUniform([1, size, size, 3], -1, 1) as tf.Tensor4D;
  // Two warm-ups (kernel setup, packing), then the median of seven.
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    const y = gan.translate(input, 'AtoB');
    await y.data();
    if (i > 1) forwardTimes.push(performance.now() - t0);
    y.dispose();
  }
  input.dispose();

  let peakRss = 0;
  let heapAfterWarmup: number | null = null;
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const [a, b] = [batch(), batch()];
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await gan.trainStep(a, b);
    const dt = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    tf.dispose([a, b]);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (i === 0) {
      // Step 0 warms up (kernel setup, first allocations); the peak of live buffers is taken after.
      heapAfterWarmup = wasmHeapStats()?.heapBytes ?? null;
      resetPeakBuffers();
    } else {
      times.push(dt);
      cpuTimes.push((cpu.user + cpu.system) / 1e6);
    }
  }
  const stats = wasmHeapStats();
  gan.dispose();
  const result: Measured = {
    backend: describeBackend(),
    forwardMs: median(forwardTimes),
    stepSeconds: median(times),
    stepCpuSeconds: median(cpuTimes),
    gflop: Number.isFinite(stepFlops) ? stepFlops / 1e9 : null,
    peakRssMiB: peakRss / MiB,
    peakLiveMiB: stats ? stats.peakLiveBytes / MiB : null,
    heapAfterWarmupMiB: heapAfterWarmup === null ? null : heapAfterWarmup / MiB,
    heapAfterLastMiB: stats ? stats.heapBytes / MiB : null,
    steps,
  };
  console.log(JSON.stringify(result));
}

/** GFLOP/s of a 2048^3 float32 matMul on tfjs-wasm (the peak when PyTorch is not installed). */
async function wasmPeak(threads?: number): Promise<void> {
  await useBackend('wasm', { threads });
  const a = tf.randomNormal([2048, 2048]);
  const b = tf.randomNormal([2048, 2048]);
  let best = Infinity;
  for (let i = 0; i < 4; i++) {
    const t0 = performance.now();
    tf.matMul(a, b).dispose();
    best = Math.min(best, performance.now() - t0);
  }
  console.log(JSON.stringify({ peakGflops: (2 * 2048 ** 3) / (best / 1000) / 1e9, backend: describeBackend() }));
}

export async function run(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const threadsArg = option(args, 'threads', '');
  const threads = threadsArg ? positiveInt(args, 'threads', 1) : undefined;
  const one = option(args, 'one', '');
  const winograd = !args.includes('--no-winograd');
  const normKernels = !args.includes('--no-norm-kernels');
  const steps = positiveInt(args, 'steps', 3);
  if (one) {
    const [generator, size, backend, ngf, ndf, method = 'cyclegan', batchSize = '1', featureDisc = NO_FEATURE_DISC] = one.split(',');
    await measure(
      {
        method: method as TrainMethod,
        generator: generator as GeneratorArch,
        size: Number(size),
        ngf: Number(ngf),
        ndf: Number(ndf),
        batchSize: Number(batchSize),
        featureDisc,
      },
      backend!,
      steps,
      threads,
      winograd,
      normKernels,
    );
    return;
  }
  const self = fileURLToPath(new URL('./index.ts', import.meta.url));
  const child = (extra: string[]) =>
    spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        self,
        'train',
        ...extra,
        ...(threads ? ['--threads', String(threads)] : []),
        ...(winograd ? [] : ['--no-winograd']),
        ...(normKernels ? [] : ['--no-norm-kernels']),
      ],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      },
    );
  if (args.includes('--wasm-peak')) {
    await wasmPeak(threads);
    return;
  }

  const rows = benchRows(args);
  const torchPeak = referenceNumber(['--peak'], 'peak_gflops');
  let peak = torchPeak;
  let peakSource = 'PyTorch/OpenBLAS float32 GEMM 2048³, 2 threads';
  if (peak === undefined) {
    const line = child(['--wasm-peak'])
      .stdout.split('\n')
      .find((l) => l.startsWith('{'));
    peak = line ? (JSON.parse(line) as { peakGflops: number }).peakGflops : undefined;
    peakSource = 'tfjs-wasm matMul 2048³';
  }
  console.error(`machine peak: ${peak?.toFixed(1) ?? 'n/a'} GFLOP/s (${peakSource})`);

  const backends = option(args, 'backends', 'wasm').split(',');
  const table: Record<string, string | number>[] = [];
  const fmt = (x: number | null | undefined, digits = 0) => (x == null ? 'n/a' : x.toFixed(digits));
  for (const backend of backends) {
    for (const { method, generator, size, ngf, ndf, batchSize, featureDisc } of rows) {
      const r = child([
        '--one',
        `${generator},${size},${backend},${ngf},${ndf},${method},${batchSize},${featureDisc}`,
        '--steps',
        String(steps),
      ]);
      const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
      const torchArgs = ['--generator', generator, '--size', String(size), '--ngf', String(ngf), '--ndf', String(ndf)];
      const torchStepArgs = [...torchArgs, '--batch-size', String(batchSize), '--steps', String(Math.min(steps, 3))];
      // The reference has no CUT and no feature discriminator.
      const plain = method === 'cyclegan' && featureDisc === NO_FEATURE_DISC;
      const torchStep = plain ? referenceNumber(torchStepArgs, 'step_seconds') : undefined;
      const torchForward = plain ? referenceNumber([...torchArgs, '--forward-only'], 'forward_seconds') : undefined;
      const label = { method, generator, size, 'ngf/ndf': `${ngf}/${ndf}`, batch: batchSize, 'feature disc': featureDisc };
      if (!line) {
        const why = /Aborted|out of memory|memory access/i.test(r.stderr)
          ? 'wasm heap exhausted'
          : (r.stderr
              .split('\n')
              .find((l) => /^\s*\w*Error: /.test(l))
              ?.trim() ??
            r.stderr.trim().split('\n').pop() ??
            'failed');
        table.push({ ...label, backend, 'step (s)': why, 'PyTorch step (s)': fmt(torchStep, 2) });
        console.error(`  ${generator} ${size}px ngf ${ngf} ndf ${ndf} ${backend}: ${why}`);
        continue;
      }
      const m = JSON.parse(line) as Measured;
      const gflops = m.gflop === null ? Number.NaN : m.gflop / m.stepSeconds;
      table.push({
        ...label,
        backend: m.backend,
        'fwd (ms)': fmt(m.forwardMs),
        'PyTorch fwd (ms)': fmt(torchForward === undefined ? undefined : torchForward * 1000),
        'fwd ×PyTorch': torchForward ? fmt(m.forwardMs / 1000 / torchForward, 2) : 'n/a',
        'step (s)': fmt(m.stepSeconds, 2),
        'step CPU (s)': fmt(m.stepCpuSeconds, 2),
        'PyTorch step (s)': fmt(torchStep, 2),
        'step ×PyTorch': torchStep ? fmt(m.stepSeconds / torchStep, 2) : 'n/a',
        'step/image (s)': fmt(m.stepSeconds / batchSize, 2),
        'PyTorch step/image (s)': fmt(torchStep === undefined ? undefined : torchStep / batchSize, 2),
        'GFLOP/s': Number.isFinite(gflops) ? fmt(gflops, 1) : 'n/a',
        '% peak': peak && Number.isFinite(gflops) ? fmt((100 * gflops) / peak, 0) : 'n/a',
        'peak RSS (MiB)': fmt(m.peakRssMiB),
        'peak live (MiB)': fmt(m.peakLiveMiB),
        'heap (MiB) step 1 → last': m.heapAfterWarmupMiB == null ? 'n/a' : `${fmt(m.heapAfterWarmupMiB)} → ${fmt(m.heapAfterLastMiB)}`,
      });
      console.error(
        `  ${method} ${generator} ${size}px ngf ${ngf} ndf ${ndf} batch ${batchSize} feature disc ${featureDisc} ${m.backend}: fwd ${fmt(m.forwardMs)} ms, step ${fmt(m.stepSeconds, 2)} s (${fmt(m.stepCpuSeconds, 2)} CPU s)`,
      );
    }
  }
  console.log(
    `machine peak: ${peak?.toFixed(1) ?? 'n/a'} GFLOP/s (${peakSource}); ${steps} timed steps after a warm-up step${winograd ? '' : '; Winograd off'}${normKernels ? '' : '; instance norm op by op'}`,
  );
  console.table(table);
}
