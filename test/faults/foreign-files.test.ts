/**
 * No command deletes or rewrites a file it did not write: each command with --out, pointed at a
 * folder that holds a user's files, writes its outputs beside them (or refuses, in one line naming
 * the file in its way, with nothing written), and the folder keeps its permissions. Export has its
 * own file (test/export/out-folder.test.ts).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { runSynthetic } from '../../src/demo.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { writeGallery } from '../../src/infer/gallery.ts';
import { makeImage } from '../data/helpers.ts';
import { saveTinyGenerator, scratch } from './helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
let model: string;
let data: string;

before(async () => {
  await useBackend('cpu');
  work = await scratch('cyclegan-foreign-');
  model = await saveTinyGenerator(join(work.dir, 'model'));
  data = await writeSyntheticDataset(join(work.dir, 'data'), { size: 32, trainA: 2, trainB: 2, testA: 1, testB: 1 });
});
after(() => work.cleanup());

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'cpu', ...args], { encoding: 'utf8' });
/** Training steps are seconds faster on wasm than on the cpu backend. */
const wasmCli = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'wasm', '--threads', '1', ...args], { encoding: 'utf8' });

const USER_FILES = { 'notes.txt': 'my notes\n', 'holiday.jpg': 'not really a jpeg' };

/** A user's folder: their two files, and a mode that is not what a new folder gets. */
function userFolder(name: string, mode = 0o750): string {
  const dir = join(work.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const [n, text] of Object.entries(USER_FILES)) writeFileSync(join(dir, n), text);
  chmodSync(dir, mode);
  return dir;
}

function assertUntouched(dir: string, mode = 0o750): void {
  for (const [n, text] of Object.entries(USER_FILES)) assert.equal(readFileSync(join(dir, n), 'utf8'), text, `${n} kept`);
  assert.equal(statSync(dir).mode & 0o777, mode, `${dir} keeps its permissions`);
}

/** One `cyclegan:` line on stderr matching `pattern`, exit status 1. */
function assertRefused(result: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(result.status, 1, result.stdout + result.stderr);
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('cyclegan:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
}

describe('cyclegan test --out', () => {
  it('writes the report beside the files there; --overwrite replaces its own report, keeping the modes', () => {
    const dir = userFolder('report');
    const first = cli('test', '--model', model, '--data', data, '--out', dir, '--no-eval');
    assert.equal(first.status, 0, first.stderr);
    assertUntouched(dir);
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'images', 'index.html', 'notes.txt']);
    chmodSync(join(dir, 'images'), 0o750);
    const again = cli('test', '--model', model, '--data', data, '--out', dir, '--no-eval', '--overwrite');
    assert.equal(again.status, 0, again.stderr);
    assertUntouched(dir);
    assert.equal(statSync(join(dir, 'images')).mode & 0o777, 0o750, 'the replaced images/ keeps its mode');
  });

  it('refuses, even with --overwrite, an index.html it did not write', () => {
    const dir = userFolder('site');
    writeFileSync(join(dir, 'index.html'), '<p>my home page</p>');
    assertRefused(
      cli('test', '--model', model, '--data', data, '--out', dir, '--no-eval', '--overwrite'),
      /^cyclegan: .*site\/index\.html: is not a test report page.*nothing was written/,
    );
    assert.equal(readFileSync(join(dir, 'index.html'), 'utf8'), '<p>my home page</p>');
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'index.html', 'notes.txt']);
    assertUntouched(dir);
  });
});

describe('cyclegan translate --out and preview --out', () => {
  it('translate writes beside the files there', async () => {
    const dir = userFolder('translated');
    const input = join(work.dir, 'photo.png');
    await makeImage(input, 8, 8, 5);
    const result = cli('translate', input, '--model', model, '--out', dir);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'notes.txt', 'photo.png']);
    assertUntouched(dir);
  });

  it('preview writes preview.png beside the files there', () => {
    const dir = userFolder('previews');
    const result = cli('preview', '--data', data, '--out', dir, '--n', '1', '--load-size', '32', '--crop-size', '32');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'notes.txt', 'preview.png']);
    assertUntouched(dir);
  });
});

describe('cyclegan train --out', () => {
  const tiny = ['--generator', 'resnet6', '--ngf', '4', '--ndf', '4', '--crop-size', '32', '--load-size', '32', '--max-steps', '1'];

  it('a new run writes its files beside the ones there', () => {
    const dir = userFolder('run-here');
    const result = wasmCli('train', '--out', dir, '--data', data, ...tiny);
    assert.equal(result.status, 0, result.stderr);
    assert.ok(existsSync(join(dir, 'checkpoints', 'latest')));
    assertUntouched(dir);
  });

  it('refuses a log.jsonl no run wrote, and leaves it as it was', () => {
    const dir = userFolder('has-log');
    writeFileSync(join(dir, 'log.jsonl'), 'my own log\nnot json\n');
    assertRefused(
      cli('train', '--out', dir, '--data', data, ...tiny),
      /^cyclegan: .*has-log\/log\.jsonl: .*not a log a training run wrote.*nothing was written/,
    );
    assert.equal(readFileSync(join(dir, 'log.jsonl'), 'utf8'), 'my own log\nnot json\n');
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'log.jsonl', 'notes.txt']);
    assertUntouched(dir);
  });
});

describe('cyclegan demo --out', () => {
  it('refuses a run/ folder it did not write, before writing anything', () => {
    const dir = userFolder('demo-mine');
    mkdirSync(join(dir, 'run'));
    writeFileSync(join(dir, 'run', 'mine.txt'), 'mine');
    assertRefused(
      cli('demo', '--synthetic', '--steps', '1', '--out', dir),
      /^cyclegan: .*demo-mine\/run\/mine\.txt: .*nothing was written/,
    );
    assert.equal(readFileSync(join(dir, 'run', 'mine.txt'), 'utf8'), 'mine');
    assert.deepEqual(readdirSync(dir).sort(), ['holiday.jpg', 'notes.txt', 'run']);
    assertUntouched(dir);
  });

  it('writes its parts beside the files there, and replaces them when run again', async () => {
    const dir = userFolder('demo-here');
    // wasm: one step of the demo's network takes seconds on the cpu backend.
    const options = { out: dir, steps: 1, backend: 'wasm' as const, threads: 1, log: () => {} };
    await runSynthetic(options);
    await runSynthetic(options);
    assert.deepEqual(readdirSync(dir).sort(), ['data', 'export', 'holiday.jpg', 'notes.txt', 'report', 'run']);
    assertUntouched(dir);
  });

  it("the main job's page refuses a folder holding anything but an earlier page of its own", async () => {
    const input = join(work.dir, 'example.png');
    await makeImage(input, 8, 8, 6);
    const out = join(userFolder('gallery-parent'), 'examples');
    const gallery = { model, files: [input], out, title: 'examples' };
    await writeGallery(gallery);
    await writeGallery(gallery);
    assert.deepEqual(readdirSync(out).sort(), ['example.AtoB.png', 'example.png', 'index.html']);
    writeFileSync(join(out, 'holiday.jpg'), 'mine');
    await assert.rejects(
      writeGallery(gallery),
      /examples\/holiday\.jpg: is not one of the images of the gallery page.*nothing was written/,
    );
    assert.equal(readFileSync(join(out, 'holiday.jpg'), 'utf8'), 'mine');
  });
});
