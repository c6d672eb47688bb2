/** Inputs: only regular files are read, every raster format sharp decodes is accepted, limits name the CLI option. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { noise } from '../data/helpers.ts';
import { readImage } from '../../src/data/image-io.ts';
import { scratch, saveTinyGenerator } from './helpers.ts';
import { useBackend } from '../../src/engine/backend.ts';

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  // The tiny generator is built in this process: pick the backend first (wasm would need an await).
  await useBackend('cpu');
  work = await scratch();
});
after(() => work.cleanup());

describe('inputs', () => {
  it('a FIFO named x.jpg is refused at once instead of blocking forever', async () => {
    const fifo = join(work.dir, 'x.jpg');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    await assert.rejects(readImage(fifo), (e: Error) => {
      assert.equal(e.message, `${fifo}: is a named pipe (FIFO), not a regular file: refusing to read it`);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
    const link = join(work.dir, 'link.jpg');
    symlinkSync(fifo, link);
    await assert.rejects(readImage(link), /link\.jpg: is a named pipe/);
  });

  it('a device or a socket is refused', async () => {
    await assert.rejects(readImage('/dev/null'), /\/dev\/null: is a device, not a regular file/);
    const sock = join(work.dir, 's.png');
    const server = createServer();
    await new Promise<void>((ok) => server.listen(sock, ok));
    try {
      await assert.rejects(readImage(sock), /s\.png: is a socket, not a regular file/);
    } finally {
      server.close();
    }
  });

  it('a symlink to a regular image is read', async () => {
    const png = join(work.dir, 'real.png');
    await sharp(noise(5, 4, 1), { raw: { width: 5, height: 4, channels: 3 } })
      .png()
      .toFile(png);
    const link = join(work.dir, 'alias.png');
    symlinkSync(png, link);
    const img = await readImage(link);
    assert.equal(img.width, 5);
  });

  it('AVIF is accepted (sharp decodes it)', async () => {
    const avif = join(work.dir, 'photo.avif');
    await sharp(noise(16, 12, 2), { raw: { width: 16, height: 12, channels: 3 } })
      .avif({ lossless: true })
      .toFile(avif);
    const img = await readImage(avif);
    assert.deepEqual([img.width, img.height, img.data.length], [16, 12, 16 * 12 * 3]);
  });

  it('the pixel limit names both the CLI option and the library option', async () => {
    const big = join(work.dir, 'big.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#888' } })
      .png()
      .toFile(big);
    await assert.rejects(
      readImage(big, { maxPixels: 1000 }),
      /image too large \(300x200 = 60,000 pixels\).*raise --max-pixels on the command line or maxPixels in the library/,
    );
    await assert.rejects(readImage(big, { maxPixels: 0 }), /maxPixels must be a positive integer, got 0/);
  });

  it('translate --max-pixels reaches the reader and its message', async () => {
    const model = await saveTinyGenerator(join(work.dir, 'model'));
    const folder = join(work.dir, 'photos');
    mkdirSync(folder);
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#468' } })
      .png()
      .toFile(join(folder, 'p.png'));
    writeFileSync(join(folder, 'note.txt'), 'not an image');
    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', '--backend', 'cpu', 'translate', folder, '--model', model, '--out', join(work.dir, 'out'), '--max-pixels', '100'],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /failed: .*p\.png: image too large \(40x30 = 1,200 pixels\): over the limit of 100 pixels .*--max-pixels/);
  });
});
