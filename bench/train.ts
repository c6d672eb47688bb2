/**
 * `npm run bench -- train [--sizes 64,128,256] [--generators unet,resnet9] [--backends wasm,cpu] [--steps 3]`
 *
 * Times one full CycleGAN training step (both generators, both discriminators, identity loss on,
 * batch 1, the tutorial's networks at ngf/ndf 64) and reports GFLOP/s, peak RSS and, when
 * Debian's PyTorch is installed (/usr/bin/python3 with torch), the same step in PyTorch measured
 * in the same run by bench/reference/cyclegan_step.py.
 *
 * FLOPs are counted from the layers (2·MACs of every convolution); a step is taken as 3× the
 * forward cost (forward + input and weight gradients) of 6 generator passes and 6 discriminator
 * passes, the same rule for both engines.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { useBackend, type BackendName } from '../src/engine/backend.ts';
import { resolveConfig, type GeneratorArch } from '../src/train/config.ts';
import { CycleGan } from '../src/train/cyclegan.ts';
import { Rng } from '../src/util/rng.ts';

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
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


interface Row {
  generator: string;
  size: number;
  backend: string;
  stepSeconds: number;
  gflop: number;
  gflops: number;
  peakRssMiB: number;
  torchSeconds?: number;
}

function referenceStep(generator: string, size: number, steps: number): number | undefined {
  const script = fileURLToPath(new URL('./reference/cyclegan_step.py', import.meta.url));
  if (!existsSync('/usr/bin/python3')) return undefined;
  const r = spawnSync('/usr/bin/python3', [script, '--generator', generator, '--size', String(size), '--steps', String(steps)], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const match = /step_seconds=([\d.]+)/.exec(r.stdout);
  return match ? Number(match[1]) : undefined;
}

/** Measures one configuration in this process; prints one JSON line. */
async function measure(generator: GeneratorArch, size: number, backend: BackendName, steps: number): Promise<void> {
  const running = await useBackend(backend);
  const config = resolveConfig({ preset: 'tutorial', generator, cropSize: size, loadSize: size });
  const { buildPatchDiscriminator } = await import('../src/models/discriminator.ts');
  const { buildResnetGenerator, buildUnetGenerator } = await import('../src/models/generators.ts');
  // FLOPs from fixed-size twins, so fully convolutional layers have concrete shapes.
  const gTwin = generator === 'unet' ? buildUnetGenerator({ size, name: 'flops_g' }) : buildResnetGenerator({ size, nBlocks: generator === 'resnet9' ? 9 : 6, name: 'flops_g' });
  const dTwin = buildPatchDiscriminator({ size, name: 'flops_d' });
  const stepFlops = 3 * (6 * forwardFlops(gTwin, size) + 6 * forwardFlops(dTwin, size));
  gTwin.dispose();
  dTwin.dispose();
  const gan = new CycleGan(config, new Rng(0));
  const batch = () => tf.randomUniform([1, size, size, 3], -1, 1) as tf.Tensor4D;
  let peak = 0;
  const times: number[] = [];
  for (let i = 0; i <= steps; i++) {
    const [a, b] = [batch(), batch()];
    const t0 = performance.now();
    gan.trainStep(a, b);
    const dt = (performance.now() - t0) / 1000;
    tf.dispose([a, b]);
    if (i > 0) times.push(dt); // step 0 warms up (kernel setup, allocation)
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  gan.dispose();
  times.sort((x, y) => x - y);
  const median = times[Math.floor(times.length / 2)]!;
  console.log(JSON.stringify({ backend: running, stepSeconds: median, gflop: stepFlops / 1e9, peakRssMiB: peak / 2 ** 20 }));
}

export async function run(args: string[]): Promise<void> {
  const one = option(args, 'one', '');
  const steps = Number(option(args, 'steps', '3'));
  if (one) {
    const [generator, size, backend] = one.split(',');
    await measure(generator as GeneratorArch, Number(size), backend as BackendName, steps);
    return;
  }
  const sizes = option(args, 'sizes', '64,128').split(',').map(Number);
  const generators = option(args, 'generators', 'unet,resnet9').split(',') as GeneratorArch[];
  const backends = option(args, 'backends', 'wasm').split(',') as BackendName[];
  const table: Record<string, string | number>[] = [];
  const self = fileURLToPath(new URL('./index.ts', import.meta.url));
  for (const backend of backends) {
    for (const generator of generators) {
      for (const size of sizes) {
        // Each configuration in its own process: a wasm heap abort is a result, not a crash.
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, 'train', '--one', `${generator},${size},${backend}`, '--steps', String(steps)], { encoding: 'utf8', maxBuffer: 1 << 26 });
        const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
        const torch = referenceStep(generator, size, steps);
        if (!line) {
          const why = /Aborted|out of memory|memory access/i.test(r.stderr) ? 'wasm heap exhausted' : (r.stderr.trim().split('\n').pop() ?? 'failed');
          table.push({ generator, size, backend, 'step (s)': why, 'PyTorch step (s)': torch?.toFixed(2) ?? 'n/a' });
          console.error(`  ${generator} ${size}px ${backend}: ${why}`);
          continue;
        }
        const m = JSON.parse(line) as { backend: string; stepSeconds: number; gflop: number; peakRssMiB: number };
        table.push({
          generator,
          size,
          backend: m.backend,
          'step (s)': m.stepSeconds.toFixed(2),
          'GFLOP/step': m.gflop.toFixed(1),
          'GFLOP/s': (m.gflop / m.stepSeconds).toFixed(1),
          'peak RSS (MiB)': m.peakRssMiB.toFixed(0),
          'PyTorch step (s)': torch?.toFixed(2) ?? 'n/a',
          'ratio vs PyTorch': torch ? (m.stepSeconds / torch).toFixed(2) : 'n/a',
        });
        console.error(`  ${generator} ${size}px ${m.backend}: ${m.stepSeconds.toFixed(2)} s/step`);
      }
    }
  }
  console.table(table);
}
