/**
 * Training with a feature discriminator (`--feature-disc`), on the tiny stand-in backbone: what it
 * adds to a CycleGAN step and nothing else, its heads and their Adam state in checkpoints, a resume
 * that needs the same backbone, validation and best checkpoints, --init-from, export (generators
 * only) and CUT. The real backbone's own tests are test/models/mobilenetv2.test.ts.
 */
import assert from 'node:assert/strict';
import { cp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { unregisterFeatureBackbone } from '../../src/models/backbones/registry.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig, type TrainConfig } from '../../src/train/config.ts';
import { CycleGan, type FeatureStepLosses, type StepLosses } from '../../src/train/cyclegan.ts';
import { loadRunBackbone } from '../../src/train/feature-critic.ts';
import { train } from '../../src/train/loop.ts';
import { buildModel } from '../../src/train/model.ts';
import { warmStart } from '../../src/train/warm-start.ts';
import { Rng } from '../../src/util/rng.ts';
import { scratch } from '../faults/helpers.ts';
import { registerTinyBackbone, TINY_BACKBONE, tinyBackbone } from '../helpers/tiny-backbone.ts';
import { tinyFeatureNet } from './helpers.ts';

const TINY = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  poolSize: 2,
  epochs: 2,
  epochsDecay: 0,
  seed: 5,
} as const satisfies Partial<TrainConfig>;
const FEATURE = { ...TINY, featureDisc: TINY_BACKBONE } as const;

let work: string;
let cleanup: () => Promise<void>;
let data: string;

before(async () => {
  await useBackend('wasm');
  ({ dir: work, cleanup } = await scratch('cyclegan-feature-disc-'));
  data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 3, testA: 1, testB: 1 });
  registerTinyBackbone();
});
after(async () => {
  unregisterFeatureBackbone(TINY_BACKBONE);
  await cleanup();
});

const bytes = (t: tf.Tensor) => Buffer.from((t.dataSync() as Float32Array).slice().buffer);
const weightBytes = (m: tf.LayersModel) => m.getWeights().map(bytes);
const same = (a: Buffer[], b: Buffer[]) => a.length === b.length && a.every((x, i) => x.equals(b[i]!));

/** One step of a fresh CycleGan (weights from config.seed) on fixed images; its networks' weights after. */
async function oneStep(overrides: Partial<TrainConfig>) {
  const config = resolveConfig({ ...TINY, ...overrides });
  const backbone = await loadRunBackbone(config);
  const backboneBefore = backbone?.weights().map(bytes);
  const gan = new CycleGan(config, new Rng(1), undefined, { backbone });
  try {
    const [a, b] = [tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 1), tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 2)];
    const losses = (await gan.trainStep(a as tf.Tensor4D, b as tf.Tensor4D)) as StepLosses & Partial<FeatureStepLosses>;
    tf.dispose([a, b]);
    if (backbone) backbone.weights().forEach((w, i) => assert.ok(bytes(w).equals(backboneBefore![i]!), `backbone weight ${i} changed`));
    const nets = Object.fromEntries(Object.entries(gan.networks()).map(([k, m]) => [k, weightBytes(m)]));
    return { losses, nets, heads: gan.featureCritic ? Object.keys(gan.featureCritic.networks()) : [] };
  } finally {
    gan.dispose();
  }
}

