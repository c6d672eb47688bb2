/**
 * The webgpu backend (tfjs's WebGPU kernels on Dawn) against the cpu reference, on shapes small
 * enough for a software Vulkan driver (lavapipe, ~2 GFLOP/s): every kernel a training step uses,
 * values and gradients, the frugal backward pass, Adam with its moments on the device and its
 * state moving between backends, a translation of an odd-sized image, and the full CycleGAN step.
 * Skipped, with the reason, where no WebGPU adapter can be created.
 *
 * Reads on webgpu are always `await data()`: Node cannot read a GPU tensor synchronously, and a
 * webgpu tensor must never be touched after switching to cpu (tfjs would move it with a sync read).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { describeBackend, useBackend } from '../../src/engine/backend.ts';
import { installWebGpu } from '../../src/engine/webgpu.ts';
import { geometryFromShape, translateImage, translatePixels } from '../../src/infer/translate-core.ts';
import { buildResnetGenerator } from '../../src/models/generators.ts';
import { InstanceNormalization } from '../../src/models/layers/instance-norm.ts';
import { ReflectionPadding2D } from '../../src/models/layers/reflection-padding.ts';
import { Adam } from '../../src/train/adam.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { variableGradsFrugal } from '../../src/train/gradients.ts';
import { train } from '../../src/train/loop.ts';
import { Rng } from '../../src/util/rng.ts';

const unavailable = await installWebGpu().then(
  () => null,
  (error: Error) => `no WebGPU adapter here: ${error.message}`,
);
if (unavailable) console.log(`# skipping the webgpu tests: ${unavailable}`);

/** Needs CycleGan.trainStep (and ImagePool.query) to read with `await data()`; see the report of the webgpu change. */

function values(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * scale);
}

/** Runs `f` on `backend` and returns every tensor it made, read asynchronously, then disposed. */
async function on(backend: 'cpu' | 'webgpu', f: () => tf.Tensor[]): Promise<Float32Array[]> {
  await useBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(f);
  const read = await Promise.all(out.map((t) => t.data() as Promise<Float32Array>));
  tf.dispose(out);
  assert.equal(tf.memory().numTensors, before, `${backend}: tensors left behind`);
  return read;
}

/** Largest |a - b| relative to the largest |b| (at least 1), with the index where it happens. */
function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (const x of expected) scale = Math.max(scale, Math.abs(x));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(
    worst <= tolerance * scale,
    `${what}: |webgpu - cpu| = ${worst} at ${at} (${actual[at]} vs ${expected[at]}), allowed ${tolerance * scale}`,
  );
}

/**
 * Weights after `steps` Adam steps of rate `lr`: an element whose gradient is rounding noise on
 * both backends (a conv bias feeding an instance norm has a zero gradient in exact arithmetic) can
 * be moved up to lr the other way on each step, since Adam normalises the gradient's size away.
 * So: all within 2·lr·steps, and all but 0.1% within `tight`.
 */
function assertWeightsClose(
  actual: Float32Array[],
  expected: Float32Array[],
  lr: number,
  steps: number,
  tight: number,
  what: string,
): void {
  let loose = 0;
  let total = 0;
  expected.forEach((e, i) => {
    assertClose(actual[i]!, e, 2 * lr * steps, `${what} ${i}`);
    for (let j = 0; j < e.length; j++) if (!(Math.abs(actual[i]![j]! - e[j]!) <= tight)) loose++;
    total += e.length;
  });
  assert.ok(loose <= total / 1000, `${what}: ${loose} of ${total} values differ by more than ${tight}`);
}

async function compare(f: () => tf.Tensor[], tolerance: number, what: string): Promise<void> {
  const expected = await on('cpu', f);
  const actual = await on('webgpu', f);
  expected.forEach((e, i) => assertClose(actual[i]!, e, tolerance, `${what} [output ${i}]`));
}

