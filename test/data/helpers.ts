/** Shared helpers for the data tests: temp folders and small synthetic images made with sharp. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { Rng } from '../../src/util/rng.ts';

export function tempDir(prefix = 'cyclegan-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Seeded RGB noise, HWC. */
export function noise(width: number, height: number, seed: number): Buffer {
  const rng = new Rng(seed);
  const buf = Buffer.alloc(width * height * 3);
  for (let i = 0; i < buf.length; i++) buf[i] = rng.int(256);
  return buf;
}

/** Writes a seeded noise image; the format follows the extension. */
export async function makeImage(path: string, width: number, height: number, seed = 1): Promise<void> {
  const s = sharp(noise(width, height, seed), { raw: { width, height, channels: 3 } });
  if (/\.jpe?g$/i.test(path)) await s.jpeg({ quality: 95 }).toFile(path);
  else await s.toFile(path);
}

/** Makes ROOT/trainA (nA images) and ROOT/trainB (nB images) of seeded noise PNGs. */
export async function makeDataset(root: string, nA: number, nB: number, size = 40): Promise<void> {
  const { mkdirSync } = await import('node:fs');
  for (const [split, n, off] of [
    ['trainA', nA, 1000],
    ['trainB', nB, 2000],
  ] as const) {
    mkdirSync(join(root, split), { recursive: true });
    await Promise.all(
      Array.from({ length: n }, (_, i) => makeImage(join(root, split, `img_${String(i).padStart(3, '0')}.png`), size, size, off + i)),
    );
  }
}