describe('a CycleGAN step with a feature discriminator', () => {
  it('adds only its term: at λ_feature 0 the generators and PatchGANs step exactly as without it; at 1 the generators step otherwise, the PatchGANs alike', async () => {
    const tensors = tf.memory().numTensors;
    const plain = await oneStep({});
    const zero = await oneStep({ featureDisc: TINY_BACKBONE, lambdaFeature: 0 });
    const one = await oneStep({ featureDisc: TINY_BACKBONE, lambdaFeature: 1 });
    assert.equal(tf.memory().numTensors, tensors, 'no tensors left behind');
    assert.deepEqual(zero.heads, ['featDiscA', 'featDiscB']);
    for (const net of ['genAtoB', 'genBtoA', 'discA', 'discB']) assert.ok(same(zero.nets[net]!, plain.nets[net]!), `λ 0: ${net} differs`);
    for (const net of ['genAtoB', 'genBtoA']) assert.ok(!same(one.nets[net]!, plain.nets[net]!), `λ 1: ${net} did not change`);
    // The PatchGANs see the same images: the generators' forward pass comes before their update.
    for (const net of ['discA', 'discB']) assert.ok(same(one.nets[net]!, plain.nets[net]!), `λ 1: ${net} differs`);
    assert.equal(zero.losses.featAtoB, 0);
    // Fresh heads output about 0: LSGAN against 1 is about 1, the heads' halved loss about 0.5.
    for (const k of ['featAtoB', 'featBtoA'] as const) assert.ok(Math.abs(one.losses[k]! - 1) < 0.05, `${k} ${one.losses[k]}`);
    for (const k of ['discFeatA', 'discFeatB'] as const) assert.ok(Math.abs(one.losses[k]! - 0.5) < 0.05, `${k} ${one.losses[k]}`);
    assert.equal(plain.losses.featAtoB, undefined);
  });

  it('needs its backbone, and only with --feature-disc; an unknown backbone is named', async () => {
    const config = resolveConfig(FEATURE);
    assert.throws(() => new CycleGan(config, new Rng(1)), /--feature-disc tiny-test needs its backbone loaded/);
    assert.throws(
      () => new CycleGan(resolveConfig(TINY), new Rng(1), undefined, { backbone: tinyBackbone() }),
      /a feature backbone was given to a model without --feature-disc/,
    );
    await assert.rejects(
      loadRunBackbone(resolveConfig({ ...TINY, featureDisc: 'resnet50' })),
      /unknown feature backbone "resnet50" \(known: mobilenetv2, tiny-test\)/,
    );
    assert.throws(() => resolveConfig({ ...TINY, featureDisc: 'Bad Name' }), /invalid training option featureDisc: "Bad Name"/);
  });
});

