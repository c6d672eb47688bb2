import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drawSubset, featureSet, kernelInceptionDistance, type FeatureSet } from '../../src/eval/kid.ts';
import { Rng } from '../../src/util/rng.ts';

/** Seeded Gaussian features (Box–Muller), shifted by `shift` in every coordinate. */
function gaussian(count: number, dim: number, seed: number, shift = 0): FeatureSet {
  const rng = new Rng(seed);
  const data = new Float64Array(count * dim);
  for (let i = 0; i < data.length; i++) {
    const u = 1 - rng.next();
    data[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next()) + shift;
  }
  return { count, dim, data };
}

/** The unbiased MMD² of the subsets ix of x and iy of y, by a plain double loop (clean-fid's formula). */
function mmdOf(x: FeatureSet, y: FeatureSet, ix: ArrayLike<number>, iy: ArrayLike<number>): number {
  const k = (a: FeatureSet, i: number, b: FeatureSet, j: number) => {
    let dot = 0;
    for (let t = 0; t < a.dim; t++) dot += a.data[i * a.dim + t]! * b.data[j * b.dim + t]!;
    return (dot / a.dim + 1) ** 3;
  };
  const m = ix.length;
  let xx = 0;
  let yy = 0;
  let xy = 0;
  for (let p = 0; p < m; p++) {
    for (let q = 0; q < m; q++) {
      if (p !== q) {
        xx += k(x, ix[p]!, x, ix[q]!);
        yy += k(y, iy[p]!, y, iy[q]!);
      }
      xy += k(x, ix[p]!, y, iy[q]!);
    }
  }
  return ((xx + yy) / (m - 1) - (2 * xy) / m) / m;
}

