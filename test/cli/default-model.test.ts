import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readImage } from '../../src/data/image-io.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

let work: string;
let models: string;
let data: string;

function cli(args: string[], env: Record<string, string> = {}, backend = 'cpu') {
  const r = spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', backend, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CYCLEGAN_MODELS_DIR: models, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

before(async () => {
  await useBackend('cpu');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-default-model-'));
  let run: string;
  ({ data, run } = await trainTinyRun(work, { testA: 2 }));
  models = join(work, 'models');
  await mkdir(models);
  // Two tiny models: DEFAULT names the second, so "the only one" cannot be what picks it.
  for (const name of ['tiny-a', 'tiny-b']) {
    const dir = join(models, name);
    await exportTfjs(run, dir, name === 'tiny-a' ? ['AtoB'] : ['AtoB', 'BtoA'], { quantize: 'float16' });
    const manifest = JSON.parse(await readFile(join(dir, 'cyclegan.json'), 'utf8'));
    manifest.card = {
      title: `Tiny test model ${name}`,
      steps: 1,
      limits: ['a test model'],
      eval: {
        split: 'val',
        directions: [
          {
            direction: 'AtoB',
            targetClass: 'zebra',
            model: { kid: { mean: 7.125 }, classRate: { rate: 0.61 } },
            floor: { kid: { mean: 30.84 }, classRate: { rate: 0 } },
            ceiling: { kid: { mean: 0.03 }, classRate: { rate: 0.86 } },
          },
        ],
      },
    };
    await writeFile(join(dir, 'cyclegan.json'), JSON.stringify(manifest));
  }
  await writeFile(join(models, 'DEFAULT'), 'tiny-b\n');
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the embedded default model', () => {
  it('translate without --model uses the default model', async () => {
    const out = join(work, 'out-default');
    const r = cli(['translate', join(data, 'testA'), '--out', out, '--direction', 'BtoA']);
    assert.equal(r.code, 0, r.err);
    const files = (await readdir(out)).sort();
    assert.equal(files.length, 2);
    const img = await readImage(join(out, files[0]!));
    assert.equal(img.width, 32);
    // tiny-a has no BtoA generator: had it been picked, BtoA would have failed.
    const named = cli(['translate', join(data, 'testA'), '--out', join(work, 'out-a'), '--model', 'tiny-a', '--direction', 'BtoA']);
    assert.notEqual(named.code, 0);
    assert.match(named.err, /tiny-a\/cyclegan\.json: this model has no B→A generator \(use --direction AtoB\)\n$/);
  });

  it('models lists the embedded models with their cards, the default first', () => {
    const r = cli(['models']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.split('\n');
    assert.match(lines[0]!, /^tiny-b \(default\) · Tiny test model tiny-b · AtoB, BtoA · resnet6 · \d+\.\d MiB on disk$/);
    assert.ok(r.out.includes('tiny-a · Tiny test model tiny-a · AtoB · resnet6'));
    assert.ok(
      r.out.includes('  A→B on the val split: KID×1000 7.13 (floor 30.84, ceiling 0.03) · zebra top-1 61% (floor 0%, ceiling 86%)'),
      r.out,
    );
    const json = JSON.parse(cli(['models', '--json']).out) as { name: string; default: boolean; sizeBytes: number }[];
    assert.deepEqual(
      json.map((m) => [m.name, m.default]),
      [
        ['tiny-b', true],
        ['tiny-a', false],
      ],
    );
    assert.ok(json[0]!.sizeBytes > 1000);
  });

  it('npm start does the main job with the default model: the example photos into a page', async () => {
    const out = join(work, 'demo');
    // wasm: the photos are translated at full size (2 megapixels), which the cpu backend takes minutes for.
    const r = cli(['demo', '--out', out], {}, 'wasm');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /model: tiny-b · Tiny test model tiny-b/);
    assert.match(r.out, /nokota-horses\.png 1024×664 → nokota-horses\.AtoB\.png/);
    assert.match(r.out, /zaniskari-horse\.png 1920×1080 → zaniskari-horse\.AtoB\.png/);
    assert.match(r.out, /your photos: npx cyclegan translate/);
    const page = await readFile(join(out, 'examples', 'index.html'), 'utf8');
    assert.match(page, /A→B on the val split: KID×1000 7\.13/);
    const translated = await readImage(join(out, 'examples', 'zaniskari-horse.AtoB.png'));
    assert.deepEqual([translated.width, translated.height], [1920, 1080], 'translated at full size');
  });

  it('a --model that is neither a path nor an embedded model name is one clear line', () => {
    const r = cli(['translate', join(data, 'testA'), '--out', join(work, 'typo'), '--model', 'tiny-c']);
    assert.equal(r.code, 1);
    assert.equal(r.err.trim(), "cyclegan: tiny-c: no such file or folder, and no embedded model 'tiny-c' (embedded: tiny-a, tiny-b)");
  });

  it('without a default model, a command that needs one says so in one line', () => {
    const r = cli(['translate', join(data, 'testA'), '--out', join(work, 'none')], { CYCLEGAN_MODELS_DIR: join(work, 'empty') });
    assert.equal(r.code, 1);
    assert.match(r.err, /^cyclegan: no --model given and no embedded default model in .*empty/);
    assert.equal(r.err.trim().split('\n').length, 1);
  });
});
