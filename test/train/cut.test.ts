import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { openDataset } from '../../src/data/dataset.ts';
import { readImage } from '../../src/data/image-io.ts';
import { stripeEnergy, writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { imageToPixels } from '../../src/data/pixels.ts';
import { loadLayersModel, saveLayersModel } from '../../src/models/io.ts';
import { encodePatches, multiLayerPatchNceLoss, samplePatchIdsForTaps } from '../../src/models/patch-nce.ts';
import type { AdamState } from '../../src/train/adam.ts';
import { CUT_PRESETS, Cut, resolveCutConfig, type CutConfig, type CutLosses } from '../../src/train/cut.ts';
import { Rng } from '../../src/util/rng.ts';

/**
 * CUT with flips on as well, so that every path of the step (identity term, flipped queries)
 * runs; 64 patches instead of 256 because the heads are a fifth of a cpu step (still fewer than
 * the 38² positions of the first tap, and all of the last taps' 8²).
 */
const TINY: Partial<CutConfig> = {
  method: 'cut',
  flipEquivariance: true,
  ncePatches: 64,
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  seed: 3,
};

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cyclegan-cut-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Fixed batches as plain arrays, so that every backend gets the same inputs. */
function batches(n: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: 32 * 32 * 3 }, () => rng.next() * 2 - 1));
}

async function step(cut: Cut, a: Float32Array, b: Float32Array): Promise<CutLosses> {
  const [ta, tb] = [tf.tensor4d(a, [1, 32, 32, 3]), tf.tensor4d(b, [1, 32, 32, 3])];
  try {
    return await cut.trainStep(ta, tb);
  } finally {
    tf.dispose([ta, tb]);
  }
}

/** Every weight of every network and every Adam moment, by name. */
async function snapshot(cut: Cut): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [net, model] of Object.entries(cut.networks())) {
    model.getWeights().forEach((w, i) => out.set(`${net}/${i}`, w.dataSync().slice() as Float32Array));
  }
  for (const [name, opt] of Object.entries(cut.optimizerRecord())) {
    const state = await opt.getState();
    out.set(`${name}/step`, Float32Array.of(state.step));
    state.moments.forEach((m, i) => out.set(`${name}/adam${i}`, m.slice()));
  }
  return out;
}

describe('CUT configuration', () => {
  it('has the two presets of cut_model.py and refuses what CUT cannot do', async () => {
    await useBackend('cpu');
    const cut = resolveCutConfig({ method: 'cut' });
    assert.deepEqual(
      [cut.lambdaGan, cut.lambdaNce, cut.nceIdentity, cut.flipEquivariance, cut.ncePatches, cut.nceTemperature],
      [1, 1, true, false, 256, 0.07],
    );
    const fast = resolveCutConfig({ method: 'fastcut', generator: 'resnet6' });
    assert.deepEqual([fast.lambdaNce, fast.nceIdentity, fast.flipEquivariance, fast.epochs, fast.epochsDecay], [10, false, true, 150, 50]);
    assert.equal(fast.generator, 'resnet6');
    for (const c of [cut, fast]) {
      assert.deepEqual([c.ganLoss, c.poolSize, c.lr, c.beta1, c.beta2], ['lsgan', 0, 2e-4, 0.5, 0.999]);
    }
    assert.deepEqual(Object.keys(CUT_PRESETS), ['cut', 'fastcut']);
    assert.throws(
      () => resolveCutConfig({ method: 'cut', generator: 'unet' }),
      /--method cut needs the ResNet generator \(--generator resnet9 or resnet6\)/,
    );
    assert.throws(() => resolveCutConfig({ method: 'fastcut', poolSize: 50 }), /without an image pool/);
    assert.throws(() => resolveCutConfig({ ncePatches: 0 }), /invalid CUT option ncePatches: 0/);
    assert.throws(() => resolveCutConfig({ method: 'dcl' as never }), /unknown method "dcl"/);
    const model = new Cut(resolveCutConfig(TINY), new Rng(1));
    assert.deepEqual(Object.keys(model.networks()), [
      'genAtoB',
      'discB',
      'F_stem_pad',
      'F_down1_conv',
      'F_down2_conv',
      'F_res1_add',
      'F_res5_add',
    ]);
    assert.deepEqual(Object.keys(model.optimizerRecord()), ['genAtoB', 'discB', 'heads']);
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    assert.deepEqual(model.translate(x, 'AtoB').shape, [1, 32, 32, 3]);
    assert.throws(() => model.translate(x, 'BtoA'), /CUT model translates A→B only \(it has no B→A generator\)/);
    model.setLearningRate(1e-3);
    assert.ok(Object.values(model.optimizerRecord()).every((o) => o.lr === 1e-3));
    model.dispose();
    x.dispose();
  });
});

