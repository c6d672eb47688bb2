/**
 * The test report: every test image of both domains translated and reconstructed (A → B → A and
 * B → A → B), written as PNGs and an index.html that shows input | translation | reconstruction,
 * as the tutorial's final plots and the official project's results page. A one-direction model
 * (CUT, FastCUT) gets its direction's translations alone: there is nothing to reconstruct with.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, extname, join, relative, resolve, sep } from 'node:path';
import { openDataset } from '../data/dataset.ts';
import { readImage, writeImage } from '../data/image-io.ts';
import { ensureDir, writeDirAtomic, writeFileAtomic } from '../util/atomic.ts';
import { firstForeignDeep, refuseOutput } from '../util/out-folder.ts';
import type { Direction } from './manifest.ts';
import { directionsOf, openModel } from './model-folder.ts';
import { imageToPixels, pixelsToImage } from '../data/pixels.ts';
import { loadTranslator, type Engine, type Translator, type TranslatorOptions } from './translator.ts';

export interface ReportRow {
  input: string;
  translation: string;
  /** Absent for a one-direction model. */
  reconstruction?: string;
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

/** What marks a page as a report this module wrote (so that --overwrite may replace it). */
const REPORT_MARK = '<meta name="generator" content="cyclegan test report">';
/** A report image: images/DIRECTION/STEM_{input,translation,reconstruction}.png. */
const REPORT_IMAGE = /^(AtoB|BtoA)\/[^/]+_(input|translation|reconstruction)\.png$/;

/** Whether `index` is a report page: the mark, or (a report written before the mark) its model and date line. */
function isReportPage(index: string): boolean {
  if (!statSync(index).isFile()) return false;
  const html = readFileSync(index, 'utf8');
  return html.includes(REPORT_MARK) || /<p>model: <code>.*<\/code> · generated \d{4}-/.test(html);
}

/**
 * The folder rule of a report: index.html and images/ go beside the folder's other files, and
 * replace an earlier report's (with --overwrite) only where they are a report's: the images of
 * AtoB/ and BtoA/, a page writeTestReport wrote. Throws the one-line refusal otherwise.
 */
export function claimReportFolder(out: string, overwrite: boolean): void {
  const index = join(out, 'index.html');
  const imagesDir = resolve(out, 'images');
  if (existsSync(out) && !statSync(out).isDirectory()) throw new Error(`${out}: is a file, expected a folder for the report`);
  if (existsSync(index) && !isReportPage(index)) throw refuseOutput(index, 'is not a test report page (cyclegan test did not write it)');
  if (existsSync(imagesDir) && !statSync(imagesDir).isDirectory())
    throw refuseOutput(imagesDir, 'is a file, where a report keeps its images folder');
  const foreign = firstForeignDeep(imagesDir, (path, folder) => (folder ? /^(AtoB|BtoA)$/.test(path) : REPORT_IMAGE.test(path)));
  if (foreign) throw refuseOutput(imagesDir, `is not a report's images folder (it holds ${foreign})`, 'choose another --out');
  const earlier = [index, imagesDir].filter((p) => existsSync(p));
  if (earlier.length > 0 && !overwrite) {
    throw new Error(
      `${out}: holds a report of an earlier run (${earlier.map((p) => relative(resolve(out), p)).join(', ')}); nothing was written: pass --overwrite (overwrite: true) to replace it`,
    );
  }
}

