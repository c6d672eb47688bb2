import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { ImageError, decodeImage, readImage, writeImage } from '../../src/data/image-io.ts';
import { imageToTensor, tensorToImage, type RgbImage } from '../../src/data/pixels.ts';
import { makeImage, noise, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = tempDir()));
after(() => cleanup());

test('reads RGB PNG exactly, and JPEG/WebP/TIFF/GIF as 8-bit RGB', async () => {
  const raw = noise(12, 7, 5);
  await sharp(raw, { raw: { width: 12, height: 7, channels: 3 } })
    .png()
    .toFile(join(dir, 'n.png'));
  const img = await readImage(join(dir, 'n.png'));
  assert.equal(img.width, 12);
  assert.equal(img.height, 7);
  assert.deepEqual(Buffer.from(img.data), raw);
  for (const ext of ['jpg', 'webp', 'tiff', 'gif']) {
    const p = join(dir, `n.${ext}`);
    await makeImage(p, 12, 7, 5);
    const r = await readImage(p);
    assert.equal(r.data.length, 12 * 7 * 3, ext);
  }
});

test('grayscale becomes RGB with equal channels', async () => {
  const p = join(dir, 'gray.jpg');
  await sharp(noise(10, 10, 2), { raw: { width: 10, height: 10, channels: 3 } })
    .toColourspace('b-w')
    .jpeg()
    .toFile(p);
  assert.equal((await sharp(p).metadata()).channels, 1);
  const img = await readImage(p);
  assert.equal(img.data.length, 300);
  for (let i = 0; i < 300; i += 3) {
    assert.equal(img.data[i], img.data[i + 1]);
    assert.equal(img.data[i], img.data[i + 2]);
  }
});

test('alpha is flattened onto white', async () => {
  const p = join(dir, 'alpha.png');
  const rgba = Buffer.from([255, 0, 0, 0, /* transparent red */ 0, 0, 255, 255, /* opaque blue */ 0, 0, 0, 128 /* half black */]);
  await sharp(rgba, { raw: { width: 3, height: 1, channels: 4 } })
    .png()
    .toFile(p);
  const img = await readImage(p);
  assert.deepEqual([...img.data.subarray(0, 6)], [255, 255, 255, 0, 0, 255]);
  for (const v of img.data.subarray(6)) assert.ok(Math.abs(v - 127) <= 1, `half black on white ~127, got ${v}`);
});

