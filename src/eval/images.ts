/**
 * Which images an evaluation looks at, and how they are loaded. Every image (source, target or
 * translation) passes through the same chain: decoded to 8-bit RGB at `size` x `size` (bicubic,
 * the project's test preprocessing), translated or not, back to 8-bit, then the feature
 * network's own cubic resize. So real and translated images are resampled alike, and the model
 * is measured on the pixels a user would see.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { floatToImage, type RgbImage } from '../data/pixels.ts';
import { listImages } from '../data/dataset.ts';
import { loadTestImage } from '../data/pipeline.ts';
import { applySplit, loadSplit } from '../data/splits.ts';

export type EvalSplit = 'val' | 'test' | 'train';

export interface EvalImageSets {
  /** Domain A and B image paths, sorted. */
  A: string[];
  B: string[];
  /** Where they came from, for the report: e.g. "ROOT/valA, ROOT/valB" or "split horse2zebra of ROOT/trainA, ROOT/trainB". */
  origin: string;
}

export interface ImageSetOptions {
  split?: EvalSplit;
  /** For split 'val' without valA/valB folders: a built-in split name or a split file. */
  valSplit?: string;
  onWarning?: (message: string) => void;
}

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

async function folder(root: string, name: string, why: string, onWarning: (m: string) => void): Promise<string[]> {
  const dir = join(root, name);
  if (!isDir(dir)) throw new Error(`${dir}: no such folder (${why})`);
  const files = await listImages(dir, onWarning);
  if (files.length === 0) throw new Error(`${dir}: no images found`);
  return files;
}

/**
 * The A and B images of a split. 'val': ROOT/valA and ROOT/valB when both exist (and no
 * --val-split overrides them), else the images the validation split lists, held out of
 * trainA/trainB; 'test': testA/testB; 'train': trainA/trainB, all of them.
 */
export async function evalImageSets(root: string, options: ImageSetOptions = {}): Promise<EvalImageSets> {
  const abs = resolve(root);
  const onWarning = options.onWarning ?? ((m: string) => console.warn(m));
  if (!isDir(abs)) throw new Error(`${abs}: dataset folder not found`);
  const split = options.split ?? 'val';
  if (split === 'test' || split === 'train') {
    const why = `--split ${split} reads ${split}A/ and ${split}B/`;
    const A = await folder(abs, `${split}A`, why, onWarning);
    const B = await folder(abs, `${split}B`, why, onWarning);
    return { A, B, origin: `${join(abs, `${split}A`)}, ${join(abs, `${split}B`)}` };
  }
  if (split !== 'val') throw new Error(`unknown split '${String(split)}' (expected val, test or train)`);
  if (!options.valSplit && (isDir(join(abs, 'valA')) || isDir(join(abs, 'valB')))) {
    const why = '--split val reads valA/ and valB/ when the dataset has them';
    const A = await folder(abs, 'valA', why, onWarning);
    const B = await folder(abs, 'valB', why, onWarning);
    return { A, B, origin: `${join(abs, 'valA')}, ${join(abs, 'valB')}` };
  }
  if (!options.valSplit) {
    throw new Error(`${abs}: no valA/ and valB/ folders; pass --val-split NAME|FILE (built-in: horse2zebra) or --split test|train`);
  }
  const list = await loadSplit(options.valSplit);
  const why = `--val-split holds its images out of trainA/ and trainB/`;
  const a = applySplit(await folder(abs, 'trainA', why, onWarning), list.valA, 'A');
  const b = applySplit(await folder(abs, 'trainB', why, onWarning), list.valB, 'B');
  return { A: a.val, B: b.val, origin: `split ${list.dataset} of ${join(abs, 'trainA')}, ${join(abs, 'trainB')}` };
}

/** Loads images as 8-bit RGB at size x size through the project's test preprocessing. */
export async function loadEvalImages(paths: readonly string[], size: number, onLoaded?: (done: number) => void): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  for (const path of paths) {
    const img = await loadTestImage(path, size);
    // x/127.5 - 1 and back is exact for 8-bit values: these are the decoded, resized bytes.
    out.push(floatToImage(img.data, img.width, img.height));
    onLoaded?.(out.length);
  }
  return out;
}