export async function writeTestReport(options: {
  model: string;
  data: string;
  out: string;
  engine?: Engine;
  /** For engine 'onnx' with a tfjs model (see TranslatorOptions). */
  toOnnx?: TranslatorOptions['toOnnx'];
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
  const imagesDir = resolve(options.out, 'images');
  claimReportFolder(options.out, options.overwrite === true);
  const inside = [...testA, ...testB].find((f) => resolve(f).startsWith(imagesDir + sep));
  if (inside) throw new Error(`${options.out}: the report would replace the test image ${inside}; choose another --out`);
  await ensureDir(options.out);
  const engine = options.engine ?? 'tfjs';
  // A bare model (no manifest) serves both directions, as it always has.
  const model = await openModel(options.model);
  const has = directionsOf(model) ?? ['AtoB', 'BtoA'];
  const translators: Partial<Record<Direction, Translator>> = {};
  let total = 0;
  let done = 0;
  let failed = 0;
  const rows: ReportResult['rows'] = { AtoB: [], BtoA: [] };
  try {
    for (const d of has) translators[d] = await loadTranslator(model, { direction: d, engine, toOnnx: options.toOnnx });
    const plan = (
      [
        ['AtoB', testA, translators.AtoB, translators.BtoA],
        ['BtoA', testB, translators.BtoA, translators.AtoB],
      ] as [Direction, string[], Translator | undefined, Translator | undefined][]
    ).filter(([, , forward]) => forward !== undefined);
    total = plan.reduce((n, [, files]) => n + files.length, 0);
    // The images go into a temporary folder swapped in whole, so a report never mixes images of
    // two runs; index.html follows once they are in place.
    await writeDirAtomic(join(options.out, 'images'), async (tmp) => {
      for (const [direction, files, forward, backward] of plan) {
        const dir = join(tmp, direction);
        await ensureDir(dir);
        const stems = uniqueStems(files);
        for (const [i, file] of files.entries()) {
          const names = {
            input: `${stems[i]}_input.png`,
            translation: `${stems[i]}_translation.png`,
            reconstruction: `${stems[i]}_reconstruction.png`,
          };
          const row: ReportRow = {
            input: join('images', direction, names.input),
            translation: join('images', direction, names.translation),
            ...(backward ? { reconstruction: join('images', direction, names.reconstruction) } : {}),
          };
          try {
            const image = await readImage(file, { maxPixels: options.maxPixels });
            const fake = await forward!.translatePixels(imageToPixels(image));
            const rec = backward ? await backward.translatePixels(fake) : null;
            await writeImage(join(dir, names.input), image);
            await writeImage(join(dir, names.translation), pixelsToImage(fake));
            if (rec) await writeImage(join(dir, names.reconstruction), pixelsToImage(rec));
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
    for (const t of Object.values(translators)) t.dispose();
  }
  await writeFileAtomic(index, renderHtml(options.title ?? 'CycleGAN test report', options.model, rows, has));
  return { index, rows, failed };
}

function renderHtml(title: string, model: string, rows: ReportResult['rows'], has: Direction[]): string {
  const section = (name: string, list: ReportRow[]) => {
    const cycle = list.some((r) => r.reconstruction !== undefined);
    const columns = cycle ? 3 : 2;
    const cell = (src: string | undefined, alt: string) =>
      src === undefined ? '' : `<td><img src="${escapeHtml(src)}" alt="${alt}"></td>`;
    return `
<h2>${name} <small>(${list.length} images)</small></h2>
<table>
<tr><th>input</th><th>translation</th>${cycle ? '<th>reconstruction</th>' : ''}</tr>
${list
  .map((r) =>
    r.error
      ? `<tr><td colspan="${columns}" class="error">${escapeHtml(r.error)}</td></tr>`
      : `<tr>${cell(r.input, 'input')}${cell(r.translation, 'translation')}${cell(r.reconstruction, 'reconstruction')}</tr>`,
  )
  .join('\n')}
</table>`;
  };
  const twoWay = has.includes('AtoB') && has.includes('BtoA');
  const sections = [
    has.includes('AtoB') ? section(twoWay ? 'A → B → A' : 'A → B', rows.AtoB) : '',
    has.includes('BtoA') ? section(twoWay ? 'B → A → B' : 'B → A', rows.BtoA) : '',
  ].filter(Boolean);
  const oneWay = twoWay ? '' : `\n<p>this model translates ${has.includes('AtoB') ? 'A → B' : 'B → A'} only: no reconstructions</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">${REPORT_MARK}<title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px;text-align:center}img{width:192px;image-rendering:pixelated}.error{color:#b00}</style>
</head><body>
<h1>${escapeHtml(title)}</h1>
<p>model: <code>${escapeHtml(model)}</code> · generated ${new Date().toISOString()}</p>${oneWay}
${sections.join('\n')}
</body></html>
`;
}

/**
 * Adds the evaluation figures (the table `cyclegan eval` prints, or why there are none) to a
 * written report page, before its end; the page is replaced atomically.
 */
export async function addEvaluationToReport(index: string, text: string, note?: string): Promise<void> {
  const html = await readFile(index, 'utf8');
  const section = `<h2>Evaluation</h2>\n${note ? `<p>${escapeHtml(note)}</p>\n` : ''}<pre>${escapeHtml(text)}</pre>\n`;
  const at = html.lastIndexOf('</body>');
  if (at < 0) throw new Error(`${index}: not a report page (no </body>)`);
  await writeFileAtomic(index, html.slice(0, at) + section + html.slice(at));
}
