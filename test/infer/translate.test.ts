import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { readImage } from '../../src/data/image-io.ts';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { expandInputs, translateFiles } from '../../src/infer/batch.ts';
import { writeTestReport } from '../../src/infer/report.ts';
import { reflectPad, translateImage, translatePixels, type GeneratorGeometry } from '../../src/infer/translate-core.ts';
import { imageToPixels } from '../../src/data/pixels.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { loadLayersModel } from '../../src/models/io.ts';
import { train } from '../../src/train/loop.ts';

let work: string;
let data: string;
let runDir: string;

async function noisePng(path: string, width: number, height: number, channels: 1 | 3 = 3): Promise<void> {
  const raw = Buffer.alloc(width * height * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37 + (i >> 5) * 11) % 256;
  await sharp(raw, { raw: { width, height, channels } }).png().toFile(path);
}

before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-infer-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2, testA: 3, testB: 2 });
  runDir = join(work, 'run');
  // A tiny trained run of each kind: the U-Net (fixed 32 px) and the fully convolutional ResNet.
  await train({ data, out: runDir, config: { preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 32, epochs: 1 } });
  await train({
    data,
    out: join(work, 'run-resnet'),
    config: { preset: 'paper', generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 32, loadSize: 32, epochs: 1, epochsDecay: 0 },
  });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('mirror padding and tiling', () => {
  it('reflects like numpy "reflect", repeatedly for tiny images, and remembers the origin', () => {
    const row = { data: new Float32Array([1, 1, 1, 2, 2, 2, 3, 3, 3]), height: 1, width: 3 };
    const p = reflectPad(row, 1, 7);
    // 3 → 5: pad 2 (1 each side) = [2,1,2,3,2]; 5 → 7: pad 2 (1 each side) = [1,2,1,2,3,2,3].
    assert.deepEqual(Array.from(p.data.filter((_, i) => i % 3 === 0)), [1, 2, 1, 2, 3, 2, 3]);
    assert.equal(p.left, 2);
    const single = reflectPad({ data: new Float32Array([5, 5, 5]), height: 1, width: 1 }, 3, 2);
    assert.equal(single.height, 3);
    assert.deepEqual(Array.from(single.data), new Array(18).fill(5));
  });

  it('an identity network returns the image exactly, whole and tiled', async () => {
    const identity = (x: { data: Float32Array }) => x.data;
    const h = 37;
    const w = 53;
    const image = { data: Float32Array.from({ length: h * w * 3 }, (_, i) => Math.sin(i)), height: h, width: w };
    for (const geometry of [
      { fixedSize: 16, multiple: 16 },
      { fixedSize: null, multiple: 4 },
    ] as GeneratorGeometry[]) {
      for (const maxSide of [16, 1024]) {
        const out = await translatePixels(identity, image, geometry, { maxSide, overlap: 4 });
        assert.deepEqual([out.height, out.width], [h, w]);
        const maxDiff = Math.max(...out.data.map((v, i) => Math.abs(v - image.data[i]!)));
        assert.ok(maxDiff < 1e-6, `identity changed pixels by ${maxDiff} (${JSON.stringify(geometry)}, maxSide ${maxSide})`);
      }
    }
  });
});

