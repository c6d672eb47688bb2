/**
 * End-to-end test of the browser demo in a real (headless) Chromium: the page built by Vite,
 * served by `startServer` with a freshly exported tiny model, must translate an uploaded PNG to the
 * same pixels as `translateImage` in Node, and must explain a non-image and a bad model folder.
 *
 * Needs Debian's `chromium` at /usr/bin/chromium (CHROMIUM_PATH overrides): skipped without it,
 * failed without it when CI is set. Builds web/dist first when it is missing or older than its
 * sources. The screenshot goes to $CYCLEGAN_ARTIFACTS/e2e.png (default artifacts/e2e.png).
 *
 * CYCLEGAN_WEB_BENCH=1 also times a full-size (ngf 64, 256 px) ResNet-9 in the page.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { buildResnetGenerator, buildUnetGenerator } from '../../src/models/index.ts';
import { loadLayersModel, saveLayersModel } from '../../src/models/io.ts';
import { importOfficial } from '../../src/export/official-import.ts';
import { generatorGeometry, translateImage } from '../../src/infer/translate-core.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WEB_DIST = join(ROOT, 'web', 'dist');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'torch');
/** Largest allowed |browser − Node| per channel, in 0..255 levels. */
const TOLERANCE = 2;

const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) {
  throw new Error(`${CHROMIUM} is missing: the browser end-to-end test needs Debian's chromium (apt-get install -y chromium)`);
}
const skip = haveChromium ? false : `${CHROMIUM} not found (apt-get install -y chromium); skipping the browser test`;

/** Newest modification time among files under `path`. */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Builds the page with Vite unless web/dist is newer than everything it is built from. */
function ensureWebBuilt(): void {
  const built = existsSync(join(WEB_DIST, 'index.html')) ? newest(join(WEB_DIST, 'index.html')) : 0;
  const sources = Math.max(
    newest(join(ROOT, 'web', 'index.html')),
    newest(join(ROOT, 'web', 'src')),
    newest(join(ROOT, 'web', 'vite.config.ts')),
    newest(join(ROOT, 'src', 'infer', 'translate-core.ts')),
    newest(join(ROOT, 'src', 'models')),
    newest(join(ROOT, 'src', 'util')),
  );
  if (built > sources) return;
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [vite, 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`vite build failed:\n${result.stdout}\n${result.stderr}`);
}

/** A smooth synthetic RGB image (gradients plus a disc), so translation output is not trivial. */
function syntheticImage(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inDisc = (x - width * 0.6) ** 2 + (y - height * 0.5) ** 2 < (Math.min(width, height) * 0.3) ** 2;
      data[i] = Math.round((255 * x) / (width - 1));
      data[i + 1] = Math.round((255 * y) / (height - 1));
      data[i + 2] = inDisc ? 230 : 40;
    }
  }
  return data;
}

/** Node's translation of RGB bytes, as the page does it: [-1, 1] in, rounded clamped bytes out. */
function nodeTranslate(model: tf.LayersModel, rgb: Uint8Array, width: number, height: number): Uint8Array {
  const values = tf.tidy(() => {
    const x = tf.tensor3d(rgb, [height, width, 3], 'int32').toFloat().div(127.5).sub(1) as tf.Tensor3D;
    return translateImage(model, x, generatorGeometry(model)).dataSync();
  });
  return Uint8Array.from(values, (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5))));
}

interface Output {
  width: number;
  height: number;
  direction: string;
  data: number[];
}

/** Largest per-channel difference between RGBA page pixels and Node's RGB bytes. */
function maxDiff(output: Output, expected: Uint8Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let p = 0; p < output.width * output.height; p++) {
    for (let k = 0; k < 3; k++) {
      const d = Math.abs(output.data[p * 4 + k]! - expected[p * 3 + k]!);
      max = Math.max(max, d);
      sum += d;
    }
  }
  return { max, mean: sum / (output.width * output.height * 3) };
}

