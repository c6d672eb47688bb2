import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { buildUnetGenerator } from '../../src/models/index.ts';
import { saveLayersModel } from '../../src/models/io.ts';
import { exportOnnx, onnxExportPath, type OnnxExportedFile } from '../../src/export/onnx-export.ts';
import { exportTfjs, writeExportFolder } from '../../src/export/tfjs.ts';
import { writeImage } from '../../src/data/image-io.ts';
import { directionsOf, openModel, resolveCheckpointDir } from '../../src/infer/model-folder.ts';
import { OnnxGenerator } from '../../src/infer/onnx-engine.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { startServer } from '../../src/serve/server.ts';

await useBackend('cpu');

const root = await mkdtemp(join(tmpdir(), 'cyclegan-onnx-export-test-'));
test.after(() => rm(root, { recursive: true, force: true }));

/** A bare tfjs model folder (model.json + weights) holding a tiny U-Net. */
const bare = join(root, 'bare');
{
  const model = buildUnetGenerator({ size: 8, ngf: 2, seed: 3 });
  await saveLayersModel(model, bare);
  model.dispose();
}

test('onnxExportPath: OUT itself for one direction and an .onnx name, else OUT/DIRECTION.onnx', () => {
  assert.equal(onnxExportPath('a/g.onnx', 'BtoA', 1), 'a/g.onnx');
  assert.equal(onnxExportPath('a/g.onnx', 'AtoB', 2), join('a/g.onnx', 'AtoB.onnx'));
  assert.equal(onnxExportPath('out', 'AtoB', 1), join('out', 'AtoB.onnx'));
});

test('exportOnnx writes one loadable .onnx per direction and reports each as it is written', async () => {
  const out = join(root, 'both');
  const seen: OnnxExportedFile[] = [];
  const written = await exportOnnx(bare, out, undefined, { onExported: (e) => seen.push(e) });
  // A bare model folder does not say which directions it has: both, from its one generator.
  assert.deepEqual(
    written.map((w) => w.direction),
    ['AtoB', 'BtoA'],
  );
  assert.deepEqual(seen, written);
  assert.deepEqual((await readdir(out)).sort(), ['AtoB.onnx', 'BtoA.onnx', 'cyclegan.json']);
  for (const w of written) {
    assert.equal(w.file, join(out, `${w.direction}.onnx`));
    assert.equal(w.source, join(bare, 'model.json'));
    assert.equal((await stat(w.file)).size, w.bytes);
  }
  const g = await OnnxGenerator.load(written[0]!.file);
  try {
    assert.equal(g.fixedSize, 8);
    assert.equal((await g.run(new Float32Array(8 * 8 * 3), 8, 8)).length, 8 * 8 * 3);
  } finally {
    await g.dispose();
  }
});

test('exportOnnx with one direction and an .onnx path writes that file, at the opset asked', async () => {
  const file = join(root, 'single', 'generator.onnx');
  const [w, ...rest] = await exportOnnx(bare, file, ['BtoA'], { opset: 13 });
  assert.equal(rest.length, 0);
  assert.equal(w!.file, file);
  assert.deepEqual(await readdir(join(root, 'single')), ['generator.onnx']);
  await assert.rejects(
    exportOnnx(bare, join(root, 'bad-opset'), ['AtoB'], { opset: 12 }),
    /opset must be an integer from 13 to 22, got 12/,
  );
});

test('exportOnnx refuses a generator it cannot map, naming the layer, and writes nothing', async () => {
  const dir = join(root, 'upsample');
  const input = tf.input({ shape: [8, 8, 3] });
  const model = tf.model({
    inputs: input,
    outputs: tf.layers.upSampling2d({ size: [2, 2], name: 'up' }).apply(input) as tf.SymbolicTensor,
  });
  await saveLayersModel(model, dir);
  model.dispose();
  const out = join(root, 'upsample-out');
  await assert.rejects(exportOnnx(dir, out, ['AtoB']), /UpSampling2D.*'up'/);
  await assert.rejects(stat(out), /ENOENT/);
});

