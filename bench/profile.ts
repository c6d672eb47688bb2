/**
 * `npm run bench -- profile [--generator resnet6] [--size 128] [--ngf 32] [--ndf 32] [--threads N] [--no-winograd]`:
 * where one CycleGAN training step's time goes, by kernel (tf.profile of the third step on wasm),
 * convolutions split by their shapes; then the rate of tfjs-wasm's matrix product (XNNPACK) at the
 * shapes those convolutions reduce to, the ceiling a direct convolution meets.
 */
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBackend } from '../src/engine/backend.ts';
import { resolveConfig, type GeneratorArch } from '../src/train/config.ts';
import { buildModel } from '../src/train/model.ts';
import { Rng } from '../src/util/rng.ts';

/** What `npm run bench -- profile --help` prints. */
export const usage = `npm run bench -- profile [--generator resnet6] [--size 128] [--ngf 32] [--ndf 32] [--threads N] [--no-winograd]
  Where one CycleGAN training step's time goes on wasm, by kernel and by convolution shape,
  and the rate of XNNPACK's matrix product at the shapes those convolutions reduce to.`;

function option(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

/** Kernels that wrap others (an op's scope) would count their children twice. */
const WRAPPERS = /__op$|^unnamed scope$/;

export async function run(args: string[]): Promise<void> {
  const generator = option(args, 'generator', 'resnet6') as GeneratorArch;
  const size = Number(option(args, 'size', '128'));
  const ngf = Number(option(args, 'ngf', '32'));
  const ndf = Number(option(args, 'ndf', String(ngf)));
  const threadsText = option(args, 'threads', '');
  await useBackend('wasm', { ...(threadsText ? { threads: Number(threadsText) } : {}), winograd: !args.includes('--no-winograd') });
  const config = resolveConfig({ preset: 'tutorial', generator, cropSize: size, loadSize: size, ngf, ndf });
  const gan = buildModel(config, new Rng(0));
  const image = () => tf.randomUniform([1, size, size, 3], -1, 1) as tf.Tensor4D;
  for (let i = 0; i < 2; i++) {
    const [a, b] = [image(), image()];
    await gan.trainStep(a, b);
    tf.dispose([a, b]);
  }
  const [a, b] = [image(), image()];
  const started = performance.now();
  const info = await tf.profile(async () => {
    await gan.trainStep(a, b);
  });
  const wallMs = performance.now() - started;
  tf.dispose([a, b]);
  gan.dispose();

  const rows = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    if (WRAPPERS.test(k.name)) continue;
    const key = /Conv2D/.test(k.name) ? `${k.name} ${JSON.stringify(k.inputShapes.slice(0, 2))}` : k.name;
    const row = rows.get(key) ?? { ms: 0, calls: 0 };
    row.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    row.calls += 1;
    rows.set(key, row);
  }
  const total = [...rows.values()].reduce((sum, r) => sum + r.ms, 0);
  console.log(
    `${generator} ${size}px ngf ${ngf} ndf ${ndf}, ${describeBackend()}: step ${(wallMs / 1000).toFixed(2)} s while profiled, kernels ${(total / 1000).toFixed(2)} s`,
  );
  const byFamily = new Map<string, number>();
  for (const [key, r] of rows) byFamily.set(key.split(' ')[0]!, (byFamily.get(key.split(' ')[0]!) ?? 0) + r.ms);
  console.table(
    [...byFamily.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 12)
      .map(([kernel, ms]) => ({ kernel, ms: ms.toFixed(0), share: `${((100 * ms) / total).toFixed(1)} %` })),
  );
  console.table(
    [...rows.entries()]
      .filter(([key]) => key.includes('['))
      .sort((x, y) => y[1].ms - x[1].ms)
      .slice(0, 12)
      .map(([key, r]) => ({
        kernel: key,
        calls: r.calls,
        'ms per call': (r.ms / r.calls).toFixed(1),
        share: `${((100 * r.ms) / total).toFixed(1)} %`,
      })),
  );

  const shapes: [number, number, number][] = [
    [2048, 2048, 2048],
    [1152, 1156, 128],
    [128, 1156, 128],
    [1568, 16900, 3],
  ];
  const rates = [];
  for (const [m, k, n] of shapes) {
    const x = tf.randomNormal([m, k]);
    const y = tf.randomNormal([k, n]);
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const z = tf.matMul(x, y);
      await z.data();
      times.push(performance.now() - t0);
      z.dispose();
    }
    tf.dispose([x, y]);
    const median = times.sort((p, q) => p - q)[2]!;
    rates.push({ matMul: `[${m}×${k}]·[${k}×${n}]`, ms: median.toFixed(2), 'GFLOP/s': ((2 * m * k * n) / median / 1e6).toFixed(1) });
  }
  console.table(rates);
}
