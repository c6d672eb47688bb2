/**
 * --batch-size: a batch of N images per domain in each step, as the official --batch_size.
 * Instance norm is per image, so a batch translates each image as it would alone; the image pool
 * swaps each image of a batch on its own; the epoch's last step takes what is left; and a run at
 * batch 2 resumes exactly.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { buildResnetGenerator } from '../../src/models/generators.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig, type CutConfig } from '../../src/train/config.ts';
import { Cut } from '../../src/train/cut.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { ImagePool } from '../../src/train/image-pool.ts';
import { train } from '../../src/train/loop.ts';
import { TRAIN_OPTIONS } from '../../src/train/options.ts';
import { Rng } from '../../src/util/rng.ts';

let work: string;
let data: string;

before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-batch-'));
  // 3 A and 4 B: an epoch of 4 pairs ('max'), so batch 3 gives a step of 3 and a step of 1.
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 4, testA: 1, testB: 1 });
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

const images = (n: number, seed: number) => tf.randomUniform([n, 20, 20, 3], -1, 1, 'float32', seed) as tf.Tensor4D;

describe('batch size', () => {
  it('is an option of one or more images, 1 by default', () => {
    assert.equal(resolveConfig().batchSize, 1);
    assert.equal(TRAIN_OPTIONS.batchSize.toConfig('4'), 4);
    assert.throws(() => TRAIN_OPTIONS.batchSize.toConfig('0'), /--batch-size must be an integer >= 1, got '0'/);
    assert.throws(() => resolveConfig({ batchSize: 1.5 }), /invalid training option batchSize: 1.5/);
  });

  it('a crop too small for the PatchGAN is refused: its logit map would be empty', () => {
    assert.throws(
      () => resolveConfig({ generator: 'resnet6', cropSize: 16, loadSize: 16 }),
      /^Error: --crop-size 16 is too small for a PatchGAN of 3 stride-2 layers \(--n-layers-d\): it leaves no patch to judge; it needs at least 17 px$/,
    );
    assert.doesNotThrow(() => resolveConfig({ generator: 'resnet6', cropSize: 20, loadSize: 20 }));
    assert.doesNotThrow(() => resolveConfig({ generator: 'resnet6', cropSize: 16, loadSize: 16, nLayersD: 2 }));
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`on ${backend}, a batch of two translates each image as it would alone (instance norm per image)`, async () => {
      await useBackend(backend);
      const generator = buildResnetGenerator({ ngf: 4, nBlocks: 2, seed: 3 });
      const [pair, alone] = tf.tidy(() => {
        const x = images(2, 5);
        const together = generator.apply(x, { training: true }) as tf.Tensor4D;
        const apart = tf.concat(
          [0, 1].map((i) => generator.apply(tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]), { training: true }) as tf.Tensor4D),
        );
        return [together, apart];
      });
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(pair, alone))).dataSync()[0]!);
      tf.dispose([pair, alone]);
      generator.dispose();
      assert.ok(diff <= 1e-6, `batch vs one by one: max |diff| ${diff}`);
      await useBackend('wasm');
    });
  }

  it('the image pool swaps each image of a batch as one-image queries would', async () => {
    const batched = new ImagePool(2, new Rng(9));
    const single = new ImagePool(2, new Rng(9));
    for (let step = 0; step < 6; step++) {
      const fake = images(3, 20 + step);
      const together = await batched.query(fake);
      const parts: tf.Tensor4D[] = [];
      for (let i = 0; i < 3; i++) {
        const one = tf.slice(fake, [i, 0, 0, 0], [1, -1, -1, -1]);
        parts.push(await single.query(one));
        one.dispose();
      }
      const apart = tf.concat(parts);
      assert.deepEqual(Array.from(together.dataSync()), Array.from(apart.dataSync()), `step ${step}`);
      tf.dispose([fake, together, apart, ...parts]);
    }
    assert.deepEqual(batched.getState().shape, [1, 20, 20, 3]);
    assert.equal(batched.size, 2);
  });

  it('CycleGAN and CUT steps on a batch of two free every tensor they make', async () => {
    const common = { generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 20, loadSize: 20, poolSize: 2 } as const;
    const models = [
      new CycleGan(resolveConfig(common), new Rng(1)),
      new Cut(resolveConfig({ ...common, method: 'cut', ncePatches: 16, poolSize: 0 }) as CutConfig, new Rng(1)),
    ];
    for (const model of models) {
      const counts: number[] = [];
      for (let step = 0; step < 4; step++) {
        const [a, b] = [images(2, step), images(2, 50 + step)];
        const losses = await model.trainStep(a, b);
        tf.dispose([a, b]);
        for (const [name, v] of Object.entries(losses)) assert.ok(Number.isFinite(v), `${name} = ${v}`);
        counts.push(tf.memory().numTensors);
      }
      model.dispose();
      assert.equal(counts[3], counts[1], `${model.config.method}: numTensors ${counts.join(', ')}`);
    }
  });

  it('an epoch of 4 pairs at batch 3 is a step of 3 and a step of 1, and a resumed run equals an uninterrupted one', async () => {
    const config = { preset: 'paper', generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 20, loadSize: 24, epochs: 2, saveEvery: 1 } as const;
    const run = { ...config, epochsDecay: 0, batchSize: 3, poolSize: 2, seed: 4 };
    const straight = join(work, 'straight');
    const seen: number[] = [];
    const result = await train({ data, out: straight, config: run, onEpoch: (e) => seen.push(e.steps) });
    assert.equal(result.position.globalStep, 4);
    assert.deepEqual(seen, [2, 2]);
    const log = (await readFile(join(straight, 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { globalStep: number });
    assert.deepEqual(
      log.map((l) => l.globalStep),
      [2, 4],
    );

    // Stopped mid-epoch (after the 3-image step), then resumed: the same weights and Adam moments.
    const split = join(work, 'split');
    const first = await train({ data, out: split, config: run, maxSteps: 3 });
    assert.equal(first.reason, 'max-steps');
    assert.equal(first.position.pipeline.indexInEpoch, 3, 'the pipeline stands after the 3 images of the stopped epoch');
    await train({ out: split, resume: true });
    const [a, b] = [await loadCheckpoint(straight), await loadCheckpoint(split)];
    for (const [net, model] of Object.entries(a.models)) {
      const other = b.models[net]!;
      model
        .getWeights()
        .forEach((w, i) => assert.deepEqual(Array.from(w.dataSync()), Array.from(other.getWeights()[i]!.dataSync()), `${net}/${i}`));
    }
    for (const m of [...Object.values(a.models), ...Object.values(b.models)]) m.dispose();
    await assert.rejects(train({ out: split, resume: true, config: { batchSize: 2 } }), /batchSize: checkpoint has 3, requested 2/);
  });
});
