import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDataset } from '../../src/data/dataset.ts';
import { Rng } from '../../src/util/rng.ts';
import {
  UnpairedPipeline,
  bufferedShuffle,
  cropFlipScale,
  loadTestImage,
  type PipelineOptions,
  type PipelinePair,
  type PipelineState,
} from '../../src/data/pipeline.ts';
import { makeDataset, makeImage, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
let files: { a: string[]; b: string[] };
before(async () => {
  ({ dir, cleanup } = tempDir());
  await makeDataset(join(dir, 'ds'), 5, 7, 40);
  const ds = await openDataset(join(dir, 'ds'));
  files = { a: ds.trainA, b: ds.trainB };
});
after(() => cleanup());

const small: PipelineOptions = { loadSize: 36, cropSize: 32, seed: 7 };

async function take(p: UnpairedPipeline, n: number): Promise<PipelinePair[]> {
  const out: PipelinePair[] = [];
  for (let i = 0; i < n; i++) out.push(await p.next());
  return out;
}

function key(p: PipelinePair): string {
  // Content fingerprint: file names plus a checksum of the pixels.
  let h = 0;
  for (const arr of [p.a, p.b]) for (let i = 0; i < arr.length; i += 7) h = (Math.imul(h, 31) + Math.round((arr[i]! + 1) * 1000)) | 0;
  return `${p.epoch}:${p.index}:${p.fileA}|${p.fileB}|${h}`;
}

test('shapes and [-1, 1] range', async () => {
  const p = new UnpairedPipeline(files, small);
  const pair = await p.next();
  assert.equal(pair.size, 32);
  assert.equal(pair.a.length, 32 * 32 * 3);
  assert.equal(pair.b.length, 32 * 32 * 3);
  assert.ok(pair.a instanceof Float32Array);
  let min = Infinity;
  let max = -Infinity;
  for (const v of [...pair.a, ...pair.b]) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.ok(min >= -1 && max <= 1 && min < -0.9 && max > 0.9, `range ${min}..${max}`);
  p.close();
});

test('deterministic for a seed, independent of prefetch depth; other seeds differ', async () => {
  const n = 12; // crosses epoch boundaries (5 pairs per epoch)
  const runs = await Promise.all([0, 1, 4, 9].map((prefetch) => take(new UnpairedPipeline(files, { ...small, prefetch }), n)));
  const ref = runs[0]!.map(key);
  for (const r of runs.slice(1)) assert.deepEqual(r.map(key), ref);
  for (let i = 0; i < n; i++) assert.deepEqual(runs[3]![i]!.a, runs[0]![i]!.a);
  const other = await take(new UnpairedPipeline(files, { ...small, seed: 8 }), n);
  assert.notDeepEqual(other.map(key), ref);
});

test('resume from getState() continues with exactly the same pairs (JSON round-trip)', async () => {
  const total = 17;
  const full = (await take(new UnpairedPipeline(files, { ...small, prefetch: 3 }), total)).map(key);
  for (const cut of [0, 3, 5, 9, 10, 16]) {
    const p = new UnpairedPipeline(files, { ...small, prefetch: 3 });
    const first = await take(p, cut);
    const state = JSON.parse(JSON.stringify(p.getState())) as PipelineState;
    p.close();
    const q = new UnpairedPipeline(files, { ...small, prefetch: 2, seed: 999 /* ignored */, state });
    const rest = await take(q, total - cut);
    q.close();
    assert.deepEqual([...first, ...rest].map(key), full, `cut at ${cut}`);
  }
});

test('resume refuses a different dataset or sampling settings', async () => {
  const p = new UnpairedPipeline(files, small);
  await p.next();
  const state = p.getState();
  assert.throws(() => new UnpairedPipeline({ a: files.a.slice(1), b: files.b }, { ...small, state }), /cannot resume.*4 \/ 7/);
  assert.throws(() => new UnpairedPipeline(files, { ...small, epochLength: 'max', state }), /epochLength/);
});

test("epoch length 'min' and 'max'; every epoch visits each image of the longer domain once in 'max'", async () => {
  const pmin = new UnpairedPipeline(files, small);
  assert.equal(pmin.stepsPerEpoch, 5);
  const e0 = await take(pmin, 5);
  assert.deepEqual(new Set(e0.map((x) => x.fileA)).size, 5); // each A once
  assert.equal(new Set(e0.map((x) => x.fileB)).size, 5); // 5 distinct Bs out of 7
  assert.deepEqual(
    e0.map((x) => x.index),
    [0, 1, 2, 3, 4],
  );
  assert.equal((await pmin.next()).epoch, 1);
  pmin.close();

  const pmax = new UnpairedPipeline(files, { ...small, epochLength: 'max', prefetch: 2 });
  assert.equal(pmax.stepsPerEpoch, 7);
  const m0 = await take(pmax, 7);
  assert.deepEqual([...new Set(m0.map((x) => x.fileB))].sort(), [...files.b].sort());
  const countsA = new Map<string, number>();
  for (const x of m0) countsA.set(x.fileA, (countsA.get(x.fileA) ?? 0) + 1);
  assert.equal(countsA.size, 5); // the shorter domain cycles: all 5, two of them twice
  assert.deepEqual([...countsA.values()].sort(), [1, 1, 1, 2, 2]);
  assert.equal((await pmax.next()).epoch, 1);
  pmax.close();
});

test('orders are reshuffled each epoch, A and B independently', async () => {
  const p = new UnpairedPipeline(files, { ...small, epochLength: 'min' });
  const pairs = await take(p, 15);
  const epochs = [0, 1, 2].map((e) =>
    pairs
      .filter((x) => x.epoch === e)
      .map((x) => x.fileA)
      .join(),
  );
  assert.ok(new Set(epochs).size > 1, 'A order changes between epochs');
  p.close();
});

test('crop and flip on uint8 RGB', () => {
  // 3x2 image, pixel value = 10*x + y, same in all channels.
  const data = new Uint8Array(3 * 2 * 3);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) data.fill(10 * x + y, (y * 3 + x) * 3, (y * 3 + x) * 3 + 3);
  const img = { width: 3, height: 2, data };
  const back = (f: Float32Array) => [...f].filter((_, i) => i % 3 === 0).map((v) => Math.round((v + 1) * 127.5));
  assert.deepEqual(back(cropFlipScale(img, 1, 0, 2, false)), [10, 20, 11, 21]);
  assert.deepEqual(back(cropFlipScale(img, 1, 0, 2, true)), [20, 10, 21, 11]);
  assert.throws(() => cropFlipScale(img, 2, 0, 2, false), /outside/);
});

