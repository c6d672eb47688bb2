/**
 * The real `--feature-disc mobilenetv2` backbone: read from nsfwjs's files (checked, never run),
 * the same function as tfjs's own model of nsfwjs's topology, the map sizes a crop gives, input
 * gradients on wasm, the input range nsfwjs feeds, and a training step that neither changes nor
 * stores its weights.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { decodeToRgb } from '../../src/data/image-io.ts';
import { useBackend } from '../../src/engine/backend.ts';
import type { FeatureBackbone } from '../../src/models/backbones/backbone.ts';
import { loadMobileNetV2, MOBILENETV2_TAPS, nsfwjsRoot, readNsfwjsMobileNetV2 } from '../../src/models/backbones/mobilenetv2.ts';
import { loadFeatureBackbone } from '../../src/models/backbones/registry.ts';
import { loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan, type FeatureStepLosses, type StepLosses } from '../../src/train/cyclegan.ts';
import { Rng } from '../../src/util/rng.ts';
import { scratch } from '../faults/helpers.ts';

let work: string;
let cleanup: () => Promise<void>;
before(async () => {
  ({ dir: work, cleanup } = await scratch('cyclegan-mobilenetv2-'));
});
after(() => cleanup());

const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);
const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).slice().buffer);

/**
 * tfjs's own LayersModel of nsfwjs's topology and weights at `size` px, cut after the last tap
 * (the classifier after it needs 224 px), with the taps as outputs.
 */
async function referenceModel(size: number): Promise<tf.LayersModel> {
  const { topology, specs, weightData } = await readNsfwjsMobileNetV2();
  type Layer = { name: string; config: Record<string, unknown> };
  const copy = structuredClone(topology) as { model_config: { config: { layers: Layer[]; output_layers: unknown[] } } };
  const config = copy.model_config.config;
  config.layers = config.layers.slice(0, config.layers.findIndex((l) => l.name === MOBILENETV2_TAPS.at(-1)) + 1);
  config.layers[0]!.config.batch_input_shape = [null, size, size, 3];
  config.output_layers = MOBILENETV2_TAPS.map((t) => [t, 0, 0]);
  // Not strict: the weights of the layers cut off have no layer to go to.
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: copy as never, weightSpecs: specs, weightData }), { strict: false });
}

/** Multiply-adds of one forward pass through a model's convolutions (its output sizes fixed). */
function convMacs(model: tf.LayersModel): number {
  let macs = 0;
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind !== 'Conv2D' && kind !== 'DepthwiseConv2D') continue;
    const [kh, kw, cin, cout] = layer.getWeights()[0]!.shape as number[];
    const [, h, w] = layer.outputShape as number[];
    macs += h! * w! * kh! * kw! * cin! * (kind === 'Conv2D' ? cout! : 1);
  }
  return macs;
}

