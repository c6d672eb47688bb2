/**
 * `npm start`: the product offline. With an embedded default model it does the main job: the
 * example photos (assets/examples) translated by that model into a page, and how to go on with
 * one's own photos and the web page. Without one (or with --synthetic) it shows the whole
 * pipeline in minutes on a CPU: a synthetic unpaired dataset (smooth scenes ↔ striped scenes), a
 * small CycleGAN trained on it, the held-back test images translated into a report page.
 */
import { readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from './data/dataset.ts';
import { readImage } from './data/image-io.ts';
import { stripeEnergy, writeSyntheticDataset } from './data/synthetic.ts';
import { describeBackend, useBackend, type BackendName } from './engine/backend.ts';
import { claimExportFolder, exportTfjs } from './export/tfjs.ts';
import { defaultModel, describeCardEval, type EmbeddedModel } from './infer/embedded.ts';
import { writeGallery } from './infer/gallery.ts';
import { claimReportFolder, writeTestReport } from './infer/report.ts';
import { imageToPixels } from './data/pixels.ts';
import { loadTranslator } from './infer/translator.ts';
import type { TrainConfig } from './train/config.ts';
import { train } from './train/loop.ts';
import { claimRunFolderToReplace, removeRunFolder } from './train/run-folder.ts';
import { writeDirAtomic } from './util/atomic.ts';
import { firstForeignDeep, refuseOutput, statOrNull } from './util/out-folder.ts';

export interface DemoOptions {
  out?: string;
  /** Training steps (default: DEMO_CONFIG's epochs × 24 steps). */
  steps?: number;
  seed?: number;
  backend?: BackendName;
  /** wasm threads (default: one per core). */
  threads?: number;
  log?: (line: string) => void;
  /** The synthetic pipeline demo even when a default model is embedded. */
  synthetic?: boolean;
}

/** The example photos shipped with the package (sources and licences in their SOURCES.md). */
export const EXAMPLES_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'assets', 'examples');

export interface DemoResult {
  /** The page to open. */
  report: string;
  mode: 'main-job' | 'synthetic';
}

/** Runs the main job with the default model when one is embedded, else the synthetic demo. */
export async function run(options: DemoOptions = {}): Promise<DemoResult> {
  const model = options.synthetic ? null : await defaultModel();
  if (model) return { report: await runMainJob(model, options), mode: 'main-job' };
  return { report: (await runSynthetic(options)).report, mode: 'synthetic' };
}

