/**
 * `npm start`: the whole product offline in a few minutes on a CPU. It writes a synthetic
 * unpaired dataset (smooth scenes ↔ striped scenes), trains a small CycleGAN on it, translates the
 * held-back test images into a report page and prints where everything is.
 */
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openDataset } from './data/dataset.ts';
import { readImage } from './data/image-io.ts';
import { stripeEnergy, writeSyntheticDataset } from './data/synthetic.ts';
import { describeBackend, useBackend, type BackendName } from './engine/backend.ts';
import { exportTfjs } from './export/tfjs.ts';
import { writeTestReport } from './infer/report.ts';
import { imageToPixels, loadTranslator } from './infer/translator.ts';
import type { TrainConfig } from './train/config.ts';
import { train } from './train/loop.ts';

export interface DemoOptions {
  out?: string;
  /** Training steps (default: DEMO_CONFIG's epochs × 24 steps). */
  steps?: number;
  seed?: number;
  backend?: BackendName;
  /** wasm threads (default: one per core). */
  threads?: number;
  log?: (line: string) => void;
}

/** Small enough for minutes on 2 cores, big enough to learn stripes. */
export const DEMO_CONFIG: Partial<TrainConfig> = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 8,
  ndf: 8,
  cropSize: 32,
  loadSize: 36,
  epochs: 15,
  epochsDecay: 5,
  saveEvery: 5,
  keep: 1,
};

export async function run(options: DemoOptions = {}): Promise<{ report: string; losses: string; exportDir: string; stripeGain: number }> {
  const log = options.log ?? console.log;
  const out = resolve(options.out ?? 'runs/demo');
  await useBackend(options.backend ?? 'auto', { threads: options.threads });
  log(`backend: ${describeBackend()}`);
  const data = await writeSyntheticDataset(join(out, 'data'), { size: 32, trainA: 24, trainB: 24, testA: 6, testB: 6, seed: options.seed ?? 0 });
  log(`synthetic dataset: ${data} (A: smooth scenes, B: striped scenes)`);
  const runDir = join(out, 'run');
  await rm(runDir, { recursive: true, force: true });
  const started = Date.now();
  let lastPrinted = 0;
  const result = await train({
    data,
    out: runDir,
    config: { ...DEMO_CONFIG, seed: options.seed ?? 0 },
    maxSteps: options.steps,
    onEpoch: (s) => {
      if (Date.now() - lastPrinted > 5000 || s.checkpoint) {
        lastPrinted = Date.now();
        log(`epoch ${s.epoch}: cycle ${s.losses.cycle.toFixed(3)} · G ${s.losses.genAtoB.toFixed(3)} · D_B ${s.losses.discB.toFixed(3)} · ${((Date.now() - started) / 1000).toFixed(0)}s`);
      }
    },
  });
  log(`trained ${result.position.globalStep} steps in ${((Date.now() - started) / 1000).toFixed(0)}s: ${result.checkpoint}`);
  const reportDir = join(out, 'report');
  // The demo rebuilds its whole run each time, so its report of an earlier run is replaced.
  const report = await writeTestReport({ model: runDir, data, out: reportDir, title: 'CycleGAN demo: smooth ↔ striped', overwrite: true });
  const exportDir = join(out, 'export');
  await exportTfjs(runDir, exportDir);

  // How far the translations moved toward the striped domain, by the measure the tests use.
  const dataset = await openDataset(data);
  const translator = await loadTranslator(runDir, { direction: 'AtoB' });
  let before = 0;
  let afterSum = 0;
  for (const file of dataset.testA ?? []) {
    const p = imageToPixels(await readImage(file));
    before += stripeEnergy(p.data, p.height, p.width);
    const t = await translator.translatePixels(p);
    afterSum += stripeEnergy(t.data, t.height, t.width);
  }
  translator.dispose();
  const stripeGain = afterSum / Math.max(1e-9, before);
  log(`stripe energy of test A images: ${(before / (dataset.testA?.length ?? 1)).toFixed(3)} before, ${(afterSum / (dataset.testA?.length ?? 1)).toFixed(3)} after translation (×${stripeGain.toFixed(2)})`);
  log(`report:      ${report.index}`);
  log(`loss curve:  ${join(runDir, 'losses.png')}`);
  log(`samples:     ${join(runDir, 'samples')}`);
  log(`export:      ${exportDir} (serve it with: cyclegan serve --model ${exportDir})`);
  return { report: report.index, losses: join(runDir, 'losses.png'), exportDir, stripeGain };
}