describe('CUT training on cpu', () => {
  before(async () => {
    await useBackend('cpu');
  });

  it('a stop after 1 step and a restore from saved networks and Adam states continues bit for bit', async () => {
    const config = resolveCutConfig(TINY);
    const data = batches(4, 11);
    const straight = new Cut(config, new Rng(21));
    const l1: CutLosses[] = [];
    const flips: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      l1.push(await step(straight, data[2 * i]!, data[2 * i + 1]!));
      flips.push(straight.lastStepFlipped);
    }
    assert.deepEqual(flips, [true, false], 'with this seed the first step flips and the resumed one does not');

    const first = new Cut(config, new Rng(21));
    assert.deepEqual(await step(first, data[0]!, data[1]!), l1[0]);
    const dir = join(work, 'stopped');
    for (const [name, model] of Object.entries(first.networks())) await saveLayersModel(model, join(dir, name));
    const states: Record<string, AdamState> = {};
    for (const [name, opt] of Object.entries(first.optimizerRecord())) {
      const s = await opt.getState();
      states[name] = { step: s.step, moments: s.moments.map((m) => m.slice()) }; // getState hands out the live arrays
    }
    const rngState = first.rng.getState();
    first.dispose();

    const loaded: Record<string, tf.LayersModel> = {};
    for (const name of Object.keys(straight.networks())) loaded[name] = await loadLayersModel(join(dir, name));
    const resumed = new Cut(config, new Rng(rngState), loaded);
    for (const [name, opt] of Object.entries(resumed.optimizerRecord())) opt.setState(states[name]!);
    assert.deepEqual(await step(resumed, data[2]!, data[3]!), l1[1]);
    const [a, b] = [await snapshot(straight), await snapshot(resumed)];
    assert.equal(a.size, b.size);
    for (const [name, values] of a) assert.deepEqual(Array.from(b.get(name)!), Array.from(values), `${name} differs`);
    straight.dispose();
    resumed.dispose();
  });

  it('refuses networks that do not fit', () => {
    const config = resolveCutConfig(TINY);
    const donor = new Cut(config, new Rng(1));
    const wider = new Cut(resolveCutConfig({ ...TINY, ngf: 8 }), new Rng(1));
    const { genAtoB, discB } = donor.networks();
    assert.throws(() => new Cut(config, new Rng(1), { genAtoB: genAtoB!, discB: discB! }), /CUT networks lack 'F_stem_pad'/);
    assert.throws(
      () => new Cut(config, new Rng(1), { ...wider.networks(), genAtoB: genAtoB! }),
      /head F_down1_conv takes 16 channels, the generator's down1_conv has 8/,
    );
    donor.dispose();
    wider.dispose();
  });
});

