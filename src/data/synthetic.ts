/**
 * A synthetic unpaired dataset that needs no download: domain A holds smooth colour blobs
 * ("horses"), domain B the same kind of scenes covered in dark/light stripes ("zebras"). Small
 * enough to train in minutes on a CPU, different enough that a translation is easy to see and to
 * measure (see `stripeEnergy`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Rng } from '../util/rng.ts';
import { writeImage } from './image-io.ts';
import type { RgbImage } from './pixels.ts';

export interface SyntheticOptions {
  size?: number;
  trainA?: number;
  trainB?: number;
  testA?: number;
  testB?: number;
  seed?: number;
}

function smoothScene(size: number, rng: Rng): Float32Array {
  const img = new Float32Array(size * size * 3);
  const base = [rng.next(), rng.next(), rng.next()];
  const blobs = Array.from({ length: 3 }, () => ({
    x: rng.next() * size,
    y: rng.next() * size,
    r: size * (0.15 + 0.25 * rng.next()),
    c: [rng.next(), rng.next(), rng.next()],
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = (y * size + x) * 3;
      for (let k = 0; k < 3; k++) img[p + k] = base[k]! * 0.6 + 0.2 * (y / size);
      for (const b of blobs) {
        const d2 = ((x - b.x) ** 2 + (y - b.y) ** 2) / (b.r * b.r);
        const w = Math.exp(-d2);
        for (let k = 0; k < 3; k++) img[p + k] = img[p + k]! * (1 - w) + b.c[k]! * w;
      }
    }
  }
  return img;
}

function stripe(img: Float32Array, size: number, rng: Rng): Float32Array {
  const angle = rng.next() * Math.PI;
  const period = size / (4 + rng.next() * 4);
  const phase = rng.next() * Math.PI * 2;
  const [cx, cy] = [Math.cos(angle), Math.sin(angle)];
  const out = new Float32Array(img.length);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const s = Math.sin(((x * cx + y * cy) / period) * 2 * Math.PI + phase) > 0 ? 1 : 0;
      const p = (y * size + x) * 3;
      const lum = (img[p]! + img[p + 1]! + img[p + 2]!) / 3;
      // Zebra-like: stripes of near-black and near-white, modulated slightly by the scene.
      const v = s ? 0.85 + 0.15 * lum : 0.1 * lum;
      for (let k = 0; k < 3; k++) out[p + k] = v;
    }
  }
  return out;
}

function toRgb(img: Float32Array, size: number): RgbImage {
  const data = new Uint8Array(img.length);
  for (let i = 0; i < img.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(img[i]! * 255)));
  return { width: size, height: size, data };
}

/** Writes ROOT/{trainA,trainB,testA,testB} of PNGs; returns ROOT. */
export async function writeSyntheticDataset(root: string, options: SyntheticOptions = {}): Promise<string> {
  const { size = 32, trainA = 24, trainB = 24, testA = 4, testB = 4, seed = 0 } = options;
  const rng = new Rng(seed);
  const splits: [string, number, boolean][] = [
    ['trainA', trainA, false],
    ['trainB', trainB, true],
    ['testA', testA, false],
    ['testB', testB, true],
  ];
  for (const [split, count, striped] of splits) {
    const dir = join(root, split);
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < count; i++) {
      const scene = smoothScene(size, rng);
      const img = striped ? stripe(scene, size, rng) : scene;
      await writeImage(join(dir, `${split}_${String(i).padStart(4, '0')}.png`), toRgb(img, size));
    }
  }
  return root;
}

/**
 * Mean absolute difference between horizontally and vertically adjacent pixels (in [0, 2] units
 * of a [-1, 1] image): high for striped images, low for smooth ones.
 */
export function stripeEnergy(hwc: Float32Array, height: number, width: number): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      for (let k = 0; k < 3; k++) {
        if (x + 1 < width) {
          sum += Math.abs(hwc[p + k]! - hwc[p + 3 + k]!);
          n++;
        }
        if (y + 1 < height) {
          sum += Math.abs(hwc[p + k]! - hwc[p + width * 3 + k]!);
          n++;
        }
      }
    }
  }
  return n === 0 ? 0 : sum / n;
}