test('cyclegan export --format onnx prints one line per file written', () => {
  const out = join(root, 'cli');
  const cli = spawnSync(
    process.execPath,
    ['bin/cyclegan.js', '--backend', 'cpu', 'export', '--model', bare, '--format', 'onnx', '--out', out, '--direction', 'AtoB'],
    { encoding: 'utf8' },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const file = join(out, 'AtoB.onnx');
  assert.match(
    cli.stdout,
    new RegExp(`^exported AtoB to ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+\\.\\d MB, AtoB\\.onnx\\)$`, 'm'),
  );
});

test('an ONNX export folder is a model folder: it knows its directions and size, each direction runs its own file, on ONNX Runtime by default', async () => {
  // A tfjs export with two different generators, so that a direction served by the wrong file shows.
  const models = new Map((['AtoB', 'BtoA'] as const).map((d, i) => [d, buildUnetGenerator({ size: 8, ngf: 2, seed: 11 + i })] as const));
  const tfjsExport = join(root, 'tfjs-export');
  await writeExportFolder(tfjsExport, models, {
    format: 'cyclegan-generators',
    version: 1,
    method: 'cyclegan',
    generator: 'unet',
    size: 8,
    directions: {},
  });
  for (const m of models.values()) m.dispose();
  const out = join(root, 'folder');
  await exportOnnx(tfjsExport, out);
  assert.deepEqual((await readdir(out)).sort(), ['AtoB.onnx', 'BtoA.onnx', 'cyclegan.json']);
  assert.deepEqual(JSON.parse(await readFile(join(out, 'cyclegan.json'), 'utf8')), {
    format: 'cyclegan-generators',
    version: 1,
    engine: 'onnx',
    method: 'cyclegan',
    generator: 'unet',
    size: 8,
    directions: { AtoB: 'AtoB.onnx', BtoA: 'BtoA.onnx' },
  });
  // Exported again over itself: its own manifest and files are replaced; a tfjs export's manifest is refused.
  await exportOnnx(tfjsExport, out, ['AtoB', 'BtoA']);
  await assert.rejects(
    exportOnnx(tfjsExport, tfjsExport),
    /tfjs-export\/cyclegan\.json: exists and is not the manifest of an earlier ONNX export/,
  );

  const folder = await openModel(out);
  assert.equal(folder.kind, 'onnx');
  assert.deepEqual(directionsOf(folder), ['AtoB', 'BtoA']);
  assert.equal(folder.manifest?.size, 8);
  const input = { data: Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => Math.sin(i) * 0.9), height: 8, width: 8 };
  const outputs: Float32Array[] = [];
  for (const direction of ['AtoB', 'BtoA'] as const) {
    const translator = await loadTranslator(out, { direction });
    const direct = await OnnxGenerator.load(join(out, `${direction}.onnx`));
    try {
      assert.equal(translator.engine, 'onnx');
      const got = (await translator.translatePixels(input)).data;
      assert.deepEqual(got, await direct.run(input.data, 8, 8));
      outputs.push(got);
    } finally {
      translator.dispose();
      await direct.dispose();
    }
  }
  assert.notDeepEqual(outputs[0], outputs[1]);
  await assert.rejects(loadTranslator(out, { engine: 'tfjs' }), /folder: an ONNX export folder needs --engine onnx/);
  await assert.rejects(exportTfjs(out, join(root, 'again'), undefined), /folder: an ONNX export folder cannot be exported again/);
  // A folder of .onnx files without a manifest (written by hand, or by an older export) is a model too.
  const half = join(root, 'half');
  await exportOnnx(bare, half, ['AtoB']);
  await rm(join(half, 'cyclegan.json'));
  await assert.rejects(resolveCheckpointDir(half), /half: an ONNX export folder; this needs a tfjs model/);
  assert.deepEqual(directionsOf(await openModel(half)), ['AtoB']);
  await assert.rejects(
    loadTranslator(half, { direction: 'BtoA' }),
    /half: this ONNX export folder has no BtoA\.onnx \(use --direction AtoB\)/,
  );

  // The CLI takes the folder as it takes any model, and picks ONNX Runtime without --engine.
  const image = join(root, 'horse.png');
  await writeImage(image, { width: 8, height: 8, data: Uint8Array.from({ length: 8 * 8 * 3 }, (_, i) => (i * 37) % 256) });
  const cli = spawnSync(
    process.execPath,
    ['bin/cyclegan.js', 'translate', '--model', out, '--direction', 'BtoA', '--out', join(root, 'translated'), image],
    { encoding: 'utf8' },
  );
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, /^engine: onnxruntime-node/m);
  assert.match(cli.stdout, /1 translated \(BtoA\)/);
  assert.deepEqual(await readdir(join(root, 'translated')), ['horse.png']);
  // The web page runs tfjs generators only: serve says so.
  await assert.rejects(startServer({ modelDir: out }), /folder\/cyclegan\.json: an ONNX export; the web page runs tfjs generators/);
});
