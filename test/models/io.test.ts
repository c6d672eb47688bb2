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
    assert.deepEqual(
      (await readdir(root)).filter((n) => n.startsWith('overwrite')),
      ['overwrite'],
    );
    const loaded = await loadLayersModel(join(dir, 'model.json'));
    assert.deepEqual(Array.from((loaded.predict(x) as tf.Tensor).dataSync()), Array.from((b.predict(x) as tf.Tensor).dataSync()));
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

test("quantized saves: float16 halves and uint8 quarters the weights, values within the format's rounding", async () => {
  const model = buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 3 });
  const original = model.getWeights().map((w) => w.dataSync() as Float32Array);
  await saveLayersModel(model, join(root, 'q32'));
  const bytes32 = (await readFile(join(root, 'q32', 'weights.bin'))).byteLength;
  for (const [kind, ratio] of [
    ['float16', 2],
    ['uint8', 4],
  ] as const) {
    const dir = join(root, `q-${kind}`);
    await saveLayersModel(model, dir, { quantize: kind });
    assert.equal((await readFile(join(dir, 'weights.bin'))).byteLength, bytes32 / ratio);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const specs = json.weightsManifest[0].weights as { quantization: { dtype: string; scale?: number } }[];
    assert.ok(specs.every((s) => s.quantization.dtype === kind));
    const loaded = await loadLayersModel(dir);
    loaded.getWeights().forEach((w, i) => {
      const got = w.dataSync();
      const want = original[i]!;
      const scale = specs[i]!.quantization.scale ?? 0;
      for (let j = 0; j < want.length; j++) {
        // float16 keeps 11 significant bits (relative error <= 2^-11 for normal values); uint8 is off by at most half a step.
        const bound = kind === 'float16' ? Math.abs(want[j]!) * 2 ** -11 + 6e-8 : scale / 2 + 1e-7;
        assert.ok(Math.abs(got[j]! - want[j]!) <= bound, `${kind} weight ${i}[${j}]: ${got[j]} vs ${want[j]}`);
      }
    });
    const x = tf.randomUniform([1, 8, 8, 3], -1, 1, 'float32', 5);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor))).dataSync()[0]!);
    assert.ok(diff < (kind === 'float16' ? 1e-2 : 0.2), `${kind} output differs by ${diff}`);
    assert.ok(diff > 0, 'quantization changed the weights at all');
    x.dispose();
    loaded.dispose();
  }
  model.dispose();
});