async function writeExport(
  dir: string,
  generators: Partial<Record<'AtoB' | 'BtoA', tf.LayersModel>>,
  meta: { generator: string; size: number },
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const directions: Record<string, string> = {};
  for (const [d, model] of Object.entries(generators)) {
    await saveLayersModel(model, join(dir, d));
    directions[d] = `${d}/model.json`;
  }
  const manifest = { format: 'cyclegan-generators', version: 1, ...meta, domains: { A: 'horse', B: 'zebra' }, directions };
  writeFileSync(join(dir, 'cyclegan.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}

async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Waits until the page has finished `count` translations (or shows an error). */
async function waitForTranslations(page: Page, count: number, timeout = 30_000): Promise<Output> {
  await page.waitForFunction((n) => window.__cyclegan?.translations >= n || window.__cyclegan?.error != null, count, { timeout });
  const state = await page.evaluate(() => window.__cyclegan);
  assert.equal(state.error, null, `the page reported an error: ${state.error}`);
  return state.lastOutput as Output;
}

/** Runs `action` and returns the message the page then shows in #error. */
async function errorAfter(page: Page, action: () => Promise<void>): Promise<string> {
  await page.evaluate(() => (window.__cyclegan.error = null));
  await action();
  await page.waitForFunction(() => window.__cyclegan?.error != null, null, { timeout: 15_000 });
  const visible = await page.isVisible('#error');
  assert.ok(visible, '#error is not visible');
  return (await page.textContent('#error')) ?? '';
}

let work: string;
let server: RunningServer | undefined;
let browser: Browser | undefined;

before(async () => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'cyclegan-e2e-'));
  ensureWebBuilt();
  await tf.setBackend('cpu');
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the browser demo translates like Node and explains bad input', { skip, timeout: 120_000 }, async (t) => {
  const unet = buildUnetGenerator({ size: 32, ngf: 4, seed: 1 });
  const resnet = buildResnetGenerator({ ngf: 4, nBlocks: 2, seed: 2 });
  const exportDir = join(work, 'export');
  await writeExport(exportDir, { AtoB: unet, BtoA: resnet }, { generator: 'unet', size: 32 });

  const width = 40;
  const height = 24;
  const rgb = syntheticImage(width, height);
  const pngPath = join(work, 'test-40x24.png');
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(pngPath);

  server = await startServer({ modelDir: exportDir, port: 0 });
  browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  await page.goto(server.url);
  await page.waitForFunction(() => window.__cyclegan?.ready === true || window.__cyclegan?.error != null, null, {
    timeout: 30_000,
  });
  const backend = await page.evaluate(() => window.__cyclegan.backend);
  assert.equal(await page.evaluate(() => window.__cyclegan.error), null);
  t.diagnostic(`page backend: ${backend} — ${await page.textContent('#backend-info')}`);

  // A→B: the 32-px U-Net on a 40×24 image (mirror-padded, tiled, cropped back).
  await page.setInputFiles('#file', pngPath);
  let output = await waitForTranslations(page, 1);
  assert.equal(output.direction, 'AtoB');
  assert.deepEqual([output.width, output.height], [width, height]);
  let diff = maxDiff(output, nodeTranslate(unet, rgb, width, height));
  t.diagnostic(`AtoB (unet 32): max |browser − node| = ${diff.max}, mean ${diff.mean.toFixed(4)} levels`);
  assert.ok(diff.max <= TOLERANCE, `AtoB differs from Node by up to ${diff.max} levels`);
  const status = (await page.textContent('#status')) ?? '';
  assert.match(status, new RegExp(`^${backend} · \\d+ ms`), `status: ${status}`);
  t.diagnostic(`status: ${status}`);

  // B→A: the fully convolutional ResNet.
  await page.selectOption('#direction', 'BtoA');
  output = await waitForTranslations(page, 2);
  assert.equal(output.direction, 'BtoA');
  assert.deepEqual([output.width, output.height], [width, height]);
  diff = maxDiff(output, nodeTranslate(resnet, rgb, width, height));
  t.diagnostic(`BtoA (resnet): max |browser − node| = ${diff.max}, mean ${diff.mean.toFixed(4)} levels`);
  assert.ok(diff.max <= TOLERANCE, `BtoA differs from Node by up to ${diff.max} levels`);

  // A wide image over the 1024-px limit: scaled down, aspect ratio kept, with a visible notice.
  const bigPath = join(work, 'wide-1300x40.png');
  await sharp(syntheticImage(1300, 40), { raw: { width: 1300, height: 40, channels: 3 } })
    .png()
    .toFile(bigPath);
  await page.setInputFiles('#file', bigPath);
  output = await waitForTranslations(page, 3);
  assert.deepEqual([output.width, output.height], [1024, 32]);
  assert.ok(await page.isVisible('#notice'));
  assert.match((await page.textContent('#notice')) ?? '', /1300×40.*scaled down to 1024×32/);
  // Back to the small image for the screenshot, dropped onto the panels this time; the notice goes.
  await page.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], 'test-40x24.png', { type: 'image/png' }));
    const drop = new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true });
    document.getElementById('drop')!.dispatchEvent(drop);
  }, readFileSync(pngPath).toString('base64'));
  output = await waitForTranslations(page, 4);
  assert.deepEqual([output.width, output.height], [width, height]);
  assert.ok(!(await page.isVisible('#notice')));

  const artifacts = process.env.CYCLEGAN_ARTIFACTS ?? join(ROOT, 'artifacts');
  mkdirSync(artifacts, { recursive: true });
  const shot = join(artifacts, 'e2e.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`e2e screenshot: ${shot}`);

  // The download button hands out a PNG of the result.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  assert.match(download.suggestedFilename(), /^test-40x24-.*\.png$/);
  const saved = join(work, download.suggestedFilename());
  await download.saveAs(saved);
  const meta = await sharp(saved).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ['png', width, height]);

  // A file that is not an image.
  const notImage = { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a picture') };
  assert.match(await errorAfter(page, () => page.setInputFiles('#file', notImage)), /notes\.txt.*not an image/);

  // A model folder whose weights are missing: readable message, the served model stays in use.
  const bad = join(work, 'bad-model');
  await writeExport(bad, { AtoB: unet }, { generator: 'unet', size: 32 });
  rmSync(join(bad, 'AtoB', 'weights.bin'));
  const message = await errorAfter(page, () => page.setInputFiles('#model-files', bad));
  assert.match(message, /weights\.bin/);
  t.diagnostic(`bad model folder: ${message}`);
  // And a folder that is not a model at all.
  const notModel = join(work, 'holiday-photos');
  mkdirSync(notModel);
  writeFileSync(join(notModel, 'readme.txt'), 'hello');
  assert.match(await errorAfter(page, () => page.setInputFiles('#model-files', notModel)), /no cyclegan\.json or model\.json/);
  assert.deepEqual(await page.evaluate(() => window.__cyclegan.model?.directions), ['AtoB', 'BtoA']);

  // A good folder picked by hand loads and translates the same.
  await page.evaluate(() => (window.__cyclegan.error = null));
  await page.setInputFiles('#model-files', exportDir);
  await page.waitForFunction(() => window.__cyclegan.model?.source.startsWith('folder'), null, { timeout: 15_000 });
  await page.setInputFiles('#file', pngPath);
  output = await waitForTranslations(page, 6);
  diff = maxDiff(output, nodeTranslate(output.direction === 'AtoB' ? unet : resnet, rgb, width, height));
  assert.ok(diff.max <= TOLERANCE, `model from a folder differs from Node by up to ${diff.max} levels`);

  // The other engine gives the same pixels: WebGL when the page chose WebAssembly (headless
  // Chromium's WebGL is software-rendered, which the page skips unless asked), else WebAssembly.
  const other = backend === 'wasm' ? 'webgl' : 'wasm';
  const otherPage = await context.newPage();
  otherPage.on('pageerror', (err) => consoleErrors.push(String(err)));
  await otherPage.goto(`${server.url}?backend=${other}`);
  await otherPage.waitForFunction(() => window.__cyclegan?.ready === true || window.__cyclegan?.error != null, null, {
    timeout: 30_000,
  });
  assert.equal(await otherPage.evaluate(() => window.__cyclegan.error), null);
  const otherBackend = await otherPage.evaluate(() => window.__cyclegan.backend);
  t.diagnostic(`?backend=${other}: ${otherBackend} — ${await otherPage.textContent('#backend-info')}`);
  await otherPage.setInputFiles('#file', pngPath);
  output = await waitForTranslations(otherPage, 1);
  diff = maxDiff(output, nodeTranslate(unet, rgb, width, height));
  t.diagnostic(`AtoB on ${otherBackend}: max |browser − node| = ${diff.max}, mean ${diff.mean.toFixed(4)} levels`);
  assert.ok(diff.max <= TOLERANCE, `${otherBackend} output differs from Node by up to ${diff.max} levels`);
  assert.match((await otherPage.textContent('#status')) ?? '', new RegExp(`^${otherBackend} · \\d+ ms`));

  assert.deepEqual(consoleErrors, []);
  unet.dispose();
  resnet.dispose();
});

