import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { train } from '../../src/train/loop.ts';

let work: string;
let run: string;

const cli = (args: string[]) => spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'wasm', ...args], { encoding: 'utf8' });

before(async () => {
  await useBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-test-report-'));
  const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2, testA: 4, testB: 4 });
  run = join(work, 'run');
  await train({
    data,
    out: run,
    config: { preset: 'paper', generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 32, loadSize: 32 },
    maxSteps: 1,
  });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('cyclegan test', () => {
  it('puts the evaluation figures of the test images on the report page', async () => {
    const out = join(work, 'report');
    const r = cli(['test', '--model', run, '--data', join(work, 'data'), '--out', out, '--target-class', 'zebra']);
    assert.equal(r.status, 0, r.stderr);
    const page = await readFile(join(out, 'index.html'), 'utf8');
    const section = page.slice(page.indexOf('<h2>Evaluation</h2>'));
    assert.ok(page.includes('<h2>Evaluation</h2>'), 'an evaluation section');
    assert.match(section, /direction +sources +targets +KID×1000 model +floor +ceiling +class/);
    assert.match(section, /A→B +4 +4 +-?\d+\.\d+ ± \d+\.\d+ +-?\d+\.\d+ ± \d+\.\d+ +-?\d+\.\d+ ± \d+\.\d+ +zebra/);
    assert.match(section, /B→A +4 +4 /);
    assert.match(r.stdout, /A→B +4 +4 /, 'and the table on the terminal');
  });

  it('says on the page why there are no figures when the test images are too few, and still succeeds', async () => {
    const few = await writeSyntheticDataset(join(work, 'few'), { size: 32, trainA: 1, trainB: 1, testA: 1, testB: 1, seed: 4 });
    const out = join(work, 'report-few');
    const r = cli(['test', '--model', run, '--data', few, '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const page = await readFile(join(out, 'index.html'), 'utf8');
    assert.match(page, /No evaluation figures for these test images:<\/p>\n<pre>.*at least 2 source images/);
    assert.match(r.stderr, /warning: no evaluation figures: /);
    const none = cli(['test', '--model', run, '--data', few, '--out', join(work, 'report-none'), '--no-eval']);
    assert.equal(none.status, 0, none.stderr);
    assert.ok(!(await readFile(join(work, 'report-none', 'index.html'), 'utf8')).includes('<h2>Evaluation</h2>'));
  });
});