describe('training runs with a feature discriminator', () => {
  it('checkpoints hold the heads (FD_A, FD_B) and their Adam state and name the backbone; a resume continues; the log has the four losses', async () => {
    const run = join(work, 'run');
    await train({ data, out: run, config: FEATURE, maxSteps: 2 });
    const ckpt = await loadCheckpoint(run);
    try {
      assert.deepEqual(Object.keys(ckpt.models).sort(), ['discA', 'discB', 'featDiscA', 'featDiscB', 'genAtoB', 'genBtoA']);
      assert.deepEqual(ckpt.meta.networks?.featDiscA, 'FD_A');
      assert.deepEqual(ckpt.meta.featureBackbone, { name: TINY_BACKBONE, version: 'test 1', taps: ['conv1', 'conv2'] });
      assert.equal(ckpt.optimizerStates.featDiscB?.step, 2);
      assert.equal(ckpt.optimizerStates.featDiscB?.moments.length, 2 * ckpt.models.featDiscB!.trainableWeights.length);
      assert.ok(!(await readdir(ckpt.dir)).some((f) => /tiny|backbone/i.test(f)), 'no backbone folder');
    } finally {
      for (const m of Object.values(ckpt.models)) m.dispose();
    }
    const resumed = await train({ out: run, resume: true, maxSteps: 4 });
    assert.equal(resumed.position.globalStep, 4);
    const log = (await readFile(join(run, 'log.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    for (const k of ['featAtoB', 'featBtoA', 'discFeatA', 'discFeatB']) assert.ok(log[0]![k]! > 0, `${k} in ${JSON.stringify(log[0])}`);
  });

  it('a resume against another backbone version, or without the backbone, stops and says what the checkpoint needs', async () => {
    const run = join(work, 'versioned');
    await train({ data, out: run, config: FEATURE, maxSteps: 1 });
    try {
      registerTinyBackbone('test 2');
      await assert.rejects(
        train({ out: run, resume: true, maxSteps: 2 }),
        /was trained against feature backbone tiny-test \(test 1; taps conv1, conv2\); this installation has tiny-test \(test 2; taps conv1, conv2\)/,
      );
      unregisterFeatureBackbone(TINY_BACKBONE);
      await assert.rejects(
        train({ out: run, resume: true, maxSteps: 2 }),
        /needs feature backbone tiny-test \(test 1; taps conv1, conv2\), which cannot be loaded: unknown feature backbone "tiny-test" \(known: mobilenetv2\)/,
      );
    } finally {
      registerTinyBackbone();
    }
    assert.equal((await train({ out: run, resume: true, maxSteps: 2 })).position.globalStep, 2, 'the right backbone resumes');
  });

  it('validates, keeps a best checkpoint with the heads, and exports the generators only', async () => {
    const withVal = join(work, 'val-data');
    await cp(data, withVal, { recursive: true });
    // Validation needs 4 images a domain (the ceiling's two halves): another synthetic set's test images.
    const val = await writeSyntheticDataset(join(work, 'val-images'), { size: 32, trainA: 1, trainB: 1, testA: 4, testB: 4, seed: 9 });
    await cp(join(val, 'testA'), join(withVal, 'valA'), { recursive: true });
    await cp(join(val, 'testB'), join(withVal, 'valB'), { recursive: true });
    const net = tinyFeatureNet();
    const run = join(work, 'validated');
    try {
      const seen: number[] = [];
      await train({
        data: withVal,
        out: run,
        config: { ...FEATURE, evalEvery: 1, evalSize: 32 },
        maxSteps: 2,
        featureNet: net,
        onEval: (e) => seen.push(e.globalStep),
      });
      assert.deepEqual(seen, [1, 2]);
    } finally {
      net.dispose();
    }
    assert.ok((await readdir(join(run, 'checkpoints', 'best'))).includes('FD_B'));
    const out = join(work, 'export');
    const manifest = await exportTfjs(join(run, 'checkpoints', 'best'), out);
    assert.deepEqual(Object.keys(manifest.directions).sort(), ['AtoB', 'BtoA']);
    assert.deepEqual(
      (await readdir(out)).filter((f) => /FD|D_|feat/.test(f)),
      [],
      'no discriminator in the export',
    );
  });

  it('--init-from a plain run: its generators, fresh heads', async () => {
    const plain = join(work, 'plain');
    await train({ data, out: plain, config: TINY, maxSteps: 1 });
    const source = await loadCheckpoint(plain);
    const config = resolveConfig({ ...FEATURE, initFrom: plain });
    const gan = buildModel(config, new Rng(config.seed), undefined, await loadRunBackbone(config));
    try {
      const heads = weightBytes(gan.networks().featDiscA!);
      await warmStart(gan, plain);
      assert.ok(same(weightBytes(gan.networks().genBtoA!), weightBytes(source.models.genBtoA!)));
      assert.ok(same(weightBytes(gan.networks().featDiscA!), heads), 'the heads are not touched');
    } finally {
      gan.dispose();
      for (const m of Object.values(source.models)) m.dispose();
    }
  });

  it('CUT and FastCUT: one feature discriminator, on B', async () => {
    for (const method of ['cut', 'fastcut'] as const) {
      const run = join(work, method);
      await train({ data, out: run, config: { ...FEATURE, method, poolSize: 0, epochs: 1, ncePatches: 16 }, maxSteps: 3 });
      const ckpt = await loadCheckpoint(run);
      try {
        assert.deepEqual(
          Object.keys(ckpt.models).filter((k) => k.startsWith('feat')),
          ['featDiscB'],
        );
        assert.equal(ckpt.optimizerStates.featDiscB?.step, 3);
      } finally {
        for (const m of Object.values(ckpt.models)) m.dispose();
      }
      const log = JSON.parse((await readFile(join(run, 'log.jsonl'), 'utf8')).trim().split('\n')[0]!) as Record<string, number>;
      assert.ok(log.featAtoB! > 0 && log.discFeatB! > 0 && log.nce! > 0, JSON.stringify(log));
    }
  });
});