test('an imported official PyTorch model (ResNet and U-Net) translates in the page as in Node', { skip, timeout: 120_000 }, async (t) => {
  // The official generators' .pth fixtures (test/export/official-import.test.ts checks them
  // against PyTorch's own outputs), imported as one two-direction folder.
  const imported = join(work, 'imported');
  const unetAsGB = join(work, 'unet_32-ngf2_net_G_B.pth');
  copyFileSync(join(FIXTURES, 'unet_32-ngf2_net_G_A.pth'), unetAsGB);
  await importOfficial({ files: [join(FIXTURES, 'resnet_6blocks-ngf4_net_G_A.pth'), unetAsGB], out: imported });
  const manifest = JSON.parse(readFileSync(join(imported, 'cyclegan.json'), 'utf8')) as { directions: Record<string, string> };
  assert.deepEqual(Object.keys(manifest.directions).sort(), ['AtoB', 'BtoA']);
  const generators = {
    AtoB: await loadLayersModel(join(imported, dirname(manifest.directions.AtoB!))),
    BtoA: await loadLayersModel(join(imported, dirname(manifest.directions.BtoA!))),
  };
  const [width, height] = [40, 24];
  const rgb = syntheticImage(width, height);
  const pngPath = join(work, 'imported-40x24.png');
  await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(pngPath);
  const importedServer = await startServer({ modelDir: imported, port: 0 });
  const importedBrowser = await launch();
  try {
    const page = await importedBrowser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(importedServer.url);
    await page.waitForFunction(() => window.__cyclegan?.ready === true || window.__cyclegan?.error != null, null, { timeout: 30_000 });
    assert.equal(await page.evaluate(() => window.__cyclegan.error), null);
    let count = 0;
    for (const direction of ['AtoB', 'BtoA'] as const) {
      if (direction === 'BtoA') await page.selectOption('#direction', 'BtoA');
      else await page.setInputFiles('#file', pngPath);
      const output = await waitForTranslations(page, ++count);
      assert.equal(output.direction, direction);
      assert.deepEqual([output.width, output.height], [width, height]);
      const diff = maxDiff(output, nodeTranslate(generators[direction], rgb, width, height));
      t.diagnostic(`${direction} (imported): max |browser − node| = ${diff.max}, mean ${diff.mean.toFixed(4)} levels`);
      assert.ok(diff.max <= TOLERANCE, `${direction} of the imported model differs from Node by up to ${diff.max} levels`);
    }
    assert.deepEqual(errors, []);
  } finally {
    for (const g of Object.values(generators)) g.dispose();
    await importedBrowser.close();
    await importedServer.close();
  }
});

