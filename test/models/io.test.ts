import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { buildPatchDiscriminator, buildResnetGenerator, buildUnetGenerator } from '../../src/models/index.ts';
import { loadLayersModel, saveLayersModel } from '../../src/models/io.ts';

await useBackend('cpu');

const root = await mkdtemp(join(tmpdir(), 'cyclegan-io-test-'));
test.after(() => rm(root, { recursive: true, force: true }));

async function roundTrip(model: tf.LayersModel, input: tf.Tensor, name: string): Promise<void> {
  const dir = join(root, name);
  await saveLayersModel(model, dir);
  assert.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights.bin']);
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
  assert.equal(json.format, 'layers-model');
  assert.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  const loaded = await loadLayersModel(dir);
  try {
    assert.equal(loaded.name, model.name);
    assert.equal(loaded.countParams(), model.countParams());
    const a = (model.predict(input) as tf.Tensor).dataSync();
    const b = (loaded.predict(input) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
  } finally {
    loaded.dispose();
  }
}

test('save/load round trip keeps outputs identical (all custom layers)', async () => {
  const x16 = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 1);
  const x32 = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 2);
  const unet = buildUnetGenerator({ size: 16, ngf: 4, seed: 1, name: 'G_AtoB' });
  const resnet = buildResnetGenerator({ ngf: 4, nBlocks: 2, norm: 'instance-no-affine', seed: 2 });
  const disc = buildPatchDiscriminator({ ndf: 4, seed: 3 });
  try {
    await roundTrip(unet, x16, 'unet');
    await roundTrip(resnet, x32, 'resnet');
    await roundTrip(disc, x32, 'disc');
  } finally {
    [unet, resnet, disc].forEach((m) => m.dispose());
  }
});

test('saving over an existing model replaces it atomically, leaving no temp dirs', async () => {
  const dir = join(root, 'overwrite');
  const a = buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 1 });
  const b = buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 2 });
  const x = tf.randomUniform([1, 16, 16, 3], -1, 1, 'float32', 3);
  try {
    await saveLayersModel(a, dir);
    await writeFile(join(dir, 'stale.txt'), 'from an older save');
    await saveLayersModel(b, dir);
    assert.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights.bin']);
    assert.deepEqual((await readdir(root)).filter((n) => n.startsWith('overwrite')), ['overwrite']);
    const loaded = await loadLayersModel(join(dir, 'model.json'));
    assert.deepEqual(
      Array.from((loaded.predict(x) as tf.Tensor).dataSync()),
      Array.from((b.predict(x) as tf.Tensor).dataSync()),
    );
    loaded.dispose();
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('load errors name the file and the problem', async () => {
  const missing = join(root, 'nope');
  await assert.rejects(loadLayersModel(missing), { message: `${join(missing, 'model.json')}: not found` });

  const dir = join(root, 'broken');
  const model = buildPatchDiscriminator({ ndf: 4, nLayers: 1, seed: 1 });
  await saveLayersModel(model, dir);
  model.dispose();
  const bin = join(dir, 'weights.bin');
  const size = (await readFile(bin)).byteLength;
  await truncate(bin, size - 4);
  await assert.rejects(loadLayersModel(dir), {
    message: `${bin} is ${size - 4} bytes, model.json expects ${size}`,
  });
  await rm(bin);
  await assert.rejects(loadLayersModel(dir), { message: `${bin}: not found` });

  await writeFile(join(dir, 'model.json'), '{"modelTopology": ');
  await assert.rejects(loadLayersModel(dir), new RegExp(`^Error: ${join(dir, 'model.json')}: corrupt JSON`));
  await writeFile(join(dir, 'model.json'), '{"hello": 1}');
  await assert.rejects(loadLayersModel(dir), /model.json: not a tfjs layers model/);
});
