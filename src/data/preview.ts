/**
 * A picture of what the input pipeline does (the tutorial's sample_horse / sample_zebra plots):
 * a PNG grid with four rows of `n` tiles each: domain A originals, the same A images after train
 * preprocessing (resize to loadSize, random crop to cropSize, random flip; shown back in 8-bit),
 * then the same for domain B. Originals are resized to cropSize x cropSize for display. A label
 * column on the left names each row.
 */
import { dirname, join, resolve } from 'node:path';
import { promises as fsp } from 'node:fs';
import sharp from 'sharp';
import { ensureDir } from '../util/atomic.ts';
import { Rng } from '../util/rng.ts';
import { openDataset } from './dataset.ts';
import { decodeToRgb, writeImage } from './image-io.ts';
import { floatToImage, type RgbImage } from './pixels.ts';
import { preprocessTrain, type ResizeMethod } from './pipeline.ts';

export interface PreviewOptions {
  /** Images per domain (default 4). */
  n?: number;
  loadSize?: number;
  cropSize?: number;
  resize?: ResizeMethod;
  seed?: number;
  /** Draw row labels (default true). */
  labels?: boolean;
  onWarning?: (m: string) => void;
  /** Replace an existing file at the output path (default false: nothing is written). */
  overwrite?: boolean;
}

export interface PreviewResult {
  width: number;
  height: number;
  /** The file written (or that would have been): `outPath`, or `outPath/preview.png` for a folder. */
  path: string;
  /** Set when nothing was written because the file exists and `overwrite` is off. */
  skipped?: string;
}

function requireSize(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) throw new Error(`preview ${name} must be an integer >= ${min}, got ${value}`);
}

const LABEL_W = 120;
const GAP = 4;

function labelSvg(text: string, height: number): Buffer {
  const esc = text.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${LABEL_W}" height="${height}">` +
      `<text x="${LABEL_W - 8}" y="${height / 2}" font-family="sans-serif" font-size="16" fill="#222" ` +
      `text-anchor="end" dominant-baseline="middle">${esc}</text></svg>`,
  );
}

/**
 * Writes the preview grid of dataset `root` to `outPath` (PNG; an existing folder gets
 * `preview.png` inside); returns the grid size and the file.
 */
export async function writePreview(root: string, outPath: string, opts: PreviewOptions = {}): Promise<PreviewResult> {
  const n = opts.n ?? 4;
  const loadSize = opts.loadSize ?? 286;
  const cropSize = opts.cropSize ?? 256;
  const resize = opts.resize ?? 'nearest';
  const labels = opts.labels ?? true;
  requireSize('n', n, 1);
  requireSize('loadSize', loadSize, 1);
  requireSize('cropSize', cropSize, 1);
  if (cropSize > loadSize) throw new Error(`cropSize ${cropSize} is larger than loadSize ${loadSize}`);
  const path = (await fsp.stat(outPath).catch(() => null))?.isDirectory() ? join(outPath, 'preview.png') : outPath;
  const ds = await openDataset(root, { onWarning: opts.onWarning });
  const images = [...ds.trainA, ...ds.trainB, ...(ds.testA ?? []), ...(ds.testB ?? [])].map((f) => resolve(f));
  if (images.includes(resolve(path))) throw new Error(`${path}: is one of the dataset's images; choose another --out`);
  const existing = await fsp.stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new Error(`${path}: is a folder, expected a file`);
  if (existing && !opts.overwrite) {
    return { width: 0, height: 0, path, skipped: `${path} exists (--overwrite replaces it)` };
  }
  const rng = new Rng(opts.seed ?? 0);
  const rows: { label: string; tiles: RgbImage[] }[] = [];
  for (const [domain, list] of [
    ['A', ds.trainA],
    ['B', ds.trainB],
  ] as const) {
    const picked = rng.shuffle([...list]).slice(0, n);
    const originals: RgbImage[] = [];
    const processed: RgbImage[] = [];
    for (const file of picked) {
      const p = { x: rng.int(loadSize - cropSize + 1), y: rng.int(loadSize - cropSize + 1), flip: rng.next() < 0.5 };
      originals.push(await decodeToRgb(file, file, { resize: { width: cropSize, height: cropSize, kernel: 'bicubic' } }));
      const f = await preprocessTrain(file, { loadSize, cropSize, resize }, p);
      processed.push(floatToImage(f, cropSize, cropSize));
    }
    rows.push({ label: `${domain} original`, tiles: originals }, { label: `${domain} train`, tiles: processed });
  }
  const left = labels ? LABEL_W : GAP;
  const width = left + n * (cropSize + GAP);
  const height = rows.length * (cropSize + GAP) + GAP;
  const composites: NonNullable<Parameters<ReturnType<typeof sharp>['composite']>[0]> = [];
  rows.forEach((row, r) => {
    const top = GAP + r * (cropSize + GAP);
    if (labels) composites.push({ input: labelSvg(row.label, cropSize), left: 0, top });
    row.tiles.forEach((t, c) => {
      composites.push({
        input: Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        raw: { width: t.width, height: t.height, channels: 3 },
        left: left + c * (cropSize + GAP),
        top,
      });
    });
  });
  const { data } = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite(composites)
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  await ensureDir(dirname(path));
  await writeImage(path, { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }, { format: 'png' });
  return { width, height, path };
}
