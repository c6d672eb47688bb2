/**
 * The test report: every test image of both domains translated and reconstructed (A → B → A and
 * B → A → B), written as PNGs and an index.html that shows input | translation | reconstruction,
 * as the tutorial's final plots and the official project's results page.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { openDataset } from '../data/dataset.ts';
import { readImage, writeImage } from '../data/image-io.ts';
import { ensureDir, writeDirAtomic, writeFileAtomic } from '../util/atomic.ts';
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

/**
 * Stems for the report's image names, unique within one folder: `a.jpg` and `a.png` both have the
 * stem `a`, so colliding ones keep their extension (`a_jpg`, `a_png`).
 */
export function uniqueStems(files: string[]): string[] {
  const stemOf = (f: string) => basename(f, extname(f));
  const counts = new Map<string, number>();
  for (const f of files) counts.set(stemOf(f), (counts.get(stemOf(f)) ?? 0) + 1);
  const used = new Set<string>();
  return files.map((f) => {
    const stem = stemOf(f);
    const base = counts.get(stem)! > 1 ? `${stem}_${extname(f).slice(1).toLowerCase()}` : stem;
    let name = base;
    for (let k = 2; used.has(name); k++) name = `${base}-${k}`;
    used.add(name);
    return name;
  });
}

export async function writeTestReport(options: {
  model: string;
  data: string;
  out: string;
  engine?: Engine;
  title?: string;
  /** Replace a report already in `out` (default false: an existing report is an error, nothing is written). */
  overwrite?: boolean;
  /** Largest accepted width*height of a test image (see readImage). */
  maxPixels?: number;
  onProgress?: (done: number, total: number, file: string) => void;
}): Promise<ReportResult> {
  const dataset = await openDataset(options.data);
  const testA = dataset.testA ?? [];
  const testB = dataset.testB ?? [];
  if (testA.length + testB.length === 0) throw new Error(`${options.data}: no test images (testA/ and testB/ are missing or empty)`);
  const index = join(options.out, 'index.html');
  if (existsSync(options.out) && !statSync(options.out).isDirectory()) throw new Error(`${options.out}: is a file, expected a folder for the report`);
  const earlier = [index, join(options.out, 'images')].filter((p) => existsSync(p));
  if (earlier.length > 0 && !options.overwrite) {
    throw new Error(`${options.out}: holds a report of an earlier run (${earlier.map((p) => relative(options.out, p)).join(', ')}); nothing was written: pass --overwrite (overwrite: true) to replace it`);
  }
  const imagesDir = resolve(options.out, 'images');
  // --overwrite replaces images/ whole: only when it is a report's (AtoB/ and BtoA/ only).
  const foreign = existsSync(imagesDir) && readdirSync(imagesDir).find((n) => n !== 'AtoB' && n !== 'BtoA');
  if (foreign) throw new Error(`${imagesDir}: is not a report's images folder (it holds ${foreign}); choose another --out`);
  const inside = [...testA, ...testB].find((f) => resolve(f).startsWith(imagesDir + sep));
  if (inside) throw new Error(`${options.out}: the report would replace the test image ${inside}; choose another --out`);
  await ensureDir(options.out);
  const engine = options.engine ?? 'tfjs';
  const gAB = await loadTranslator(options.model, { direction: 'AtoB', engine });
  let gBA: Translator;
  try {
    gBA = await loadTranslator(options.model, { direction: 'BtoA', engine });
  } catch (error) {
    gAB.dispose();
    throw error;
  }
  const total = testA.length + testB.length;
  let done = 0;
  let failed = 0;
  const rows: ReportResult['rows'] = { AtoB: [], BtoA: [] };
  try {
    // The images go into a temporary folder swapped in whole, so a report never mixes images of
    // two runs; index.html follows once they are in place.
    await writeDirAtomic(join(options.out, 'images'), async (tmp) => {
      for (const [direction, files, forward, backward] of [
        ['AtoB', testA, gAB, gBA],
        ['BtoA', testB, gBA, gAB],
      ] as [keyof ReportResult['rows'], string[], Translator, Translator][]) {
        const dir = join(tmp, direction);
        await ensureDir(dir);
        const stems = uniqueStems(files);
        for (const [i, file] of files.entries()) {
          const names = { input: '', translation: '', reconstruction: '' };
          for (const k of Object.keys(names) as (keyof typeof names)[]) names[k] = `${stems[i]}_${k}.png`;
          const row: ReportRow = {
            input: join('images', direction, names.input),
            translation: join('images', direction, names.translation),
            reconstruction: join('images', direction, names.reconstruction),
          };
          try {
            const image = await readImage(file, { maxPixels: options.maxPixels });
            const fake = await forward.translatePixels(imageToPixels(image));
            const rec = await backward.translatePixels(fake);
            await writeImage(join(dir, names.input), image);
            await writeImage(join(dir, names.translation), pixelsToImage(fake));
            await writeImage(join(dir, names.reconstruction), pixelsToImage(rec));
          } catch (error) {
            row.error = (error as Error).message.split('\n')[0];
            failed++;
          }
          rows[direction].push(row);
          options.onProgress?.(++done, total, file);
        }
      }
    });
  } finally {
    gAB.dispose();
    gBA.dispose();
  }
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
