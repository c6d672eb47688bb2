/** Public translation options that used to hang (zero stride) or corrupt (NaN, wrong sizes) now fail fast. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { floatToImage } from '../../src/data/pixels.ts';
import { useBackend } from '../../src/engine/backend.ts';
import type { Pixels } from '../../src/data/pixels.ts';
import { translatePixels, translationPlan, type GeneratorGeometry } from '../../src/infer/translate-core.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { saveTinyGenerator, scratch } from './helpers.ts';

const conv: GeneratorGeometry = { fixedSize: null, multiple: 4 };
const image = (h: number, w: number): Pixels => ({ data: new Float32Array(h * w * 3).fill(0.25), height: h, width: w });
const identity = (x: Pixels) => x.data;

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  await useBackend('cpu');
  work = await scratch();
});
after(() => work.cleanup());

describe('translation options', () => {
  it('refuses a tile side <= 0 instead of looping forever', async () => {
    for (const maxSide of [0, -8, 2.5, Number.NaN]) {
      await assert.rejects(
        translatePixels(identity, image(40, 40), conv, { maxSide }),
        new RegExp(`maxSide .* must be an integer >= 1, got ${maxSide}`),
      );
    }
  });

  it('refuses a negative or fractional overlap instead of leaving NaN pixels', async () => {
    await assert.rejects(
      translatePixels(identity, image(40, 40), conv, { maxSide: 16, overlap: -4 }),
      /overlap .* must be an integer >= 0, got -4/,
    );
    await assert.rejects(translatePixels(identity, image(40, 40), conv, { maxSide: 16, overlap: 1.5 }), /got 1\.5/);
  });

  it('refuses a bad geometry and bad image sizes', async () => {
    await assert.rejects(
      translatePixels(identity, image(8, 8), { fixedSize: null, multiple: 0 }),
      /generator size multiple must be an integer >= 1, got 0/,
    );
    await assert.rejects(
      translatePixels(identity, image(8, 8), { fixedSize: -32, multiple: 4 }),
      /generator input size must be an integer >= 1, got -32/,
    );
    await assert.rejects(
      translatePixels(identity, { data: new Float32Array(0), height: 0, width: 0 }, conv),
      /image height must be an integer >= 1, got 0/,
    );
  });

  it('a valid tiled run still blends to the exact image (every pixel weighted)', async () => {
    const out = await translatePixels(identity, image(37, 53), conv, { maxSide: 16, overlap: 8 });
    assert.ok(out.data.every((v) => Math.abs(v - 0.25) < 1e-6));
  });

  it('an output of the wrong size is an error, whole or tiled', async () => {
    const short = (x: Pixels) => x.data.subarray(0, x.data.length - 3);
    await assert.rejects(translatePixels(short, image(8, 8), conv), /returned 189 values for a 8x8 input, expected 8x8x3 = 192/);
    await assert.rejects(
      translatePixels(short, image(40, 40), conv, { maxSide: 16, modelName: 'm.json' }),
      /^Error: m\.json returned 765 values for a 16x16 input/,
    );
    const plan = translationPlan(image(8, 8), conv);
    plan.next();
    assert.throws(() => plan.next(new Float32Array(5)), /returned 5 values/);
  });

  it('a NaN or Inf from the network is an error naming the model, not black pixels', async () => {
    const poisoned = (x: Pixels) => {
      const out = Float32Array.from(x.data);
      out[7] = Number.NaN;
      return out;
    };
    await assert.rejects(
      translatePixels(poisoned, image(8, 8), conv, { modelName: 'G_AtoB/model.json' }),
      /G_AtoB\/model\.json produced NaN at pixel \(0, 2\)/,
    );
    const inf = (x: Pixels) => Float32Array.from(x.data, (v, i) => (i === 0 ? Infinity : v));
    await assert.rejects(translatePixels(inf, image(40, 40), conv, { maxSide: 16 }), /the generator produced Infinity/);
  });

  it('floatToImage refuses NaN and mismatched sizes', () => {
    assert.throws(() => floatToImage(new Float32Array([0, Number.NaN, 0]), 1, 1), /pixel \(0, 0\) is NaN/);
    assert.throws(() => floatToImage(new Float32Array(3), 2, 1), /got 3 values for 2x1x3 = 6/);
    assert.throws(() => floatToImage(new Float32Array(0), 0, 0), /positive integer width and height, got 0x0/);
    assert.deepEqual(Array.from(floatToImage(new Float32Array([-1, 0, 1]), 1, 1).data), [0, 128, 255]);
  });

  it('a translator whose weights are NaN fails naming its model file', async () => {
    const dir = await saveTinyGenerator(join(work.dir, 'nan-model'), Number.NaN);
    const translator = await loadTranslator(dir);
    try {
      await assert.rejects(translator.translate({ width: 8, height: 8, data: new Uint8Array(192).fill(100) }), (e: Error) => {
        assert.match(e.message, /nan-model\/model\.json produced NaN at pixel \(0, 0\)/);
        return true;
      });
    } finally {
      translator.dispose();
    }
  });
});
