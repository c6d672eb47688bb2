/** Outputs never replace inputs; outputs of an earlier run are replaced only when asked. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeDataset, makeImage } from '../data/helpers.ts';
import { writePreview } from '../../src/data/preview.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { expandInputs, translateFiles } from '../../src/infer/batch.ts';
import { uniqueStems, writeTestReport } from '../../src/infer/report.ts';
import { loadTranslator, type Translator } from '../../src/infer/translator.ts';
import { saveTinyGenerator, scratch } from './helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
let model: string;
let translator: Translator;
const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const hashes = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((n) => [n, sha(join(dir, n))]),
  );

before(async () => {
  await useBackend('cpu');
  work = await scratch();
  model = await saveTinyGenerator(join(work.dir, 'model'));
  translator = await loadTranslator(model);
});
after(async () => {
  translator.dispose();
  await work.cleanup();
});

describe('translate into the input folder', () => {
  it('keeps every input byte for byte: outputs that would collide get the direction suffix', async () => {
    const photos = join(work.dir, 'photos');
    mkdirSync(photos);
    await makeImage(join(photos, 'a.jpg'), 12, 10, 1);
    await makeImage(join(photos, 'b.png'), 9, 7, 2);
    const before = hashes(photos);
    const result = await translateFiles(translator, await expandInputs([photos]), photos);
    assert.deepEqual(result.failed, []);
    assert.deepEqual(
      result.written.map((w) => w.output.split('/').pop()),
      ['a.AtoB.jpg', 'b.AtoB.png'],
    );
    const now = hashes(photos);
    for (const [name, hash] of Object.entries(before)) assert.equal(now[name], hash, `${name} unchanged`);

    // Running the same command again: the earlier outputs are not translated again, and they are
    // kept (reported as skipped) without --overwrite.
    const again = await translateFiles(translator, await expandInputs([photos]), photos);
    assert.equal(again.written.length, 0);
    assert.deepEqual(again.skipped.map((s) => s.input.split('/').pop()).sort(), ['a.AtoB.jpg', 'a.jpg', 'b.AtoB.png', 'b.png']);
    assert.match(again.skipped.find((s) => s.input.endsWith('/a.jpg'))!.reason, /a\.AtoB\.jpg exists \(--overwrite replaces it\)/);
    assert.match(again.skipped.find((s) => s.input.endsWith('/a.AtoB.jpg'))!.reason, /earlier run, not translated again/);
    assert.deepEqual(hashes(photos), now);

    const replaced = await translateFiles(translator, await expandInputs([photos]), photos, { overwrite: true });
    assert.deepEqual(
      replaced.written.map((w) => w.output.split('/').pop()),
      ['a.AtoB.jpg', 'b.AtoB.png'],
    );
    for (const [name, hash] of Object.entries(before)) assert.equal(sha(join(photos, name)), hash, `${name} unchanged with --overwrite`);
  });

  it('the CLI says what it skipped and never touches the inputs', async () => {
    const photos = join(work.dir, 'cli-photos');
    mkdirSync(photos);
    await makeImage(join(photos, 'x.png'), 8, 8, 3);
    const before = sha(join(photos, 'x.png'));
    const cli = (...extra: string[]) =>
      spawnSync(
        process.execPath,
        ['bin/cyclegan.js', '--backend', 'cpu', 'translate', photos, '--model', model, '--out', photos, ...extra],
        { encoding: 'utf8' },
      );
    const first = cli();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /1 translated \(AtoB\)/);
    const second = cli();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /skipped: .*x\.png: .*x\.AtoB\.png exists \(--overwrite replaces it\)/);
    assert.match(second.stdout, /0 translated \(AtoB\) into .*, 2 skipped/);
    const third = cli('--overwrite');
    assert.match(third.stdout, /1 translated \(AtoB\) into .*, 1 skipped/);
    assert.equal(sha(join(photos, 'x.png')), before);
  });

  it('an existing output elsewhere is skipped unless overwrite', async () => {
    const out = join(work.dir, 'elsewhere');
    mkdirSync(out);
    const input = join(work.dir, 'c.png');
    await makeImage(input, 8, 8, 4);
    writeFileSync(join(out, 'c.png'), 'mine');
    const skipped = await translateFiles(translator, [input], out);
    assert.equal(skipped.written.length, 0);
    assert.equal(readFileSync(join(out, 'c.png'), 'utf8'), 'mine');
    const replaced = await translateFiles(translator, [input], out, { overwrite: true });
    assert.equal(replaced.written.length, 1);
    assert.notEqual(readFileSync(join(out, 'c.png'), 'utf8'), 'mine');
  });
});

describe('test report', () => {
  it('names outputs uniquely when stems collide (a.jpg and a.png)', () => {
    assert.deepEqual(uniqueStems(['/d/a.jpg', '/d/a.png', '/d/b.png', '/d/a_jpg.png']), ['a_jpg', 'a_png', 'b', 'a_jpg-2']);
  });

  it('keeps an earlier report unless overwrite, and writes one row per image with distinct files', async () => {
    const data = join(work.dir, 'ds');
    await makeDataset(data, 1, 1, 12);
    for (const split of ['testA', 'testB']) mkdirSync(join(data, split));
    await makeImage(join(data, 'testA', 'a.jpg'), 12, 12, 5);
    await makeImage(join(data, 'testA', 'a.png'), 12, 12, 6);
    await makeImage(join(data, 'testB', 'b.png'), 12, 12, 7);
    const out = join(work.dir, 'report');
    const result = await writeTestReport({ model, data, out });
    assert.equal(result.failed, 0);
    const inputs = result.rows.AtoB.map((r) => r.input);
    assert.deepEqual(inputs, ['images/AtoB/a_jpg_input.png', 'images/AtoB/a_png_input.png']);
    assert.notEqual(sha(join(out, inputs[0]!)), sha(join(out, inputs[1]!)));
    const index = sha(join(out, 'index.html'));
    await assert.rejects(
      writeTestReport({ model, data, out }),
      /report: holds a report of an earlier run \(index\.html, images\); nothing was written: pass --overwrite/,
    );
    assert.equal(sha(join(out, 'index.html')), index);
    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', '--backend', 'cpu', 'test', '--model', model, '--data', data, '--out', out],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 1);
    assert.match(cli.stderr, /^cyclegan: .*holds a report of an earlier run.*--overwrite/);
    const again = await writeTestReport({ model, data, out, overwrite: true });
    assert.equal(again.failed, 0);
    assert.deepEqual(readdirSync(out).sort(), ['images', 'index.html'], 'no temporary folders left');
  });
});

describe('preview', () => {
  it('an existing preview is kept unless overwrite; a folder gets preview.png inside', async () => {
    const data = join(work.dir, 'pds');
    await makeDataset(data, 2, 2, 40);
    const file = join(work.dir, 'p.png');
    writeFileSync(file, 'earlier');
    const skipped = await writePreview(data, file, { n: 1, loadSize: 36, cropSize: 32 });
    assert.match(skipped.skipped ?? '', /p\.png exists \(--overwrite replaces it\)/);
    assert.equal(readFileSync(file, 'utf8'), 'earlier');
    await writePreview(data, file, { n: 1, loadSize: 36, cropSize: 32, overwrite: true });
    assert.notEqual(readFileSync(file, 'utf8'), 'earlier');

    const folder = join(work.dir, 'some-existing-folder');
    mkdirSync(folder);
    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', 'preview', '--data', data, '--out', folder, '--n', '1', '--load-size', '36', '--crop-size', '32'],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /preview: .*some-existing-folder\/preview\.png/);
    assert.ok(existsSync(join(folder, 'preview.png')));
  });

  it('refuses to write over a dataset image and bad sizes', async () => {
    const data = join(work.dir, 'pds2');
    await makeDataset(data, 1, 1, 40);
    const image = join(data, 'trainA', 'img_000.png');
    const before = sha(image);
    await assert.rejects(
      writePreview(data, image, { overwrite: true, loadSize: 36, cropSize: 32 }),
      /img_000\.png: is one of the dataset's images/,
    );
    assert.equal(sha(image), before);
    await assert.rejects(
      writePreview(data, join(work.dir, 'q.png'), { cropSize: 0, loadSize: 36 }),
      /preview cropSize must be an integer >= 1, got 0/,
    );
  });
});
