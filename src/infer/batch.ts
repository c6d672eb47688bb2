/** Translating many files: input expansion (files, folders, globs), per-file errors that do not stop the rest. */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { glob } from 'tinyglobby';
import { isImageFile, listImages } from '../data/dataset.ts';
import { readImage, writeImage } from '../data/image-io.ts';
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
}

/** Output name for an input: same base name, the requested or the input's format (PNG for other formats). */
export function outputName(input: string, format?: 'png' | 'jpg'): string {
  const ext = extname(input).toLowerCase();
  const keep = ext === '.jpg' || ext === '.jpeg' || ext === '.png' ? ext : '.png';
  return `${basename(input, extname(input))}${format ? `.${format}` : keep}`;
}

export async function translateFiles(
  translator: Translator,
  files: string[],
  outDir: string,
  options: { format?: 'png' | 'jpg'; onProgress?: (done: number, file: string) => void } = {},
): Promise<BatchResult> {
  await mkdir(outDir, { recursive: true });
  const result: BatchResult = { written: [], failed: [] };
  const used = new Set<string>();
  for (const [i, file] of files.entries()) {
    try {
      let name = outputName(file, options.format);
      for (let k = 2; used.has(name); k++) name = outputName(file, options.format).replace(/(\.\w+)$/, `-${k}$1`);
      used.add(name);
      const image = await readImage(file);
      const translated = await translator.translate(image);
      const output = join(outDir, name);
      await writeImage(output, translated);
      result.written.push({ input: file, output });
    } catch (error) {
      result.failed.push({ input: file, error: (error as Error).message.split('\n')[0]! });
    }
    options.onProgress?.(i + 1, file);
  }
  return result;
}