describe('the mobilenetv2 backbone', () => {
  it("reads nsfwjs@4.4.0's data modules, checked by SHA-256; another version or a changed file is refused by name", async () => {
    const root = nsfwjsRoot();
    const fake = join(work, 'nsfwjs');
    const models = join(fake, 'dist', 'models', 'mobilenet_v2');
    await mkdir(models, { recursive: true });
    for (const f of ['model.min.js', 'group1-shard1of1.min.js']) await copyFile(join(root, 'dist/models/mobilenet_v2', f), join(models, f));
    await writeFile(join(fake, 'package.json'), JSON.stringify({ name: 'nsfwjs', version: '4.5.0' }));
    await assert.rejects(readNsfwjsMobileNetV2(fake), /nsfwjs@4\.4\.0's files; .* holds nsfwjs@4\.5\.0/);
    await writeFile(join(fake, 'package.json'), JSON.stringify({ name: 'nsfwjs', version: '4.4.0' }));
    const weights = join(models, 'group1-shard1of1.min.js');
    const text = await readFile(weights, 'utf8');
    await writeFile(weights, text.replace('exports="', 'exports="A'));
    await assert.rejects(readNsfwjsMobileNetV2(fake), /group1-shard1of1\.min\.js: SHA-256 [0-9a-f]{64}, expected ef2e0a63/);
  });

  it('computes what tfjs computes with nsfwjs’s own topology (taps within 1e-5 of their largest value), and a 128-px crop gives 32×32×24, 16×16×32 and 8×8×64 maps', async () => {
    await useBackend('cpu');
    const backbone = await loadFeatureBackbone('mobilenetv2');
    const reference = await referenceModel(64);
    try {
      assert.deepEqual(backbone.identity.taps, ['block_2_add', 'block_5_add', 'block_9_add']);
      assert.match(backbone.identity.version, /^nsfwjs@4\.4\.0 .*sha256:ef2e0a63f7d2c496$/);
      assert.deepEqual(
        [backbone.channels, backbone.strides],
        [
          [24, 32, 64],
          [4, 8, 16],
        ],
      );
      const x = tf.randomUniform([2, 64, 64, 3], -1, 1, 'float32', 1) as tf.Tensor4D;
      const ours = backbone.features(x);
      // The reference takes nsfwjs's input, pixels/255: (x + 1)/2 for our [-1, 1].
      const theirs = reference.predict(tf.div(tf.add(x, 1), 2)) as tf.Tensor[];
      ours.forEach((o, i) => {
        assert.deepEqual(o.shape, theirs[i]!.shape);
        const scale = maxAbs(theirs[i]!);
        assert.ok(scale > 1, `${MOBILENETV2_TAPS[i]}: a real activation (largest ${scale})`);
        assert.ok(maxAbs(tf.sub(o, theirs[i]!)) <= 1e-5 * scale, `${MOBILENETV2_TAPS[i]}: differs by ${maxAbs(tf.sub(o, theirs[i]!))}`);
      });
      const maps = backbone.features(tf.zeros([1, 128, 128, 3]));
      assert.deepEqual(
        maps.map((m) => m.shape),
        [
          [1, 32, 32, 24],
          [1, 16, 16, 32],
          [1, 8, 8, 64],
        ],
      );
      tf.dispose([x, ...ours, ...theirs, ...maps]);
    } finally {
      backbone.dispose();
      reference.dispose();
    }
  });

  it('costs 49.6M multiply-adds a forward pass on a 128-px crop, and holds 248,768 weights (to block_9_add)', async (t) => {
    await useBackend('cpu');
    const reference = await referenceModel(128);
    try {
      // docs/training.md quotes these two figures.
      assert.equal(convMacs(reference), 49_553_408);
      assert.equal(reference.countParams(), 248_768);
      t.diagnostic(`${(convMacs(reference) / 1e6).toFixed(1)}M multiply-adds, ${reference.countParams()} weights (batch norms unfolded)`);
    } finally {
      reference.dispose();
    }
  });

  it('gradients reach every input pixel, on wasm as tfjs’s own model gives them on cpu (within 1e-4 of the largest)', async () => {
    const image = () => tf.randomUniform([1, 64, 64, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const loss = (maps: tf.Tensor[]) => tf.addN(maps.map((m) => tf.mean(tf.square(m))));
    await useBackend('cpu');
    const reference = await referenceModel(64);
    const expected = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => loss(reference.apply(tf.div(tf.add(x, 1), 2)) as tf.Tensor[]))(image())
        .dataSync()
        .slice(),
    );
    reference.dispose();
    await useBackend('wasm');
    const backbone = await loadMobileNetV2();
    const got = tf.tidy(() =>
      tf
        .grad((x: tf.Tensor) => loss(backbone.features(x as tf.Tensor4D)))(image())
        .dataSync()
        .slice(),
    );
    backbone.dispose();
    const largest = Math.max(...expected.map(Math.abs));
    assert.ok(largest > 1e-3, `a real gradient (largest ${largest})`);
    assert.ok(got.every((g) => Number.isFinite(g)) && got.filter((g) => g !== 0).length > 0.99 * got.length, 'nonzero almost everywhere');
    let worst = 0;
    got.forEach((g, i) => (worst = Math.max(worst, Math.abs(g - expected[i]!))));
    assert.ok(worst <= 1e-4 * largest, `differs by ${worst} (${worst / largest} of the largest)`);
  });

  it("is fed nsfwjs's range, [0, 1]: on the example photos Conv1's statistics are closer to bn_Conv1's moving statistics than with [-1, 1]", async (t) => {
    await useBackend('cpu');
    const { weights } = await readNsfwjsMobileNetV2();
    const photos = await Promise.all(
      ['nokota-horses.webp', 'zaniskari-horse.webp'].map((f) =>
        decodeToRgb(join('assets/examples', f), f, { resize: { width: 224, height: 224, kernel: 'bilinear' } }),
      ),
    );
    const distance = (toRange: (x: tf.Tensor) => tf.Tensor) =>
      tf.tidy(() => {
        const x = toRange(tf.div(tf.stack(photos.map((p) => tf.tensor3d(p.data, [224, 224, 3], 'float32'))), 255));
        const conv = tf.conv2d(
          tf.pad(x as tf.Tensor4D, [
            [0, 0],
            [0, 1],
            [0, 1],
            [0, 0],
          ]),
          weights.get('Conv1/kernel') as tf.Tensor4D,
          2,
          'valid',
        );
        const { mean, variance } = tf.moments(conv, [0, 1, 2]);
        const meanGap = tf.mean(tf.abs(tf.sub(mean, weights.get('bn_Conv1/moving_mean')!)));
        const varianceGap = tf.mean(tf.abs(tf.log(tf.div(tf.add(variance, 1e-3), tf.add(weights.get('bn_Conv1/moving_variance')!, 1e-3)))));
        return [meanGap.dataSync()[0]!, varianceGap.dataSync()[0]!];
      });
    const zeroOne = distance((x) => x);
    const minusOneOne = distance((x) => tf.sub(tf.mul(x, 2), 1));
    tf.dispose([...weights.values()]);
    t.diagnostic(
      `[0, 1] against [-1, 1]: mean gap ${zeroOne[0]!.toFixed(3)} against ${minusOneOne[0]!.toFixed(3)}, log-variance gap ${zeroOne[1]!.toFixed(3)} against ${minusOneOne[1]!.toFixed(3)}`,
    );
    assert.ok(zeroOne[0]! < minusOneOne[0]! / 3, `mean gap ${zeroOne[0]} against ${minusOneOne[0]}`);
    assert.ok(zeroOne[1]! < 0.75 * minusOneOne[1]!, `log-variance gap ${zeroOne[1]} against ${minusOneOne[1]}`);
  });

  it('a training step never changes its weights, no optimizer holds them, and a checkpoint stores only the heads and records the backbone', async () => {
    await useBackend('wasm');
    const config = resolveConfig({
      generator: 'resnet6',
      ngf: 4,
      ndf: 4,
      cropSize: 32,
      loadSize: 32,
      poolSize: 0,
      featureDisc: 'mobilenetv2',
    });
    const backbone: FeatureBackbone = await loadMobileNetV2();
    const gan = new CycleGan(config, new Rng(1), undefined, { backbone });
    try {
      const before = backbone.weights().map(bytes);
      const headsBefore = gan.featureCritic!.heads.get('B')!.getWeights().map(bytes);
      const [a, b] = [tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 3), tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 4)];
      const losses = (await gan.trainStep(a as tf.Tensor4D, b as tf.Tensor4D)) as StepLosses & Partial<FeatureStepLosses>;
      tf.dispose([a, b]);
      assert.ok(losses.featAtoB! > 0 && losses.discFeatB! > 0, JSON.stringify(losses));
      backbone.weights().forEach((w, i) => assert.ok(bytes(w).equals(before[i]!), `backbone weight ${i} changed`));
      assert.ok(
        gan
          .featureCritic!.heads.get('B')!
          .getWeights()
          .some((w, i) => !bytes(w).equals(headsBefore[i]!)),
        'the heads learned',
      );
      const backboneIds = new Set(backbone.weights().map((w) => w.id));
      for (const [key, opt] of Object.entries(gan.optimizerRecord())) {
        assert.ok(!opt.variables.some((v) => backboneIds.has(v.id)), `${key} holds a backbone weight`);
      }
      const dir = await saveCheckpoint(join(work, 'run'), 'step-00000001', gan, {
        epoch: 0,
        stepInEpoch: 1,
        globalStep: 1,
        rng: gan.rng.getState(),
        pipeline: { epoch: 0, index: 1, orderA: [], orderB: [] } as never,
        running: { sums: losses, count: 1 },
        data: work,
      });
      assert.deepEqual((await readdir(dir)).sort(), ['D_A', 'D_B', 'FD_A', 'FD_B', 'G_AtoB', 'G_BtoA', 'cyclegan.json', 'state.bin']);
      const meta = JSON.parse(await readFile(join(dir, 'cyclegan.json'), 'utf8')) as { featureBackbone: unknown };
      assert.deepEqual(meta.featureBackbone, backbone.identity);
      // Every stored value is a network's weight or a moment of one (the trunk's 248,768 values would add to them).
      const count = (ms: tf.LayersModel[]) => ms.reduce((n, m) => n + m.countParams(), 0);
      const trained = count(Object.values(gan.networks()));
      const ckpt = await loadCheckpoint(dir);
      assert.equal(count(Object.values(ckpt.models)), trained);
      assert.equal((await stat(join(dir, 'state.bin'))).size, 4 * 2 * trained, 'state.bin: two Adam moments per trained weight');
      assert.equal(
        count([ckpt.models.featDiscA!, ckpt.models.featDiscB!]),
        2 * (24 * 4 + 4 + 4 * 4 * 9 + 4 + 4 + 1 + (32 * 4 + 4 + 4 * 4 * 9 + 4 + 4 + 1) + (64 * 4 + 4 + 4 * 4 * 9 + 4 + 4 + 1)),
        'FD_A and FD_B hold three heads each of width ndf 4',
      );
      for (const m of Object.values(ckpt.models)) m.dispose();
    } finally {
      gan.dispose();
    }
  });
});