test('bufferedShuffle is a permutation; buffer 1 keeps the order', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const s = bufferedShuffle(items, 10, new Rng(1));
  assert.deepEqual(
    [...s].sort((a, b) => a - b),
    items,
  );
  assert.notDeepEqual(s, items);
  assert.deepEqual(bufferedShuffle(items, 1, new Rng(1)), items);
  const p = new UnpairedPipeline(files, { ...small, shuffleBuffer: 2 });
  assert.equal(p.getState().shuffleBuffer, 2);
});

test('bicubic resize works; no flip + loadSize = cropSize = image size gives the image itself; loadTestImage', async () => {
  const p = new UnpairedPipeline(files, { ...small, resize: 'bicubic' });
  assert.equal((await p.next()).a.length, 32 * 32 * 3);
  p.close();
  const { readImage } = await import('../../src/data/image-io.ts');
  const exact = (img: { data: Uint8Array }) => Float32Array.from(img.data, (v) => v / 127.5 - 1);
  const q = new UnpairedPipeline(files, { loadSize: 40, cropSize: 40, flip: false, seed: 1 });
  const pair = await q.next();
  assert.deepEqual(pair.a, exact(await readImage(pair.fileA)));
  q.close();
  const t = await loadTestImage(files.a[0]!, 32);
  assert.equal(t.width, 32);
  assert.equal(t.data.length, 32 * 32 * 3);
  const same = await loadTestImage(files.a[0]!, 40);
  assert.deepEqual(same.data, exact(await readImage(files.a[0]!)));
});

test('a corrupt training image fails next() with an error naming the file', async () => {
  const bad = join(dir, 'bad.jpg');
  await makeImage(bad, 40, 40, 3);
  writeFileSync(bad, 'not really a jpeg');
  const p = new UnpairedPipeline({ a: [bad], b: files.b }, { ...small, prefetch: 2 });
  await assert.rejects(p.next(), /bad\.jpg: not an image/);
  p.close();
});

test('option validation', () => {
  assert.throws(() => new UnpairedPipeline(files, { loadSize: 30, cropSize: 32 }), /cropSize 32 is larger than loadSize 30/);
  assert.throws(() => new UnpairedPipeline({ a: [], b: files.b }), /both domains/);
});