test('16-bit PNG becomes 8-bit', async () => {
  const p = join(dir, 'deep.png');
  const w = 4;
  const data = new Uint16Array(w * 3);
  data.fill(65535, 0, 3);
  data.fill(0, 3, 6);
  data.fill(32896, 6, 12); // 128 * 257
  await sharp(data, { raw: { width: w, height: 1, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toFile(p);
  const meta = await sharp(p).metadata();
  assert.equal(meta.depth, 'ushort');
  const img = await readImage(p);
  assert.equal(img.data.length, 12);
  assert.deepEqual([...img.data.subarray(0, 6)], [255, 255, 255, 0, 0, 0]);
  assert.ok(Math.abs(img.data[6]! - 128) <= 1);
});

test('EXIF orientation 6 is applied (width and height swap)', async () => {
  const p = join(dir, 'rot.jpg');
  await sharp(noise(40, 20, 3), { raw: { width: 40, height: 20, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toFile(p);
  assert.equal((await sharp(p).metadata()).orientation, 6);
  const img = await readImage(p);
  assert.equal(img.width, 20);
  assert.equal(img.height, 40);
});

test('CMYK JPEG becomes RGB', async () => {
  const p = join(dir, 'cmyk.jpg');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 30, b: 30 } } })
    .toColourspace('cmyk')
    .jpeg()
    .toFile(p);
  assert.equal((await sharp(p).metadata()).space, 'cmyk');
  const img = await readImage(p);
  assert.equal(img.data.length, 8 * 8 * 3);
  assert.ok(img.data[0]! > 150 && img.data[1]! < 90, `reddish, got ${[...img.data.subarray(0, 3)]}`);
});

test('truncated JPEG: one clear error naming the file; other files unaffected', async () => {
  const good = join(dir, 'good.jpg');
  await makeImage(good, 64, 64, 9);
  const bytes = readFileSync(good);
  const bad = join(dir, 'trunc.jpg');
  writeFileSync(bad, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await assert.rejects(readImage(bad), (e: unknown) => {
    assert.ok(e instanceof ImageError);
    assert.equal(e.file, bad);
    assert.match(e.message, /trunc\.jpg: truncated or corrupt JPEG/);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
  // Header cut off too.
  writeFileSync(bad, bytes.subarray(0, 100));
  await assert.rejects(readImage(bad), /trunc\.jpg: truncated or corrupt JPEG/);
  assert.equal((await readImage(good)).width, 64);
});

test('non-image, empty and missing files', async () => {
  const txt = join(dir, 'notes.txt');
  writeFileSync(txt, 'just some notes\n');
  await assert.rejects(readImage(txt), (e: unknown) => {
    assert.ok(e instanceof ImageError);
    assert.equal(e.message, `${txt}: not an image (unsupported format)`);
    return true;
  });
  const svg = join(dir, 'x.svg');
  writeFileSync(svg, '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>');
  await assert.rejects(readImage(svg), /x\.svg: not accepted: an SVG drawing, not a photo/);
  const empty = join(dir, 'empty.png');
  writeFileSync(empty, '');
  await assert.rejects(readImage(empty), /empty\.png: (empty file|not an image)/);
  await assert.rejects(readImage(join(dir, 'nope.png')), /nope\.png: file not found/);
  await assert.rejects(decodeImage(Buffer.from('hello'), 'mem.bin'), /^ImageError: mem\.bin: not an image/);
});

test('decompression-bomb guard', async () => {
  const p = join(dir, 'big.png');
  await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#000' } })
    .png()
    .toFile(p);
  await assert.rejects(readImage(p, { maxPixels: 1_000_000 }), (e: unknown) => {
    assert.ok(e instanceof ImageError);
    assert.match(e.message, /big\.png: image too large \(3000x2000 = 6,000,000 pixels\): over the limit of 1,000,000 pixels/);
    return true;
  });
  assert.equal((await readImage(p)).width, 3000);
});

test('decodeImage decodes a buffer', async () => {
  const buf = await sharp(noise(5, 6, 1), { raw: { width: 5, height: 6, channels: 3 } })
    .png()
    .toBuffer();
  const img = await decodeImage(buf, 'mem.png');
  assert.equal(img.width, 5);
  assert.equal(img.height, 6);
});

test('writeImage is atomic and round-trips; formats from the extension', async () => {
  const out = join(dir, 'out');
  mkdirSync(out);
  const img: RgbImage = { width: 9, height: 5, data: new Uint8Array(noise(9, 5, 4)) };
  await writeImage(join(out, 'a.png'), img);
  await writeImage(join(out, 'a.png'), img); // overwrite
  await writeImage(join(out, 'b.jpg'), img, { quality: 80 });
  assert.deepEqual(readdirSync(out).sort(), ['a.png', 'b.jpg']);
  assert.deepEqual(Buffer.from((await readImage(join(out, 'a.png'))).data), Buffer.from(img.data));
  assert.equal((await sharp(join(out, 'b.jpg')).metadata()).format, 'jpeg');
  await assert.rejects(writeImage(join(out, 'c.bmp'), img), /c\.bmp: cannot tell the output format/);
  await assert.rejects(writeImage(join(dir, 'no-such-dir', 'x.png'), img), /x\.png: cannot write image \(folder .* does not exist\)/);
  assert.deepEqual(readdirSync(out).sort(), ['a.png', 'b.jpg']);
});

test('imageToTensor / tensorToImage round-trip without leaks; writeImage takes a tensor', async () => {
  const img: RgbImage = { width: 6, height: 4, data: new Uint8Array(noise(6, 4, 8)) };
  const before = tf.memory().numTensors;
  const t = imageToTensor(img);
  assert.deepEqual(t.shape, [4, 6, 3]);
  const vals = t.dataSync();
  assert.ok(Math.abs(vals[0]! - (img.data[0]! / 127.5 - 1)) < 1e-6);
  assert.ok(Math.min(...vals) >= -1 && Math.max(...vals) <= 1);
  const back = tensorToImage(t);
  assert.deepEqual(Buffer.from(back.data), Buffer.from(img.data));
  const batched = t.expandDims(0);
  await writeImage(join(dir, 't.png'), { tensor: batched });
  assert.deepEqual(Buffer.from((await readImage(join(dir, 't.png'))).data), Buffer.from(img.data));
  // clamping
  const wild = tf.tensor3d([-3, 0, 3], [1, 1, 3]);
  assert.deepEqual([...tensorToImage(wild).data], [0, 128, 255]);
  tf.dispose([t, batched, wild]);
  assert.equal(tf.memory().numTensors, before);
});
