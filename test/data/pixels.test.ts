import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { floatToImage, floatToRgba } from '../../src/data/pixels.ts';

describe('pixel conversion', () => {
  it('floatToRgba maps [-1, 1] to bytes with floatToImage rounding and an opaque alpha', () => {
    // 2×1 image: (-1, 0, 1) and (0.5, -0.5, 0.999); (x + 1) * 127.5 rounded: 0, 128, 255, 191, 64, 255.
    const values = Float32Array.from([-1, 0, 1, 0.5, -0.5, 0.999]);
    assert.deepEqual(Array.from(floatToRgba(values, 2, 1)), [0, 128, 255, 255, 191, 64, 255, 255]);
    assert.deepEqual(Array.from(floatToImage(values, 2, 1).data), [0, 128, 255, 191, 64, 255]);
  });

  it('clamps values outside [-1, 1] and refuses a NaN naming its pixel', () => {
    assert.deepEqual(Array.from(floatToRgba(Float32Array.from([-3, 2, 0]), 1, 1)), [0, 255, 128, 255]);
    assert.throws(() => floatToRgba(Float32Array.from([0, 0, 0, 0, NaN, 0]), 2, 1), /pixel \(0, 1\) is NaN/);
  });
});
