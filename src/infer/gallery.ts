/**
 * A gallery page: photos beside their translations, with what the model is (its card's title and
 * figures). `npm start` writes one for the example photos with the embedded default model.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readImage, writeImage } from '../data/image-io.ts';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.ts';
import { entriesOf, firstForeign, refuseOutput, statOrNull } from '../util/out-folder.ts';
import { uniqueStems } from './report.ts';
import { imageToPixels, pixelsToImage } from '../data/pixels.ts';
import { loadTranslator, type Direction } from './translator.ts';

export interface GalleryOptions {
  /** Model path (run, checkpoint, export). */
  model: string;
  files: string[];
  /** Folder of the page; it is replaced whole when it holds an earlier gallery (see claimGalleryFolder), refused when it holds anything else. */
  out: string;
  direction?: Direction;
  title: string;
  /** Lines under the title (the model card's summary). */
  notes?: string[];
  onProgress?: (done: number, total: number, file: string) => void;
}

export interface GalleryResult {
  index: string;
  rows: { input: string; translation: string; width: number; height: number; seconds: number }[];
}

const escapeHtml = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** What marks a page as a gallery this module wrote. */
const GALLERY_MARK = '<meta name="generator" content="cyclegan gallery">';

/**
 * The gallery owns its folder: it replaces it whole, so the folder must be new, empty, or an
 * earlier gallery (its page, and only the images that page shows). Anything else is refused, by
 * name, before anything is written.
 */
function claimGalleryFolder(out: string): void {
  const there = statOrNull(out);
  if (!there) return;
  if (!there.isDirectory()) throw refuseOutput(out, 'is a file, expected a folder for the page', 'choose another --out');
  if (entriesOf(out).length === 0) return;
  const index = join(out, 'index.html');
  const page = statOrNull(index)?.isFile() ? readFileSync(index, 'utf8') : '';
  // A page written before the mark: the gallery's own head and figures.
  const ours =
    page.includes(GALLERY_MARK) ||
    (page.startsWith('<!doctype html>\n<meta charset="utf-8">\n<title>') && page.includes('<figure><img src="'));
  if (!ours) {
    const what = firstForeign(out, (n) => n !== 'index.html') ?? index;
    throw refuseOutput(what, 'is not part of a gallery page this command wrote, and the page replaces its folder whole');
  }
  const shown = new Set([...page.matchAll(/<img src="([^"]+)"/g)].map((m) => m[1]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"')));
  const foreign = firstForeign(out, (n) => n === 'index.html' || shown.has(n));
  if (foreign)
    throw refuseOutput(foreign, 'is not one of the images of the gallery page in this folder, and the page replaces its folder whole');
}

export async function writeGallery(options: GalleryOptions): Promise<GalleryResult> {
  claimGalleryFolder(options.out);
  const direction = options.direction ?? 'AtoB';
  const translator = await loadTranslator(options.model, { direction });
  const rows: GalleryResult['rows'] = [];
  try {
    const stems = uniqueStems(options.files);
    await writeDirAtomic(options.out, async (tmp) => {
      for (const [i, file] of options.files.entries()) {
        const image = await readImage(file);
        const started = Date.now();
        const translated = pixelsToImage(await translator.translatePixels(imageToPixels(image)));
        const seconds = (Date.now() - started) / 1000;
        const row = {
          input: `${stems[i]}.png`,
          translation: `${stems[i]}.${direction}.png`,
          width: image.width,
          height: image.height,
          seconds,
        };
        await writeImage(join(tmp, row.input), image);
        await writeImage(join(tmp, row.translation), translated);
        rows.push(row);
        options.onProgress?.(rows.length, options.files.length, file);
      }
      const figures = rows
        .map(
          (r) =>
            `<figure><img src="${escapeHtml(r.input)}" alt="input"><img src="${escapeHtml(r.translation)}" alt="${direction}"><figcaption>${r.width}×${r.height} · ${r.seconds.toFixed(1)} s</figcaption></figure>`,
        )
        .join('\n');
      const notes = (options.notes ?? []).map((n) => `<p>${escapeHtml(n)}</p>`).join('\n');
      await writeFileAtomic(
        join(tmp, 'index.html'),
        `<!doctype html>\n<meta charset="utf-8">\n${GALLERY_MARK}\n<title>${escapeHtml(options.title)}</title>\n<style>body{font-family:sans-serif;margin:2em}figure{margin:0 0 2em}img{max-width:48%;margin-right:1%}figcaption{color:#555}</style>\n<h1>${escapeHtml(options.title)}</h1>\n${notes}\n${figures}\n`,
      );
    });
  } finally {
    translator.dispose();
  }
  return { index: join(options.out, 'index.html'), rows };
}
