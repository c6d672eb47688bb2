/**
 * Kernel Inception Distance exactly as clean-fid computes it (`kernel_distance` in
 * cleanfid/fid.py), in float64 JavaScript:
 *
 *   k(x, y) = (x·y / d + 1)^3                         (cubic polynomial kernel, d = feature size)
 *   m       = min(n_x, n_y, maxSubsetSize)            (subsets drawn without replacement)
 *   t       = (ΣKxx − tr Kxx + ΣKyy − tr Kyy) / (m − 1) − 2 ΣKxy / m
 *   mmd²    = t / m                                   (the unbiased MMD² of one subset)
 *
 * reported as the mean and the standard deviation (population, as torch-fidelity's kid_std) over
 * the subsets. clean-fid draws its subsets with numpy's global generator; here they come from the
 * project's seeded `Rng`, so a figure is reproducible from its seed.
 *
 * Not tfjs: the sums run over up to a million kernel values whose differences are the signal, and
 * float32 accumulation would bury a small KID in rounding noise.
 */
import { Rng } from '../util/rng.ts';

/** `count` feature vectors of `dim` values each, row-major. */
export interface FeatureSet {
  count: number;
  dim: number;
  data: Float64Array;
}

export interface KidOptions {
  /** Number of subsets (clean-fid: 100). */
  subsets?: number;
  /** Largest subset size (clean-fid: 1000). */
  maxSubsetSize?: number;
  /** Seed of the subset draws. */
  seed?: number;
  /**
   * Kernel matrices up to this many values (all three together) are computed once and the
   * subsets read from them; larger sets compute each subset's kernels afresh (same figures, less
   * memory). Default 32M values (256 MB).
   */
  maxKernelValues?: number;
}

export interface KidResult {
  /** Mean of the per-subset unbiased MMD² (raw, not ×1000). */
  mean: number;
  /** Population standard deviation over the subsets. */
  std: number;
  /** Each subset's MMD², in draw order. */
  values: number[];
  subsetSize: number;
  /**
   * Population standard deviation of the MMD² over as many subsets of half the size (drawn with
   * their own seeded stream), or null below 2 per side. Unlike `std`, which is 0 when the subsets
   * are the whole sets, it says how far another sample could move the figure: an upper estimate of
   * the figure's standard error (on Gaussian features, 1.10–1.68 times the spread of the whole-set
   * figure over independent samples, the most when the sets are alike; test/eval/kid.test.ts).
   */
  halfStd: number | null;
}

export const KID_DEFAULTS = { subsets: 100, maxSubsetSize: 1000, seed: 0 } as const;

export function featureSet(data: Float64Array | number[][], dim?: number): FeatureSet {
  if (Array.isArray(data)) {
    const d = data[0]?.length ?? dim ?? 0;
    const out = new Float64Array(data.length * d);
    data.forEach((row, i) => {
      if (row.length !== d) throw new Error(`featureSet: row ${i} has ${row.length} values, expected ${d}`);
      out.set(row, i * d);
    });
    return { count: data.length, dim: d, data: out };
  }
  if (!dim || data.length % dim !== 0) throw new Error(`featureSet: ${data.length} values are not a whole number of rows of ${dim}`);
  return { count: data.length / dim, dim, data };
}

function checkSet(name: string, s: FeatureSet): void {
  if (!Number.isInteger(s.count) || !Number.isInteger(s.dim) || s.dim < 1 || s.data.length !== s.count * s.dim) {
    throw new Error(`KID: ${name} has ${s.data.length} values for ${s.count} x ${s.dim}`);
  }
  for (let i = 0; i < s.data.length; i++) {
    if (!Number.isFinite(s.data[i]!))
      throw new Error(`KID: ${name} feature ${i % s.dim} of image ${Math.floor(i / s.dim)} is ${s.data[i]}`);
  }
}

/** `m` distinct indices of [0, n) by a partial Fisher–Yates shuffle (numpy's choice(replace=False) semantics). */
export function drawSubset(n: number, m: number, rng: Rng): Int32Array {
  if (m > n) throw new Error(`cannot draw ${m} of ${n} without replacement`);
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = idx[i]!;
    idx[i] = idx[j]!;
    idx[j] = t;
  }
  return idx.slice(0, m);
}

function dot(a: Float64Array, i: number, b: Float64Array, j: number, d: number): number {
  let s = 0;
  const ai = i * d;
  const bj = j * d;
  for (let k = 0; k < d; k++) s += a[ai + k]! * b[bj + k]!;
  return s;
}