describe('KID (clean-fid kernel_distance)', () => {
  it('equals the value numpy gives on 4 vs 4 vectors of dimension 3', () => {
    const x = featureSet([
      [0.5, 1.0, 0.25],
      [1.5, 0.0, 0.75],
      [0.0, 2.0, 0.5],
      [0.25, 0.5, 1.0],
    ]);
    const y = featureSet([
      [2.0, 1.0, 1.0],
      [2.5, 1.5, 0.5],
      [1.0, 2.5, 2.0],
      [1.25, 0.75, 3.0],
    ]);
    // python3: a=(x@x.T/n+1)**3+(y@y.T/n+1)**3; b=(x@y.T/n+1)**3
    //          t=(a.sum()-np.diag(a).sum())/(m-1)-b.sum()*2/m; print(t/m)
    const expected = 21.61412933726369;
    for (const maxKernelValues of [undefined, 0]) {
      const r = kernelInceptionDistance(x, y, { subsets: 3, maxKernelValues });
      assert.equal(r.subsetSize, 4);
      assert.equal(r.values.length, 3);
      // Every subset is the whole set (in some order), so every value is the same number.
      for (const v of r.values) assert.ok(Math.abs(v - expected) < 1e-12, `${v} vs ${expected}`);
      assert.ok(r.std < 1e-12);
    }
  });

  it('matches a plain double loop on drawn subsets, with cached and direct kernels', () => {
    const x = gaussian(30, 5, 1);
    const y = gaussian(25, 5, 2, 0.3);
    const m = 10;
    const cached = kernelInceptionDistance(x, y, { subsets: 4, maxSubsetSize: m, seed: 9 });
    const direct = kernelInceptionDistance(x, y, { subsets: 4, maxSubsetSize: m, seed: 9, maxKernelValues: 0 });
    const rng = new Rng(9);
    const k = (a: FeatureSet, i: number, b: FeatureSet, j: number) => {
      let s = 0;
      for (let c = 0; c < a.dim; c++) s += a.data[i * a.dim + c]! * b.data[j * b.dim + c]!;
      return (s / a.dim + 1) ** 3;
    };
    for (let s = 0; s < 4; s++) {
      const ix = Array.from(drawSubset(x.count, m, rng));
      const iy = Array.from(drawSubset(y.count, m, rng));
      let xx = 0;
      let yy = 0;
      let xy = 0;
      for (const i of ix) for (const j of ix) if (i !== j) xx += k(x, i, x, j);
      for (const i of iy) for (const j of iy) if (i !== j) yy += k(y, i, y, j);
      for (const i of ix) for (const j of iy) xy += k(x, i, y, j);
      const expected = xx / (m * (m - 1)) + yy / (m * (m - 1)) - (2 * xy) / (m * m);
      assert.ok(Math.abs(cached.values[s]! - expected) < 1e-9, `subset ${s}: ${cached.values[s]} vs ${expected}`);
      assert.ok(Math.abs(direct.values[s]! - expected) < 1e-9);
    }
  });

  it('is about 0 against itself and for two samples of one distribution, clearly positive for a shifted one', () => {
    const a = gaussian(200, 16, 1);
    const b = gaussian(200, 16, 2);
    const shifted = gaussian(200, 16, 3, 0.5);
    const self = kernelInceptionDistance(a, a, { subsets: 5 });
    const same = kernelInceptionDistance(a, b, { subsets: 5 });
    const far = kernelInceptionDistance(a, shifted, { subsets: 5 });
    assert.ok(far.mean > 0.5, `shifted: ${far.mean}`);
    assert.ok(Math.abs(same.mean) < far.mean / 100, `same distribution: ${same.mean} vs shifted ${far.mean}`);
    assert.ok(Math.abs(self.mean) < far.mean / 10, `against itself: ${self.mean} vs shifted ${far.mean}`);
    // A set against itself, whole: the estimator reduces to 2 (mean off-diagonal k - mean diagonal k) / n,
    // which goes to 0 as n grows.
    let diag = 0;
    let off = 0;
    const k = (i: number, j: number) => {
      let t = 0;
      for (let c = 0; c < a.dim; c++) t += a.data[i * a.dim + c]! * a.data[j * a.dim + c]!;
      return (t / a.dim + 1) ** 3;
    };
    for (let i = 0; i < a.count; i++) {
      for (let j = 0; j < a.count; j++) {
        if (i === j) diag += k(i, j);
        else off += k(i, j);
      }
    }
    const n = a.count;
    const closed = (2 * (off / (n * (n - 1)) - diag / n)) / n;
    assert.ok(Math.abs(self.mean - closed) < 1e-9, `${self.mean} vs ${closed}`);
  });

  it('spreads over subsets smaller than the sets', () => {
    const r = kernelInceptionDistance(gaussian(100, 8, 1), gaussian(100, 8, 2, 0.3), { subsets: 20, maxSubsetSize: 30 });
    assert.equal(r.subsetSize, 30);
    assert.ok(r.std > 0);
    const mean = r.values.reduce((p, v) => p + v, 0) / r.values.length;
    assert.ok(Math.abs(r.mean - mean) < 1e-15);
    assert.ok(Math.abs(r.std - Math.sqrt(r.values.reduce((p, v) => p + (v - mean) ** 2, 0) / r.values.length)) < 1e-15);
  });

  it('draws the same subsets for the same seed and others for another', () => {
    const x = gaussian(60, 4, 5);
    const y = gaussian(60, 4, 6, 0.2);
    const opts = { subsets: 10, maxSubsetSize: 20 };
    const a = kernelInceptionDistance(x, y, { ...opts, seed: 1 });
    const b = kernelInceptionDistance(x, y, { ...opts, seed: 1 });
    const c = kernelInceptionDistance(x, y, { ...opts, seed: 2 });
    assert.deepEqual(a.values, b.values);
    assert.notDeepEqual(a.values, c.values);
    assert.equal(a.subsetSize, 20);
  });

  it('draws distinct indices', () => {
    const rng = new Rng(3);
    for (let t = 0; t < 50; t++) {
      const s = drawSubset(12, 7, rng);
      assert.equal(new Set(s).size, 7);
      assert.ok(s.every((i) => i >= 0 && i < 12));
    }
    assert.throws(() => drawSubset(3, 4, rng), /cannot draw 4 of 3/);
  });

  it('refuses mismatched, too small or non-finite sets with a clear message', () => {
    const x = gaussian(5, 3, 1);
    assert.throws(() => kernelInceptionDistance(x, gaussian(5, 4, 1)), /feature sizes differ \(3 vs 4\)/);
    assert.throws(() => kernelInceptionDistance(x, gaussian(1, 3, 1)), /at least 2 images on each side, got 5 and 1/);
    const bad = gaussian(5, 3, 2);
    bad.data[7] = NaN;
    assert.throws(() => kernelInceptionDistance(x, bad), /feature 1 of image 2 is NaN/);
    assert.throws(() => kernelInceptionDistance(x, x, { subsets: 0 }), /subsets must be an integer >= 1/);
  });

  it('halfStd is the spread over half-size subsets: what full-size ones give at that size, with their own draws', () => {
    const x = gaussian(40, 4, 11);
    const y = gaussian(40, 4, 12, 0.3);
    const whole = kernelInceptionDistance(x, y, { subsets: 30, seed: 5 });
    assert.equal(whole.subsetSize, 40);
    assert.ok(whole.std < 1e-12, 'full-size subsets of 40 of 40 are the whole sets: no spread');
    // The same spread, computed as a KID of subset size 20 with the stream halfStd draws from.
    const forked = new Rng(5).fork();
    const values: number[] = [];
    for (let s = 0; s < 30; s++) {
      const ix = drawSubset(40, 20, forked);
      const iy = drawSubset(40, 20, forked);
      values.push(mmdOf(x, y, ix, iy));
    }
    const mean = values.reduce((p, v) => p + v, 0) / values.length;
    const std = Math.sqrt(values.reduce((p, v) => p + (v - mean) ** 2, 0) / values.length);
    assert.ok(Math.abs(whole.halfStd! - std) < 1e-12 * Math.max(1, std), `${whole.halfStd} vs ${std}`);
    assert.ok(whole.halfStd! > 0);
    assert.equal(kernelInceptionDistance(gaussian(3, 4, 1), gaussian(3, 4, 2)).halfStd, null, 'no half of 3 has 2 images');
  });

  it('halfStd bounds the spread of the whole-set figure over independent samples', (t) => {
    // 60 independent pairs of samples of 40: the whole-set KID varies by sd; each pair's halfStd
    // estimates it from that pair alone. The ratios are printed (docs/evaluation.md quotes them).
    for (const shift of [0.4, 0]) {
      const figures: number[] = [];
      const halves: number[] = [];
      for (let r = 0; r < 60; r++) {
        const result = kernelInceptionDistance(gaussian(40, 8, 100 + 2 * r), gaussian(40, 8, 101 + 2 * r, shift), { subsets: 40, seed: r });
        figures.push(result.mean);
        halves.push(result.halfStd!);
      }
      const mean = figures.reduce((p, v) => p + v, 0) / figures.length;
      const sd = Math.sqrt(figures.reduce((p, v) => p + (v - mean) ** 2, 0) / figures.length);
      const estimate = halves.reduce((p, v) => p + v, 0) / halves.length;
      const ratio = `halfStd / sd = ${(estimate / sd).toFixed(2)} (shift ${shift})`;
      t.diagnostic(ratio);
      console.log(`kid: ${ratio}`);
      assert.ok(
        estimate >= 0.9 * sd && estimate <= 2.5 * sd,
        `shift ${shift}: halfStd ${estimate.toExponential(2)} against sd ${sd.toExponential(2)}`,
      );
    }
  });
});
