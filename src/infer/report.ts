/**
 * The test report: every test image of both domains translated and reconstructed (A → B → A and
 * B → A → B), written as PNGs and an index.html that shows input | translation | reconstruction,
 * as the tutorial's final plots and the official project's results page.
 */
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { openDataset } from '../data/dataset.ts';
import { readImage, writeImage } from '../data/image-io.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { imageToPixels, loadTranslator, pixelsToImage, type Engine, type Translator } from './translator.ts';

export interface ReportRow {
  input: string;
  translation: string;
  reconstruction: string;
  error?: string;
}

export interface ReportResult {
  index: string;
  rows: { AtoB: ReportRow[]; BtoA: ReportRow[] };
  failed: number;
}

const escapeHtml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export async function writeTestReport(options: {
  model: string;
  data: string;
  out: string;
  engine?: Engine;
  title?: string;
  onProgress?: (done: number, total: number, file: string) => void;
}): Promise<ReportResult> {
  const dataset = await openDataset(options.data);
  const testA = dataset.testA ?? [];
  const testB = dataset.testB ?? [];
  if (testA.length + testB.length === 0) throw new Error(`${options.data}: no test images (testA/ and testB/ are missing or empty)`);
  const engine = options.engine ?? 'tfjs';
  const gAB = await loadTranslator(options.model, { direction: 'AtoB', engine });
  const gBA = await loadTranslator(options.model, { direction: 'BtoA', engine });
  const total = testA.length + testB.length;
  let done = 0;
  let failed = 0;
  const rows: ReportResult['rows'] = { AtoB: [], BtoA: [] };
  try {
    for (const [direction, files, forward, backward] of [
      ['AtoB', testA, gAB, gBA],
      ['BtoA', testB, gBA, gAB],
    ] as [keyof ReportResult['rows'], string[], Translator, Translator][]) {
      const dir = join(options.out, 'images', direction);
      await mkdir(dir, { recursive: true });
      for (const file of files) {
        const stem = basename(file, extname(file));
        const paths = {
          input: join(dir, `${stem}_input.png`),
          translation: join(dir, `${stem}_translation.png`),
          reconstruction: join(dir, `${stem}_reconstruction.png`),
        };
        const row: ReportRow = {
          input: relative(options.out, paths.input),
          translation: relative(options.out, paths.translation),
          reconstruction: relative(options.out, paths.reconstruction),
        };
        try {
          const image = await readImage(file);
          const fake = await forward.translatePixels(imageToPixels(image));
          const rec = await backward.translatePixels(fake);
          await writeImage(paths.input, image);
          await writeImage(paths.translation, pixelsToImage(fake));
          await writeImage(paths.reconstruction, pixelsToImage(rec));
        } catch (error) {
          row.error = (error as Error).message.split('\n')[0];
          failed++;
        }
        rows[direction].push(row);
        options.onProgress?.(++done, total, file);
      }
    }
  } finally {
    gAB.dispose();
    gBA.dispose();
  }
  const index = join(options.out, 'index.html');
  await writeFileAtomic(index, renderHtml(options.title ?? 'CycleGAN test report', options.model, rows));
  return { index, rows, failed };
}

function renderHtml(title: string, model: string, rows: ReportResult['rows']): string {
  const section = (name: string, list: ReportRow[]) => `
<h2>${name} <small>(${list.length} images)</small></h2>
<table>
<tr><th>input</th><th>translation</th><th>reconstruction</th></tr>
${list
  .map((r) =>
    r.error
      ? `<tr><td colspan="3" class="error">${escapeHtml(r.error)}</td></tr>`
      : `<tr><td><img src="${escapeHtml(r.input)}" alt="input"></td><td><img src="${escapeHtml(r.translation)}" alt="translation"></td><td><img src="${escapeHtml(r.reconstruction)}" alt="reconstruction"></td></tr>`,
  )
  .join('\n')}
</table>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px;text-align:center}img{width:192px;image-rendering:pixelated}.error{color:#b00}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>model: <code>${escapeHtml(model)}</code> · generated ${new Date().toISOString()}</p>
${section('A → B → A', rows.AtoB)}
${section('B → A → B', rows.BtoA)}
</body></html>
`;
}