describe('translate', () => {
  it('keeps the size of 37×53, 600×400 and grayscale images; values valid; U-Net and ResNet', async () => {
    await noisePng(join(work, 'odd.png'), 37, 53);
    await noisePng(join(work, 'wide.png'), 600, 400);
    await noisePng(join(work, 'gray.png'), 45, 30, 1);
    for (const model of [runDir, join(work, 'run-resnet')]) {
      const translator = await loadTranslator(model, { direction: 'AtoB', maxSide: 256 });
      for (const [name, w, h] of [
        ['odd.png', 37, 53],
        ['wide.png', 600, 400],
        ['gray.png', 45, 30],
      ] as const) {
        const out = await translator.translate(await readImage(join(work, name)));
        assert.deepEqual([out.width, out.height], [w, h], `${model} ${name}`);
        assert.equal(out.data.length, w * h * 3);
      }
      translator.dispose();
    }
  });

  it('equals the tfjs tensor path used by the web page', async () => {
    const translator = await loadTranslator(runDir, { direction: 'BtoA' });
    const img = await readImage(join(work, 'odd.png'));
    const viaPixels = await translator.translatePixels(imageToPixels(img));
    const model = await loadLayersModel(join(runDir, 'checkpoints', 'epoch-0001', 'G_BtoA'));
    const x = tf.tensor3d(imageToPixels(img).data, [img.height, img.width, 3]);
    const viaTensor = translateImage(model, x, translator.geometry);
    assert.deepEqual(Array.from(viaTensor.dataSync()), Array.from(viaPixels.data));
    tf.dispose([x, viaTensor]);
    model.dispose();
    translator.dispose();
  });

  it('translates a folder with one corrupt file: the others are written, the failure is reported', async () => {
    const folder = join(work, 'mixed');
    await mkdir(folder, { recursive: true });
    await noisePng(join(folder, 'a.png'), 20, 20);
    await noisePng(join(folder, 'b.png'), 33, 21);
    const good = await readFile(join(folder, 'a.png'));
    await writeFile(join(folder, 'broken.png'), good.subarray(0, 40));
    const files = await expandInputs([folder], () => {});
    assert.equal(files.length, 3);
    const translator = await loadTranslator(runDir);
    const result = await translateFiles(translator, files, join(work, 'mixed-out'));
    translator.dispose();
    assert.deepEqual(result.written.map((w) => w.output.split('/').pop()).sort(), ['a.png', 'b.png']);
    assert.equal(result.failed.length, 1);
    assert.match(result.failed[0]!.error, /broken\.png: /);

    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', '--backend', 'wasm', 'translate', folder, '--model', runDir, '--out', join(work, 'cli-out')],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 1, 'non-zero exit when some failed');
    assert.match(cli.stderr, /failed: .*broken\.png/);
    assert.match(cli.stdout, /2 translated \(AtoB\)/);
    assert.ok(existsSync(join(work, 'cli-out', 'b.png')));
  });

  it('gives one clear error for a wrong model path', async () => {
    await assert.rejects(loadTranslator(join(work, 'missing')), /no such file or folder/);
    await assert.rejects(loadTranslator(data), /not a model/);
    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', 'translate', join(work, 'odd.png'), '--model', data, '--out', join(work, 'x')],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 1);
    assert.equal(cli.stderr.trim().split('\n').length, 1, cli.stderr);
    assert.match(cli.stderr, /^cyclegan: .*not a model/);
  });
});

describe('export and report', () => {
  it('the tfjs export loads back with outputs equal to the checkpoint', async () => {
    const exportDir = join(work, 'export');
    const manifest = await exportTfjs(runDir, exportDir);
    assert.deepEqual(Object.keys(manifest.directions).sort(), ['AtoB', 'BtoA']);
    const fromExport = await loadTranslator(exportDir, { direction: 'AtoB' });
    const fromRun = await loadTranslator(runDir, { direction: 'AtoB' });
    const img = await readImage(join(work, 'odd.png'));
    assert.deepEqual(Array.from((await fromExport.translate(img)).data), Array.from((await fromRun.translate(img)).data));
    fromExport.dispose();
    fromRun.dispose();
  });

  it('the report page lists every test image of both domains', async () => {
    const out = join(work, 'report');
    const result = await writeTestReport({ model: runDir, data, out });
    const html = await readFile(result.index, 'utf8');
    for (const name of ['testA_0000', 'testA_0001', 'testA_0002', 'testB_0000', 'testB_0001']) {
      assert.match(html, new RegExp(`${name}_translation\\.png`));
      assert.ok(existsSync(join(out, 'images', name.startsWith('testA') ? 'AtoB' : 'BtoA', `${name}_reconstruction.png`)));
    }
    assert.equal(result.rows.AtoB.length, 3);
    assert.equal(result.rows.BtoA.length, 2);
  });
});