/** The example photos through the default model into a page; then what to do next. */
export async function runMainJob(model: EmbeddedModel, options: DemoOptions = {}): Promise<string> {
  const log = options.log ?? console.log;
  const out = resolve(options.out ?? 'runs/demo');
  await useBackend(options.backend ?? 'auto', { threads: options.threads, winograd: true });
  const figures = describeCardEval(model.card);
  log(`backend: ${describeBackend()}`);
  log(`model: ${model.name} · ${model.card.title}`);
  for (const line of figures) log(`  ${line}`);
  const files = (await readdir(EXAMPLES_DIR))
    .filter((f) => /\.(webp|jpe?g|png)$/i.test(f))
    .sort()
    .map((f) => join(EXAMPLES_DIR, f));
  const gallery = await writeGallery({
    model: model.path,
    files,
    out: join(out, 'examples'),
    title: `${model.card.title}: example photos`,
    notes: [model.card.description ?? '', ...figures, `photos: ${join(EXAMPLES_DIR, 'SOURCES.md')} (sources and licences)`].filter(Boolean),
    onProgress: (done, total, file) => log(`translated ${done}/${total}: ${file}`),
  });
  for (const r of gallery.rows) log(`  ${r.input} ${r.width}×${r.height} → ${r.translation} in ${r.seconds.toFixed(1)} s`);
  log(`page:        ${gallery.index}`);
  const reverse = model.manifest.directions.BtoA ? '; --direction BtoA for zebra → horse' : '; this model has no zebra → horse';
  log(`your photos: npx cyclegan translate my-photos/ --out zebras/        (any size${reverse})`);
  log(`web page:    npx cyclegan serve                                     (http://127.0.0.1:8080/, the same model in the browser)`);
  log(`the model:   npx cyclegan models                                    (its card: data, recipe, figures)`);
  return gallery.index;
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

const SPLITS = ['trainA', 'trainB', 'testA', 'testB'];

/** The demo replaces its data folder whole: only when it holds the synthetic images the demo wrote. */
function claimDemoData(dir: string): void {
  const there = statOrNull(dir);
  if (there && !there.isDirectory()) throw refuseOutput(dir, 'is a file, where the demo writes its dataset folder');
  const own = (path: string, folder: boolean) => (folder ? SPLITS.includes(path) : /^(\w+)\/\1_\d{4}\.png$/.test(path));
  const foreign = firstForeignDeep(dir, own);
  if (foreign) throw refuseOutput(foreign, "is not one of the demo's synthetic images, and the demo replaces its data folder");
}

/** The synthetic pipeline demo: data, a short training run, a report, an export. */
export async function runSynthetic(
  options: DemoOptions = {},
): Promise<{ report: string; losses: string; exportDir: string; stripeGain: number }> {
  const log = options.log ?? console.log;
  const out = resolve(options.out ?? 'runs/demo');
  await useBackend(options.backend ?? 'auto', { threads: options.threads, winograd: true });
  log(`backend: ${describeBackend()}`);
  // The demo writes data/, run/, report/ and export/ beside whatever else `out` holds, and rebuilds
  // each only when it is the demo's own (each part's rule below); anything else there is refused
  // by name before the demo writes anything.
  const data = join(out, 'data');
  const runDir = join(out, 'run');
  claimDemoData(data);
  claimRunFolderToReplace(runDir);
  const reportDir = join(out, 'report');
  const exportDir = join(out, 'export');
  claimReportFolder(reportDir, true);
  claimExportFolder(exportDir, ['AtoB', 'BtoA']);
  await writeDirAtomic(data, async (tmp) => {
    await writeSyntheticDataset(tmp, { size: 32, trainA: 24, trainB: 24, testA: 6, testB: 6, seed: options.seed ?? 0 });
  });
  log(`synthetic dataset: ${data} (A: smooth scenes, B: striped scenes)`);
  await removeRunFolder(runDir);
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
        const loss = (name: string) => s.losses[name]?.toFixed(3) ?? '?';
        log(
          `epoch ${s.epoch}: cycle ${loss('cycle')} · G ${loss('genAtoB')} · D_B ${loss('discB')} · ${((Date.now() - started) / 1000).toFixed(0)}s`,
        );
      }
    },
  });
  log(`trained ${result.position.globalStep} steps in ${((Date.now() - started) / 1000).toFixed(0)}s: ${result.checkpoint}`);
  // The demo rebuilds its whole run each time, so its report of an earlier run is replaced.
  const report = await writeTestReport({ model: runDir, data, out: reportDir, title: 'CycleGAN demo: smooth ↔ striped', overwrite: true });
  await exportTfjs(runDir, exportDir);

  // How far the translations moved toward the striped domain, by the measure the tests use.
  const dataset = await openDataset(data);
  const translator = await loadTranslator(runDir, { direction: 'AtoB' });
  let before = 0;
  let afterSum = 0;
  try {
    for (const file of dataset.testA ?? []) {
      const p = imageToPixels(await readImage(file));
      before += stripeEnergy(p.data, p.height, p.width);
      const t = await translator.translatePixels(p);
      afterSum += stripeEnergy(t.data, t.height, t.width);
    }
  } finally {
    translator.dispose();
  }
  const stripeGain = afterSum / Math.max(1e-9, before);
  log(
    `stripe energy of test A images: ${(before / (dataset.testA?.length ?? 1)).toFixed(3)} before, ${(afterSum / (dataset.testA?.length ?? 1)).toFixed(3)} after translation (×${stripeGain.toFixed(2)})`,
  );
  log(`report:      ${report.index}`);
  log(`loss curve:  ${join(runDir, 'losses.png')}`);
  log(`samples:     ${join(runDir, 'samples')}`);
  log(`export:      ${exportDir} (serve it with: cyclegan serve --model ${exportDir})`);
  return { report: report.index, losses: join(runDir, 'losses.png'), exportDir, stripeGain };
}