/** The full kernel matrix k(a_i, b_j), row-major na x nb. */
function kernelMatrix(a: FeatureSet, b: FeatureSet): Float64Array {
  const d = a.dim;
  const out = new Float64Array(a.count * b.count);
  for (let i = 0; i < a.count; i++) {
    for (let j = 0; j < b.count; j++) out[i * b.count + j] = (dot(a.data, i, b.data, j, d) / d + 1) ** 3;
  }
  return out;
}

/** Sum of a kernel over index pairs, and its diagonal (when both sides are the same set). */
type KernelSum = (ia: Int32Array, ib: Int32Array) => number;

function cachedKernel(a: FeatureSet, b: FeatureSet): KernelSum {
  const k = kernelMatrix(a, b);
  const nb = b.count;
  return (ia, ib) => {
    let s = 0;
    for (let p = 0; p < ia.length; p++) {
      const row = ia[p]! * nb;
      for (let q = 0; q < ib.length; q++) s += k[row + ib[q]!]!;
    }
    return s;
  };
}

function directKernel(a: FeatureSet, b: FeatureSet): KernelSum {
  const d = a.dim;
  return (ia, ib) => {
    let s = 0;
    for (let p = 0; p < ia.length; p++) {
      for (let q = 0; q < ib.length; q++) s += (dot(a.data, ia[p]!, b.data, ib[q]!, d) / d + 1) ** 3;
    }
    return s;
  };
}

function kernelTrace(a: FeatureSet, ia: Int32Array): number {
  let s = 0;
  for (let p = 0; p < ia.length; p++) s += (dot(a.data, ia[p]!, a.data, ia[p]!, a.dim) / a.dim + 1) ** 3;
  return s;
}

/**
 * KID between two feature sets (symmetric in its arguments up to which subsets are drawn). `x`
 * plays clean-fid's `feats2` (its subset is drawn first in each round), `y` its `feats1`.
 */
export function kernelInceptionDistance(x: FeatureSet, y: FeatureSet, options: KidOptions = {}): KidResult {
  const subsets = options.subsets ?? KID_DEFAULTS.subsets;
  const maxSubsetSize = options.maxSubsetSize ?? KID_DEFAULTS.maxSubsetSize;
  if (!Number.isInteger(subsets) || subsets < 1) throw new Error(`KID: subsets must be an integer >= 1, got ${subsets}`);
  if (!Number.isInteger(maxSubsetSize) || maxSubsetSize < 2)
    throw new Error(`KID: maxSubsetSize must be an integer >= 2, got ${maxSubsetSize}`);
  checkSet('the first set', x);
  checkSet('the second set', y);
  if (x.dim !== y.dim) throw new Error(`KID: feature sizes differ (${x.dim} vs ${y.dim})`);
  const m = Math.min(x.count, y.count, maxSubsetSize);
  if (m < 2) throw new Error(`KID needs at least 2 images on each side, got ${x.count} and ${y.count}`);

  const maxValues = options.maxKernelValues ?? 32 * 1024 * 1024;
  const cache = x.count * x.count + y.count * y.count + x.count * y.count <= maxValues;
  const make = cache ? cachedKernel : directKernel;
  const kxx = make(x, x);
  const kyy = make(y, y);
  const kxy = make(x, y);
  const seed = options.seed ?? KID_DEFAULTS.seed;
  const draw = (size: number, rng: Rng): number[] => {
    const out: number[] = [];
    for (let s = 0; s < subsets; s++) {
      const ix = drawSubset(x.count, size, rng);
      const iy = drawSubset(y.count, size, rng);
      const a = kxx(ix, ix) - kernelTrace(x, ix) + kyy(iy, iy) - kernelTrace(y, iy);
      const t = a / (size - 1) - (2 * kxy(ix, iy)) / size;
      out.push(t / size);
    }
    return out;
  };
  const values = draw(m, new Rng(seed));
  const { mean, std } = meanAndStd(values);
  const half = Math.floor(m / 2);
  // A stream of its own, so the figures of the full-size subsets stay what they were.
  const halfStd = half >= 2 ? meanAndStd(draw(half, new Rng(seed).fork())).std : null;
  return { mean, std, values, subsetSize: m, halfStd };
}

function meanAndStd(values: number[]): { mean: number; std: number } {
  const mean = values.reduce((p, v) => p + v, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((p, v) => p + (v - mean) ** 2, 0) / values.length) };
}