describe('the CUT step', () => {
  before(async () => {
    await useBackend('wasm');
  });

  it('contrasts each output patch with the input patch at the same position, flipped back', async () => {
    const config = resolveCutConfig({ ...TINY, lambdaNce: 2 });
    const cut = new Cut(config, new Rng(21)); // its first coin flips
    const [a, b] = batches(2, 13).map((d) => tf.tensor4d(d, [1, 32, 32, 3]));
    // The step's NCE terms rebuilt from the parts, on the networks before the step, drawing from
    // a copy of the step's Rng in the order the step does: the coin, A's positions, B's positions.
    const rng = new Rng(cut.rng.getState());
    const flipped = rng.next() < 0.5;
    assert.equal(flipped, true);
    const term = (x: tf.Tensor4D) =>
      tf.tidy(() => {
        const keyFeats = cut.taps.encoder.predict(x) as tf.Tensor4D[];
        const ids = samplePatchIdsForTaps(keyFeats, config.ncePatches, rng);
        const fake = cut.genAtoB.predict(tf.reverse(x, 2)) as tf.Tensor4D;
        const queryFeats = (cut.taps.encoder.predict(fake) as tf.Tensor4D[]).map((f) => tf.reverse(f, 2) as tf.Tensor4D);
        const nce = multiLayerPatchNceLoss(
          encodePatches(cut.heads, queryFeats, ids),
          encodePatches(cut.heads, keyFeats, ids),
          config.nceTemperature,
        );
        return nce.dataSync()[0]! * config.lambdaNce;
      });
    const [expectedA, expectedB] = [term(a!), term(b!)];
    const losses = await cut.trainStep(a!, b!);
    assert.ok(Math.abs(losses.nce - expectedA) < 1e-5 * expectedA, `NCE(a, G(a)): step ${losses.nce}, rebuilt ${expectedA}`);
    assert.ok(
      Math.abs(losses.nceIdentity - expectedB) < 1e-5 * expectedB,
      `NCE(b, G(b)): step ${losses.nceIdentity}, rebuilt ${expectedB}`,
    );
    assert.deepEqual(cut.rng.getState(), rng.getState(), 'the step drew exactly the coin and the positions');
    tf.dispose([a!, b!]);
    cut.dispose();
  });
});

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`CUT on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    // On cpu (a step takes seconds there) CUT with flips only: FastCUT's step is a subset of it.
    const methods = backend === 'cpu' ? [TINY] : [TINY, { ...TINY, method: 'fastcut' } as const];
    it(`keeps the live tensor count flat across flipped and unflipped steps (${methods.map((m) => m.method).join(', ')})`, async () => {
      for (const overrides of methods) {
        const cut = new Cut(resolveCutConfig(overrides), new Rng(3));
        const data = batches(8, 2);
        const counts: number[] = [];
        const flips: boolean[] = [];
        for (let i = 0; i < 4; i++) {
          const losses = await step(cut, data[2 * i]!, data[2 * i + 1]!);
          for (const [name, v] of Object.entries(losses)) assert.ok(Number.isFinite(v), `${name} = ${v}`);
          counts.push(tf.memory().numTensors);
          flips.push(cut.lastStepFlipped);
        }
        assert.ok(flips.slice(1).includes(true) && flips.slice(1).includes(false), `steps 2-4 both flipped and not: ${flips}`);
        const before = tf.memory().numTensors;
        cut.dispose();
        assert.ok(tf.memory().numTensors < before, 'dispose frees the networks');
        assert.equal(counts[3], counts[1], `numTensors after step 2 (${counts[1]}) vs step 4 (${counts[3]})`);
      }
    });
  });
}

describe('CUT on cpu and wasm', () => {
  it('one step gives the same losses and weights within float tolerance', async () => {
    const data = batches(2, 5);
    const run = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      const cut = new Cut(resolveCutConfig(TINY), new Rng(8));
      const losses = await step(cut, data[0]!, data[1]!);
      const weights = cut.genAtoB.getWeights().map((w) => w.dataSync().slice());
      cut.dispose();
      return { losses, weights };
    };
    const cpu = await run('cpu');
    const wasm = await run('wasm');
    for (const key of Object.keys(cpu.losses) as (keyof CutLosses)[]) {
      const [x, y] = [cpu.losses[key], wasm.losses[key]];
      assert.ok(Math.abs(x - y) <= 1e-4 * Math.max(1, Math.abs(x)), `${key}: cpu ${x}, wasm ${y}`);
    }
    assert.ok(cpu.losses.nce > 0 && cpu.losses.nceIdentity > 0 && cpu.losses.discB > 0);
    // Adam's first step moves every weight by about ±lr whatever the gradient's size, so a weight
    // whose gradient is ~0 may go either way on the two backends: at most 2·lr apart, and those
    // are few.
    const lr = resolveCutConfig(TINY).lr;
    let worst = 0;
    let off = 0;
    let total = 0;
    cpu.weights.forEach((w, i) =>
      w.forEach((v, j) => {
        const d = Math.abs(v - wasm.weights[i]![j]!);
        worst = Math.max(worst, d);
        if (d > 1e-5) off++;
        total++;
      }),
    );
    assert.ok(worst <= 2 * lr + 1e-6, `largest weight difference ${worst}`);
    assert.ok(off <= 0.01 * total, `${off} of ${total} weights differ by more than 1e-5`);
  });
});

describe('a tiny CUT run', () => {
  const enabled = process.env.CYCLEGAN_CUT_LEARNS === '1';
  it(
    'learns: translated smooth images move toward stripes',
    {
      skip: enabled ? false : '300 FastCUT steps, 9 minutes on a loaded 2-core machine: set CYCLEGAN_CUT_LEARNS=1 to run',
      timeout: 1_800_000,
    },
    async () => {
      await useBackend('wasm');
      const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 16, trainB: 16, testA: 6, testB: 6, seed: 5 });
      const dataset = await openDataset(data);
      const load = async (files: string[]) => Promise.all(files.map(async (f) => imageToPixels(await readImage(f)).data));
      const [trainA, trainB, testA, testB] = await Promise.all([dataset.trainA, dataset.trainB, dataset.testA!, dataset.testB!].map(load));
      const cut = new Cut(
        resolveCutConfig({ method: 'fastcut', generator: 'resnet6', ngf: 8, ndf: 8, cropSize: 32, loadSize: 32, seed: 1 }),
        new Rng(1),
      );
      const energy = (images: Float32Array[], translate: boolean) => {
        let sum = 0;
        for (const img of images) {
          const out = translate ? tf.tidy(() => cut.translate(tf.tensor4d(img, [1, 32, 32, 3]), 'AtoB').dataSync() as Float32Array) : img;
          sum += stripeEnergy(out, 32, 32);
        }
        return sum / images.length;
      };
      const [a, b] = [energy(testA!, false), energy(testB!, false)];
      const rng = new Rng(2);
      const steps = 300;
      const t0 = Date.now();
      const nce: number[] = [];
      for (let i = 0; i < steps; i++) nce.push((await step(cut, trainA![rng.int(trainA!.length)]!, trainB![rng.int(trainB!.length)]!)).nce);
      const seconds = (Date.now() - t0) / 1000;
      const ab = energy(testA!, true);
      cut.dispose();
      const mean = (xs: number[]) => xs.reduce((s, v) => s + v, 0) / xs.length;
      console.log(
        `FastCUT ${steps} steps in ${seconds.toFixed(0)} s; NCE first 20 ${mean(nce.slice(0, 20)).toFixed(2)}, last 20 ${mean(nce.slice(-20)).toFixed(2)}; stripe energy A ${a.toFixed(3)}, B ${b.toFixed(3)}, A→B ${ab.toFixed(3)}`,
      );
      assert.ok(b > 3 * a, 'the synthetic domains differ as designed');
      assert.ok(ab > a + 0.3 * (b - a), `translations did not move toward B: A ${a}, A→B ${ab}, B ${b}`);
    },
  );
});
