/**
 * The unpaired dataset layout of the CycleGAN releases:
 *
 *   ROOT/trainA  domain A training images   (required)
 *   ROOT/trainB  domain B training images   (required)
 *   ROOT/testA   domain A test images       (optional)
 *   ROOT/testB   domain B test images       (optional)
 *   ROOT/valA    domain A validation images (optional; or a validation split, see splits.ts)
 *   ROOT/valB    domain B validation images (optional)
 *
 * Files are listed sorted (byte order of the name, so the order is the same on every machine).
 * Only jpg/jpeg/png/webp/avif/tif/tiff/gif (any case) are taken; other files are skipped with one
 * warning per folder; hidden files (".DS_Store", "._x.jpg") and sub-folders are skipped silently.
 */
import { existsSync, promises as fsp, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.avif', '.tif', '.tiff', '.gif'];

export type Split = 'trainA' | 'trainB' | 'testA' | 'testB' | 'valA' | 'valB';

export interface Dataset {
  /** Absolute path of the dataset root. */
  root: string;
  /** Absolute paths, sorted. */
  trainA: string[];
  trainB: string[];
  /** Present only when the folder exists (it may still be empty: then it is an empty list). */
  testA?: string[];
  testB?: string[];
  valA?: string[];
  valB?: string[];
}

export interface OpenDatasetOptions {
  /** Called with a one-line message about skipped files. Default console.warn. */
  onWarning?: (message: string) => void;
}

export class DatasetError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'DatasetError';
    this.path = path;
  }
}

export function isImageFile(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}

/** Lists the image files of one folder (absolute paths, sorted). */
export async function listImages(dir: string, onWarning: (m: string) => void = console.warn): Promise<string[]> {
  const entries = await fsp.readdir(dir, { withFileTypes: true });
  const images: string[] = [];
  const skipped: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) continue;
    if (!e.isFile() && !e.isSymbolicLink()) continue;
    if (isImageFile(e.name)) images.push(e.name);
    else skipped.push(e.name);
  }
  images.sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  if (skipped.length > 0) {
    skipped.sort();
    const shown = skipped.slice(0, 5).join(', ') + (skipped.length > 5 ? `, ... (${skipped.length - 5} more)` : '');
    onWarning(
      `${dir}: skipped ${skipped.length} non-image file${skipped.length === 1 ? '' : 's'} (${shown}); images must be ${IMAGE_EXTENSIONS.join('/')}`,
    );
  }
  return images.map((n) => join(dir, n));
}

/** Opens ROOT/{trainA,trainB,testA,testB}; throws a DatasetError naming the folder at fault. */
export async function openDataset(root: string, opts: OpenDatasetOptions = {}): Promise<Dataset> {
  const onWarning = opts.onWarning ?? ((m: string) => console.warn(m));
  const abs = resolve(root);
  if (!existsSync(abs)) throw new DatasetError(abs, `dataset folder not found: ${abs}`);
  if (!statSync(abs).isDirectory()) throw new DatasetError(abs, `dataset path is not a folder: ${abs}`);
  const missing = (['trainA', 'trainB'] as const).filter((s) => !existsSync(join(abs, s)) || !statSync(join(abs, s)).isDirectory());
  if (missing.length > 0) {
    throw new DatasetError(
      join(abs, missing[0]!),
      `${abs}: missing folder${missing.length > 1 ? 's' : ''} ${missing.map((m) => `${m}/`).join(' and ')} (expected the layout ROOT/{trainA,trainB,testA,testB})`,
    );
  }
  const ds: Dataset = { root: abs, trainA: [], trainB: [] };
  for (const split of ['trainA', 'trainB', 'testA', 'testB', 'valA', 'valB'] as const) {
    const dir = join(abs, split);
    const required = split === 'trainA' || split === 'trainB';
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      if (required) {
        throw new DatasetError(dir, `${abs}: missing folder ${split}/ (expected the layout ROOT/{trainA,trainB,testA,testB})`);
      }
      continue;
    }
    const files = await listImages(dir, onWarning);
    if (required && files.length === 0) {
      throw new DatasetError(dir, `${dir}: no images found (expected ${IMAGE_EXTENSIONS.join('/')} files)`);
    }
    ds[split] = files;
  }
  return ds;
}
