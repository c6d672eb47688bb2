import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import sharp from 'sharp';
import { writePreview } from '../../src/data/preview.ts';
import { makeDataset, tempDir } from './helpers.ts';

test('writePreview writes a 4-row PNG grid, deterministic for a seed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    await makeDataset(join(dir, 'ds'), 3, 4, 40);
    const out = join(dir, 'out', 'preview.png');
    const size = await writePreview(join(dir, 'ds'), out, { n: 2, loadSize: 36, cropSize: 32, seed: 3 });
    const meta = await sharp(out).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, size.width);
    assert.equal(meta.height, 4 * (32 + 4) + 4);
    const first = await sharp(out).raw().toBuffer();
    await writePreview(join(dir, 'ds'), out, { n: 2, loadSize: 36, cropSize: 32, seed: 3, overwrite: true });
    assert.deepEqual(await sharp(out).raw().toBuffer(), first);
  } finally {
    cleanup();
  }
});
