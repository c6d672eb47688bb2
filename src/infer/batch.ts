/** Translating many files: input expansion (files, folders, globs), per-file errors that do not stop the rest. */
import { existsSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { isImageFile, listImages } from '../data/dataset.ts';
import { readImage, writeImage } from '../data/image-io.ts';
import { ensureDir } from '../util/atomic.ts';
import type { Translator } from './translator.ts';

/** Expands files, folders (their images) and glob patterns into a sorted, de-duplicated file list. */
export async function expandInputs(inputs: string[], onWarning: (m: string) => void = console.warn): Promise<string[]> {
  const files = new Set<string>();
  for (const input of inputs) {
    if (existsSync(input)) {
      if (statSync(input).isDirectory()) {
        const found = await listImages(input, onWarning);
        if (found.length === 0) throw new Error(`${input}: folder has no images`);
        found.forEach((f) => files.add(resolve(f)));
      } else files.add(resolve(input));
      continue;
    }
    if (/[*?[{]/.test(input)) {
      const matches = (await glob(input, { absolute: true, onlyFiles: true })).filter(isImageFile);
      if (matches.length === 0) throw new Error(`${input}: pattern matches no images`);
      matches.forEach((f) => files.add(f));
      continue;
    }
    throw new Error(`${input}: no such file or folder`);
  }
  return [...files].sort();
}

export interface BatchResult {
  written: { input: string; output: string }[];
  failed: { input: string; error: string }[];
  /** Inputs not translated because their output already exists (without `overwrite`), or because they are this batch's own earlier outputs. */
  skipped: { input: string; output: string; reason: string }[];
}

export interface BatchOptions {
  format?: 'png' | 'jpg';
  /** Replace outputs that already exist (default false: they are skipped). Inputs are never replaced. */
  overwrite?: boolean;
  /** Largest accepted width*height of an input (see readImage). */
  maxPixels?: number;
  onProgress?: (done: number, file: string) => void;
}

/** Output name for an input: same base name, the requested or the input's format (PNG for other formats). */
export function outputName(input: string, format?: 'png' | 'jpg', suffix = ''): string {
  const ext = extname(input).toLowerCase();
  const keep = ext === '.jpg' || ext === '.jpeg' || ext === '.png' ? ext : '.png';
  return `${basename(input, extname(input))}${suffix}${format ? `.${format}` : keep}`;
}

/** Identity of an existing file (device and inode), so hard links and symlinks to an input count as that input. */
function fileKey(path: string): string | null {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return null;
  }
}

interface PlannedOutput {
  input: string;
  output: string;
  skip?: string;
}

/**
 * Where each input goes. An output never lands on an input: when the plain name would (writing
 * into the input folder), the direction is added (`photo.AtoB.jpg`). Inputs that are themselves
 * such outputs of another input of this batch (a rerun into the input folder) are not translated
 * again. Existing outputs are kept unless `overwrite`.
 */
export function planOutputs(
  files: string[],
  outDir: string,
  direction: string,
  options: Pick<BatchOptions, 'format' | 'overwrite'> = {},
): PlannedOutput[] {
  const outReal = existsSync(outDir) ? realpathSync(outDir) : resolve(outDir);
  const inOutDir = (f: string) => realpathSync(dirname(f)) === outReal;
  const stemsInOutDir = new Set(files.filter(inOutDir).map((f) => basename(f, extname(f))));
  const ownOutput = new RegExp(`^(.*)\\.${direction}$`);
  const sourceOf = (f: string): string | undefined => {
    const source = ownOutput.exec(basename(f, extname(f)))?.[1];
    return source !== undefined && inOutDir(f) && stemsInOutDir.has(source) ? source : undefined;
  };
  // Earlier outputs listed among the inputs (a rerun into the input folder) count as outputs.
  const inputs = files.filter((f) => sourceOf(f) === undefined);
  const inputKeys = new Set(inputs.map(fileKey).filter((k): k is string => k !== null));
  const inputPaths = new Set(inputs.map((f) => resolve(f)));
  const isInput = (path: string) => inputPaths.has(resolve(path)) || inputKeys.has(fileKey(path) ?? '');
  const used = new Set<string>();
  return files.map((input) => {
    const source = sourceOf(input);
    if (source !== undefined)
      return { input, output: input, skip: `the ${direction} output of ${source} from an earlier run, not translated again` };
    let name = outputName(input, options.format);
    if (isInput(join(outDir, name))) name = outputName(input, options.format, `.${direction}`);
    const base = name;
    for (let k = 2; used.has(name) || isInput(join(outDir, name)); k++) name = base.replace(/(\.\w+)$/, `-${k}$1`);
    used.add(name);
    const output = join(outDir, name);
    if (!options.overwrite && existsSync(output)) {
      const what = statSync(output).isDirectory() ? 'a folder of that name exists' : 'exists (--overwrite replaces it)';
      return { input, output, skip: `${output} ${what}` };
    }
    return { input, output };
  });
}

export async function translateFiles(
  translator: Translator,
  files: string[],
  outDir: string,
  options: BatchOptions = {},
): Promise<BatchResult> {
  await ensureDir(outDir);
  const result: BatchResult = { written: [], failed: [], skipped: [] };
  const plan = planOutputs(files, outDir, translator.direction, options);
  for (const [i, { input, output, skip }] of plan.entries()) {
    if (skip) result.skipped.push({ input, output, reason: skip });
    else {
      try {
        const image = await readImage(input, { maxPixels: options.maxPixels });
        const translated = await translator.translate(image);
        await writeImage(output, translated);
        result.written.push({ input, output });
      } catch (error) {
        result.failed.push({ input, error: (error as Error).message.split('\n')[0]! });
      }
    }
    options.onProgress?.(i + 1, input);
  }
  return result;
}
