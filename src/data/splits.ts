/**
 * Validation splits: a fixed list of file names held out of `trainA`/`trainB`, so every model of
 * a dataset is measured on the same images and none of them is ever trained on. Built-in splits
 * live in `src/data/splits/NAME.json`; a user may pass a JSON file of the same shape instead.
 *
 *   { "dataset": "horse2zebra", "seed": 2026, "valA": ["n02381460_1009.jpg", ...], "valB": [...] }
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../util/rng.ts';
import type { Dataset } from './dataset.ts';

export interface ValidationSplit {
  dataset: string;
  /** The seed the lists were drawn with (see `drawSplit`). */
  seed: number;
  valA: string[];
  valB: string[];
}

const SPLITS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'splits');

/** Names of the splits shipped with the package. */
export const BUILTIN_SPLITS: readonly string[] = ['horse2zebra'];

/**
 * Draws `count` names of each domain with a seeded shuffle of the sorted listings. This is how
 * the built-in lists were made (scripts/make-val-split.ts); they are committed so that a change
 * here can never move images between training and validation.
 */
export function drawSplit(dataset: string, namesA: string[], namesB: string[], count: number, seed: number): ValidationSplit {
  const rng = new Rng(seed);
  const pick = (names: string[]) => {
    if (count > names.length) throw new Error(`a split of ${count} images needs at least that many, found ${names.length}`);
    return rng
      .shuffle([...names].sort())
      .slice(0, count)
      .sort();
  };
  return { dataset, seed, valA: pick(namesA), valB: pick(namesB) };
}

/** Loads a built-in split by name or a split file by path; one clear line on error. */
export async function loadSplit(nameOrFile: string): Promise<ValidationSplit> {
  const file = BUILTIN_SPLITS.includes(nameOrFile) ? join(SPLITS_DIR, `${nameOrFile}.json`) : nameOrFile;
  if (!existsSync(file)) {
    throw new Error(`validation split '${nameOrFile}': no such file (built-in splits: ${BUILTIN_SPLITS.join(', ')})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`${file}: not a JSON validation split (${(error as Error).message})`, { cause: error });
  }
  const split = parsed as Partial<ValidationSplit>;
  for (const key of ['valA', 'valB'] as const) {
    const list = split[key];
    if (!Array.isArray(list) || list.length === 0 || !list.every((n) => typeof n === 'string' && n === basename(n))) {
      throw new Error(`${file}: '${key}' must be a non-empty list of file names`);
    }
  }
  return { dataset: String(split.dataset ?? basename(file, '.json')), seed: Number(split.seed ?? 0), valA: split.valA!, valB: split.valB! };
}

/**
 * Splits a domain's files into training and validation by the list. Every listed name must be
 * present: a split that silently matched nothing would validate on nothing and train on all.
 */
export function applySplit(files: string[], heldOut: string[], label: string): { train: string[]; val: string[] } {
  const wanted = new Set(heldOut);
  const val = files.filter((f) => wanted.has(basename(f)));
  if (val.length !== wanted.size) {
    const found = new Set(val.map((f) => basename(f)));
    const missing = heldOut.filter((n) => !found.has(n));
    throw new Error(
      `validation split: ${missing.length} of the ${wanted.size} ${label} images are not in the dataset (first: ${missing[0]}); is this the dataset the split was made for?`,
    );
  }
  return { train: files.filter((f) => !wanted.has(basename(f))), val };
}

/** The images a run trains and validates on. */
export interface TrainValSets {
  trainA: string[];
  trainB: string[];
  /** Empty when the dataset has no validation images. */
  valA: string[];
  valB: string[];
}

/**
 * Training and validation images of a dataset: with a split, its listed names are taken out of
 * trainA/trainB; without one, valA/valB folders are the validation images when present.
 */
export function splitDataset(dataset: Dataset, split: ValidationSplit | null): TrainValSets {
  if (split) {
    const a = applySplit(dataset.trainA, split.valA, 'A');
    const b = applySplit(dataset.trainB, split.valB, 'B');
    if (a.train.length === 0 || b.train.length === 0) throw new Error(`validation split '${split.dataset}' leaves no training images`);
    return { trainA: a.train, trainB: b.train, valA: a.val, valB: b.val };
  }
  return { trainA: dataset.trainA, trainB: dataset.trainB, valA: dataset.valA ?? [], valB: dataset.valB ?? [] };
}
