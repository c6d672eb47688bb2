/**
 * Export from an export: the embedded model (a float16 export folder) written again as float32
 * and as uint8 keeps its weights (float16 values are exact in float32), its manifest and where it
 * came from; writing an export over itself and exporting a bare model.json are refused by name.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { loadLayersModel } from '../../src/models/io.ts';

const EMBEDDED = new URL('../../assets/models/horse2zebra', import.meta.url).pathname;

let work: string;
before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-reexport-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('export from an export folder', () => {
  it('writes the embedded model again, weights and manifest kept', async () => {
    const out = join(work, 'float32');
    const manifest = await exportTfjs(EMBEDDED, out);
    const original = JSON.parse(await readFile(join(EMBEDDED, 'cyclegan.json'), 'utf8'));
    assert.deepEqual(Object.keys(manifest.directions), Object.keys(original.directions));
    assert.equal(manifest.generator, original.generator);
    assert.equal(manifest.size, original.size);
    assert.equal(manifest.quantization, undefined);
    assert.deepEqual((manifest.source as { export: string }).export, EMBEDDED);
    for (const d of Object.keys(original.directions)) {
      const [a, b] = [await loadLayersModel(join(EMBEDDED, d)), await loadLayersModel(join(out, d))];
      try {
        const wa = a.getWeights().map((w) => w.dataSync());
        b.getWeights().forEach((w, i) => assert.deepEqual(w.dataSync(), wa[i], `${d} weight ${i}`));
      } finally {
        a.dispose();
        b.dispose();
      }
    }
    const uint8 = await exportTfjs(out, join(work, 'uint8'), undefined, { quantize: 'uint8' });
    assert.equal(uint8.quantization, 'uint8');
  });

  it('refuses to write an export over itself, and a bare model.json', async () => {
    const out = join(work, 'float32');
    await assert.rejects(exportTfjs(out, out), /is the export being read/);
    await assert.rejects(exportTfjs(join(out, 'AtoB', 'model.json'), join(work, 'x')), /a bare model\.json says nothing of its directions/);
  });
});