test(
  'in-browser translate time at 256×256 (CYCLEGAN_WEB_BENCH=1)',
  { skip: skip || (process.env.CYCLEGAN_WEB_BENCH ? false : 'set CYCLEGAN_WEB_BENCH=1 to run'), timeout: 600_000 },
  async (t) => {
    const kind = process.env.CYCLEGAN_WEB_BENCH_MODEL ?? 'resnet9';
    const model =
      kind === 'unet' ? buildUnetGenerator({ size: 256, ngf: 64, seed: 3 }) : buildResnetGenerator({ ngf: 64, nBlocks: 9, seed: 3 });
    const dir = join(work, `bench-${kind}`);
    await writeExport(dir, { AtoB: model }, { generator: kind, size: 256 });
    model.dispose();
    const png = join(work, 'bench-256.png');
    await sharp(syntheticImage(256, 256), { raw: { width: 256, height: 256, channels: 3 } })
      .png()
      .toFile(png);
    const benchServer = await startServer({ modelDir: dir, port: 0 });
    const benchBrowser = await launch();
    try {
      const page = await benchBrowser.newPage();
      const query = process.env.CYCLEGAN_WEB_BENCH_BACKEND ? `?backend=${process.env.CYCLEGAN_WEB_BENCH_BACKEND}` : '';
      await page.goto(benchServer.url + query);
      await page.waitForFunction(() => window.__cyclegan?.ready === true || window.__cyclegan?.error != null, null, {
        timeout: 120_000,
      });
      assert.equal(await page.evaluate(() => window.__cyclegan.error), null);
      const times: number[] = [];
      for (let i = 1; i <= 3; i++) {
        await page.setInputFiles('#file', png);
        await waitForTranslations(page, i, 300_000);
        times.push(await page.evaluate(() => window.__cyclegan.lastTimeMs!));
      }
      const backend = await page.evaluate(() => window.__cyclegan.backend);
      const info = await page.textContent('#backend-info');
      const line = `${kind} ngf64 256×256 in headless Chromium on ${backend} (${info}): ${times.map((ms) => `${Math.round(ms)} ms`).join(', ')} (first includes warm-up)`;
      t.diagnostic(line);
      console.log(line);
    } finally {
      await benchBrowser.close();
      await benchServer.close();
    }
  },
);