describe('webgpu backend', { skip: unavailable ?? false }, () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'cyclegan-webgpu-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('runs on the adapter it names', async () => {
    assert.equal(await useBackend('webgpu'), 'webgpu');
    assert.match(describeBackend(), /^webgpu \(.+\)$/);
    console.log(`# ${describeBackend()}`);
  });

  it('conv2d and its gradients (stride 1 and 2, same and valid padding) match cpu', async () => {
    const x = values(1 * 13 * 11 * 3, 1);
    const w3 = values(3 * 3 * 3 * 5, 2, 0.5);
    const w4 = values(4 * 4 * 3 * 5, 3, 0.5);
    const r = values(1 * 13 * 11 * 5, 4);
    const f = () => {
      const xt = tf.tensor4d(x, [1, 13, 11, 3]);
      const out: tf.Tensor[] = [];
      for (const [w, k, stride, pad] of [
        [w3, 3, 1, 'same'],
        [w4, 4, 2, 'same'],
        [w3, 3, 2, 'valid'],
      ] as const) {
        const wt = tf.tensor4d(w, [k, k, 3, 5]);
        const y = tf.conv2d(xt, wt, stride, pad);
        const weight = tf.tensor(r.subarray(0, y.size), y.shape);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, stride, pad), weight)),
        )([xt, wt]);
        out.push(y, dx!, dw!);
      }
      return out;
    };
    await compare(f, 1e-5, 'conv2d');
  });

  it('conv2dTranspose (stride 2, same) and its gradients match cpu', async () => {
    const x = values(1 * 5 * 7 * 6, 5);
    const w = values(3 * 3 * 4 * 6, 6, 0.5);
    const r = values(1 * 10 * 14 * 4, 7);
    const f = () => {
      const xt = tf.tensor4d(x, [1, 5, 7, 6]);
      const wt = tf.tensor4d(w, [3, 3, 4, 6]);
      const weight = tf.tensor4d(r, [1, 10, 14, 4]);
      const up = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [1, 10, 14, 4], 2, 'same');
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(up(a, b), weight)))([xt, wt]);
      return [up(xt, wt), dx!, dw!];
    };
    await compare(f, 1e-5, 'conv2dTranspose');
  });

  it('instance norm and reflection padding layers, with input and weight gradients, match cpu', async () => {
    const x = values(2 * 9 * 7 * 4, 8, 3);
    const r = values(2 * 13 * 11 * 4, 9);
    const f = () => {
      const norm = new InstanceNormalization({ seed: 3 });
      const pad = new ReflectionPadding2D({ padding: 2 });
      const xt = tf.tensor4d(x, [2, 9, 7, 4]);
      const weight = tf.tensor4d(r, [2, 13, 11, 4]);
      const net = (a: tf.Tensor) => pad.apply(norm.apply(a)) as tf.Tensor;
      const y = net(xt);
      const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(net(a), weight)))([xt]);
      const vars = norm.trainableWeights.map((v) => v.read() as tf.Variable);
      const { value, grads } = variableGradsFrugal(() => tf.sum(tf.mul(net(xt), weight)) as tf.Scalar, vars);
      const out = [y, dx!, value, ...vars.map((v) => grads[v.name]!)];
      norm.dispose();
      return out;
    };
    await compare(f, 1e-5, 'instance norm + reflection pad');
  });

  it('Adam with its moments on the device follows the host Adam, and its state moves between backends', async () => {
    const shapes = [[3, 3, 2, 4], [4], [7]];
    const grads = [1, 2, 3].map((step) =>
      shapes.map((s, i) =>
        values(
          s.reduce((a, b) => a * b),
          100 * step + i,
        ),
      ),
    );
    const options = { lr: 2e-3, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 };
    /** Three steps (gradients as tensors and as arrays); the weights and the saved state. */
    const run = async (backend: 'cpu' | 'webgpu') => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const vars = tf.tidy(() =>
        shapes.map((s, i) =>
          tf.variable(
            tf.tensor(
              values(
                s.reduce((a, b) => a * b),
                10 + i,
              ),
              s,
            ),
            true,
            `adam_${backend}_${i}`,
          ),
        ),
      );
      const adam = new Adam(vars, options);
      for (const [step, g] of grads.entries()) {
        if (step === 1) adam.apply(g);
        else {
          const ts = g.map((v, i) => tf.tensor(v, shapes[i]));
          adam.apply(ts);
          tf.dispose(ts);
        }
      }
      // On the device: the variables and their two moments, nothing else.
      if (backend === 'webgpu') assert.equal(tf.memory().numTensors, before + 3 * vars.length);
      const weights = await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>));
      const state = await adam.getState();
      adam.dispose();
      tf.dispose(vars);
      assert.equal(tf.memory().numTensors, before, `${backend}: tensors left behind`);
      return { weights, state };
    };
    const host = await run('cpu');
    const device = await run('webgpu');
    assert.equal(device.state.step, 3);
    device.weights.forEach((w, i) => assertClose(w, host.weights[i]!, 1e-6, `weight ${i}`));
    device.state.moments.forEach((m, i) => assertClose(m, host.state.moments[i]!, 1e-6, `moment ${i}`));

    // A state saved on one backend continues on the other: one more step from each saved state.
    const resume = async (backend: 'cpu' | 'webgpu', from: typeof host) => {
      await useBackend(backend);
      const vars = tf.tidy(() => from.weights.map((w, i) => tf.variable(tf.tensor(w, shapes[i]), true, `adam_resume_${backend}_${i}`)));
      const adam = new Adam(vars, options);
      adam.setState(from.state);
      adam.apply(grads[0]!);
      const out = await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>));
      const state = await adam.getState();
      adam.dispose();
      tf.dispose(vars);
      return { out, state };
    };
    const cpuFromGpu = await resume('cpu', device);
    const gpuFromCpu = await resume('webgpu', host);
    assert.equal(gpuFromCpu.state.step, 4);
    cpuFromGpu.out.forEach((w, i) => assertClose(gpuFromCpu.out[i]!, w, 1e-6, `resumed weight ${i}`));
    cpuFromGpu.state.moments.forEach((m, i) => assertClose(gpuFromCpu.state.moments[i]!, m, 1e-6, `resumed moment ${i}`));
  });

  it('translates an odd-sized image like cpu (mirror-padded to the generator multiple, cropped back)', async () => {
    const [h, w] = [21, 27];
    const image = values(h * w * 3, 20);
    const cpuOut = await (async () => {
      await useBackend('cpu');
      const g = buildResnetGenerator({ ngf: 2, nBlocks: 2, seed: 4, name: 'odd' });
      const out = translateImage(g, tf.tensor3d(image, [h, w, 3]), geometryFromShape(null, null));
      g.dispose();
      const data = (await out.data()) as Float32Array;
      out.dispose();
      return data;
    })();
    await useBackend('webgpu');
    const before = tf.memory().numTensors;
    const g = buildResnetGenerator({ ngf: 2, nBlocks: 2, seed: 4, name: 'odd' });
    // tfjs with async reads, as translatePixels is meant to be driven on a GPU.
    const run = async (p: { data: Float32Array; height: number; width: number }) => {
      const y = tf.tidy(() => g.predict(tf.tensor4d(p.data, [1, p.height, p.width, 3])) as tf.Tensor);
      const data = (await y.data()) as Float32Array;
      y.dispose();
      return data;
    };
    const result = await translatePixels(run, { data: image, height: h, width: w }, geometryFromShape(null, null));
    g.dispose();
    assert.equal(tf.memory().numTensors, before, 'tensors left behind');
    assert.deepEqual([result.height, result.width], [h, w]);
    assertClose(result.data, cpuOut, 1e-5, 'translation');
  });

  it('one full CycleGAN step (U-Net 32 px, ngf/ndf 4, pool 2) matches cpu', async () => {
    const config = resolveConfig({ preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 36, poolSize: 2, seed: 3 });
    const a = values(32 * 32 * 3, 30);
    const b = values(32 * 32 * 3, 31);
    const step = async (backend: 'cpu' | 'webgpu') => {
      await useBackend(backend);
      const before = tf.memory().numTensors;
      const gan = new CycleGan(config, new Rng(9));
      const [ta, tb] = [tf.tensor4d(a, [1, 32, 32, 3]), tf.tensor4d(b, [1, 32, 32, 3])];
      // `await` whether trainStep returns its losses or a promise of them.
      const losses = await gan.trainStep(ta, tb);
      tf.dispose([ta, tb]);
      const weights = await Promise.all(
        [gan.genAtoB, gan.genBtoA, gan.discA, gan.discB].flatMap((m) => m.getWeights().map((x) => x.data() as Promise<Float32Array>)),
      );
      gan.dispose();
      assert.equal(tf.memory().numTensors, before, `${backend}: tensors left behind`);
      return { losses, weights };
    };
    const cpu = await step('cpu');
    const gpu = await step('webgpu');
    for (const [name, value] of Object.entries(cpu.losses)) {
      const got = gpu.losses[name as keyof typeof gpu.losses];
      assert.ok(Math.abs(got - value) <= 1e-5 * Math.max(1, Math.abs(value)), `loss ${name}: ${got} vs ${value}`);
    }
    // One Adam step moves each weight by about lr: 1e-5 checks they moved the same way.
    assertWeightsClose(gpu.weights, cpu.weights, config.lr, 1, 1e-5, 'weight');
  });

  it('a run trained 1 step on webgpu resumes on cpu to what 2 steps on cpu give', async () => {
    const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 3, trainB: 3, testA: 1, testB: 1 });
    const config = { preset: 'tutorial', ngf: 4, ndf: 4, cropSize: 32, loadSize: 36, poolSize: 2, epochs: 1, seed: 5 } as const;
    /** Every weight and Adam moment of a run's latest checkpoint (loaded on cpu). */
    const state = async (run: string) => {
      await useBackend('cpu');
      const ckpt = await loadCheckpoint(run);
      const out = new Map<string, Float32Array>();
      for (const [net, model] of Object.entries(ckpt.models)) {
        model.getWeights().forEach((w, i) => out.set(`${net} weight ${i}`, w.dataSync() as Float32Array));
        model.dispose();
      }
      for (const [net, s] of Object.entries(ckpt.optimizerStates)) s.moments.forEach((m, i) => out.set(`${net} moment ${i}`, m));
      return out;
    };
    await useBackend('cpu');
    await train({ data, out: join(work, 'straight'), config, maxSteps: 2 });
    await useBackend('webgpu');
    await train({ data, out: join(work, 'split'), config, maxSteps: 1 });
    await useBackend('cpu');
    await train({ out: join(work, 'split'), resume: true, maxSteps: 2 });
    const [straight, split] = [await state(join(work, 'straight')), await state(join(work, 'split'))];
    assert.deepEqual([...split.keys()], [...straight.keys()]);
    const names = [...straight.keys()];
    const weights = names.filter((n) => n.includes('weight'));
    assertWeightsClose(
      weights.map((n) => split.get(n)!),
      weights.map((n) => straight.get(n)!),
      resolveConfig(config).lr,
      2,
      1e-5,
      'weight',
    );
    for (const name of names.filter((n) => n.includes('moment'))) assertClose(split.get(name)!, straight.get(name)!, 1e-5, name);
  });
});
