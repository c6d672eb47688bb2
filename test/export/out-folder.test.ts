/**
 * `cyclegan export --out DIR` into a folder that holds other files: the export goes beside them
 * and never touches them, in either format; a name the export would write that holds something
 * an export did not write is refused by name, with nothing written. The folder keeps its mode.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { scratch } from '../faults/helpers.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

let work: { dir: string; cleanup: () => Promise<void> };
let run: string;

before(async () => {
  await useBackend('cpu');
  work = await scratch('cyclegan-export-out-');
  ({ run } = await trainTinyRun(work.dir));
});
after(() => work.cleanup());

const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'cpu', 'export', ...args], { encoding: 'utf8' });

/** A user's folder: two files of theirs, mode 0755. */
function userFolder(name: string): { dir: string; files: Record<string, string> } {
  const dir = join(work.dir, name);
  mkdirSync(dir);
  const files = { 'notes.txt': 'my notes\n', 'holiday.jpg': 'not really a jpeg' };
  for (const [n, text] of Object.entries(files)) writeFileSync(join(dir, n), text);
  chmodSync(dir, 0o755);
  return { dir, files };
}

function assertUntouched(dir: string, files: Record<string, string>, mode = 0o755): void {
  for (const [n, text] of Object.entries(files)) assert.equal(readFileSync(join(dir, n), 'utf8'), text, `${n} kept`);
  assert.equal(statSync(dir).mode & 0o777, mode, 'the folder keeps its permissions');
}

/** The one line a refused command prints, and its exit status. */
function assertRefused(result: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.equal(result.status, 1, result.stdout + result.stderr);
  // tfjs may print its banner about tfjs-node: the CLI's own lines are the `cyclegan:` ones.
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('cyclegan:'));
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0]!, pattern);
}

describe('export --format tfjs into an existing folder', () => {
  it('writes beside the files already there, keeps them and the folder mode, and replaces its own earlier export', () => {
    const { dir, files } = userFolder('pictures');
    const first = cli('--model', run, '--format', 'tfjs', '--out', dir);
    assert.equal(first.status, 0, first.stderr);
    assertUntouched(dir, files);
    assert.deepEqual(readdirSync(dir).sort(), ['AtoB', 'BtoA', 'cyclegan.json', 'holiday.jpg', 'notes.txt']);
    assert.equal(statSync(join(dir, 'AtoB')).mode & 0o077, statSync(dir).mode & 0o077 & ~0o022, 'not a private 0700 folder');

    // Its own earlier export is replaced (here by a float16 one); the user's files stay.
    const again = cli('--model', run, '--format', 'tfjs', '--out', dir, '--quantize', 'float16');
    assert.equal(again.status, 0, again.stderr);
    assert.equal(JSON.parse(readFileSync(join(dir, 'cyclegan.json'), 'utf8')).quantization, 'float16');
    assertUntouched(dir, files);

    // One direction now: the other direction's folder of the earlier export goes with it.
    const one = cli('--model', run, '--format', 'tfjs', '--out', dir, '--direction', 'AtoB');
    assert.equal(one.status, 0, one.stderr);
    assert.deepEqual(readdirSync(dir).sort(), ['AtoB', 'cyclegan.json', 'holiday.jpg', 'notes.txt']);
    assertUntouched(dir, files);
  });

  it('refuses a direction folder it did not write, naming it, and writes nothing', () => {
    const { dir, files } = userFolder('has-atob');
    mkdirSync(join(dir, 'AtoB'));
    writeFileSync(join(dir, 'AtoB', 'mine.txt'), 'mine');
    const result = cli('--model', run, '--format', 'tfjs', '--out', dir);
    assertRefused(result, /^cyclegan: .*has-atob\/AtoB.*not written by an export.*nothing was written/);
    assert.equal(readFileSync(join(dir, 'AtoB', 'mine.txt'), 'utf8'), 'mine');
    assert.deepEqual(readdirSync(dir).sort(), ['AtoB', 'holiday.jpg', 'notes.txt']);
    assertUntouched(dir, files);
  });

  it('refuses a run folder and a checkpoint: both stay whole', () => {
    const before = readdirSync(run).sort();
    assertRefused(
      cli('--model', run, '--format', 'tfjs', '--out', run),
      /^cyclegan: .*\/run: is a training run folder.*nothing was written/,
    );
    assert.deepEqual(readdirSync(run).sort(), before);
    const checkpoint = join(run, 'checkpoints', readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim());
    const inside = readdirSync(checkpoint).sort();
    assertRefused(
      cli('--model', run, '--format', 'tfjs', '--out', checkpoint),
      /^cyclegan: .*\/cyclegan\.json: is not an export's manifest.*nothing was written/,
    );
    assert.deepEqual(readdirSync(checkpoint).sort(), inside);
  });

  it('an export killed while swapping its folders in is no model, and the next export finishes it', async () => {
    const { dir, files } = userFolder('killed');
    await exportTfjs(run, dir);
    // What a kill between the swaps leaves: the pending note, the folders, no manifest.
    writeFileSync(join(dir, '.cyclegan-export-pending.json'), JSON.stringify({ directions: ['AtoB', 'BtoA'] }));
    rmSync(join(dir, 'cyclegan.json'));
    await assert.rejects(exportTfjs(join(work.dir, 'no-such-run'), dir), /no-such-run/);
    assert.ok(!existsSync(join(dir, 'cyclegan.json')));
    await exportTfjs(run, dir, ['AtoB']);
    assert.deepEqual(readdirSync(dir).sort(), ['AtoB', 'cyclegan.json', 'holiday.jpg', 'notes.txt']);
    assertUntouched(dir, files);
  });
});

describe('export --format onnx into an existing folder', () => {
  it('writes beside the files there and replaces its own earlier .onnx files', () => {
    const { dir, files } = userFolder('onnx-pictures');
    for (let k = 0; k < 2; k++) {
      const result = cli('--model', run, '--format', 'onnx', '--out', dir);
      assert.equal(result.status, 0, result.stderr);
      assertUntouched(dir, files);
    }
    assert.deepEqual(readdirSync(dir).sort(), ['AtoB.onnx', 'BtoA.onnx', 'cyclegan.json', 'holiday.jpg', 'notes.txt']);
  });

  it('refuses an .onnx file of that name that it did not write, and writes nothing', () => {
    const { dir, files } = userFolder('onnx-foreign');
    writeFileSync(join(dir, 'BtoA.onnx'), 'some other model');
    const result = cli('--model', run, '--format', 'onnx', '--out', dir);
    assertRefused(result, /^cyclegan: .*onnx-foreign\/BtoA\.onnx.*not written by an export.*nothing was written/);
    assert.equal(readFileSync(join(dir, 'BtoA.onnx'), 'utf8'), 'some other model');
    assert.deepEqual(readdirSync(dir).sort(), ['BtoA.onnx', 'holiday.jpg', 'notes.txt']);
    assertUntouched(dir, files);
  });
});
