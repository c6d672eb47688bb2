/**
 * A gallery page: photos beside their translations, with what the model is (its card's title and
 * figures). `npm start` writes one for the example photos with the embedded default model.
 */
import { join } from 'node:path';
import { readImage, writeImage } from '../data/image-io.ts';
import { writeDirAtomic, writeFileAtomic } from '../util/atomic.ts';
import { uniqueStems } from './report.ts';
import { imageToPixels, pixelsToImage } from '../data/pixels.ts';
import { loadTranslator, type Direction } from './translator.ts';

export interface GalleryOptions {
  /** Model path (run, checkpoint, export). */
  model: string;
  files: string[];
  /** Folder of the page; it is replaced whole (the page owns it). */
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

export async function writeGallery(options: GalleryOptions): Promise<GalleryResult> {
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
        `<!doctype html>\n<meta charset="utf-8">\n<title>${escapeHtml(options.title)}</title>\n<style>body{font-family:sans-serif;margin:2em}figure{margin:0 0 2em}img{max-width:48%;margin-right:1%}figcaption{color:#555}</style>\n<h1>${escapeHtml(options.title)}</h1>\n${notes}\n${figures}\n`,
      );
    });
  } finally {
    translator.dispose();
  }
  return { index: join(options.out, 'index.html'), rows };
}
