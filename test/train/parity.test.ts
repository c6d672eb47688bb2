/**
 * Training-step parity with the official PyTorch CycleGAN: the fixture (bench/reference/
 * parity_step.py) holds the official ResNet-6 generators and PatchGANs at ngf/ndf 4, two 32-px
 * images and what two official training steps make of them. Loaded into this project's networks
 * configured as the official ones, `CycleGan.trainStep` must give every loss, every gradient of
 * step 1 (as handed to Adam) and every weight after step 2 within 1e-4 of each tensor's largest
 * value, on cpu and on wasm, with the per-term and the single backward pass.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import {
  buildOfficialPatchGan,
  buildOfficialResnet,
  loadOfficialWeights,
  officialPatchGanKeys,
  officialResnetKeys,
  officialStateDict,
  torchToTfjsKernel,
  type LayerKey,
} from '../../src/models/official.ts';
import { parseSafetensors, type NamedArray } from '../../src/models/safetensors.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan, LOSS_NAMES } from '../../src/train/cyclegan.ts';
import { ImagePool } from '../../src/train/image-pool.ts';
import { Rng } from '../../src/util/rng.ts';

// CYCLEGAN_PARITY_FIXTURE points the test at another fixture of parity_step.py (e.g. a full-size one).
const FIXTURE = process.env.CYCLEGAN_PARITY_FIXTURE
  ? new URL(`file://${process.env.CYCLEGAN_PARITY_FIXTURE}`)
  : new URL('../fixtures/parity/resnet6-ngf4.safetensors', import.meta.url);
const TOLERANCE = 1e-4;

const fixture = parseSafetensors(readFileSync(FIXTURE), FIXTURE.pathname);
const [NGF, NDF, SIZE] = (['ngf', 'ndf', 'size'] as const).map((k) => Number(fixture.metadata[k])) as [number, number, number];
const get = (key: string): NamedArray => {
  const t = fixture.tensors.get(key);
  assert.ok(t, `fixture lacks ${key}`);
  return t;
};

/** Our network names and their official counterparts (the official D_A judges domain B). */
const NETS = [
  { ours: 'genAtoB', official: 'G_A', keys: officialResnetKeys(6) },
  { ours: 'genBtoA', official: 'G_B', keys: officialResnetKeys(6) },
  { ours: 'discB', official: 'D_A', keys: officialPatchGanKeys(3) },
  { ours: 'discA', official: 'D_B', keys: officialPatchGanKeys(3) },
] as const;

/** max |x| (a loop: a spread of a full-size tensor overflows the stack). */
const largest = (x: Float32Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** max |actual − expected| / max |expected|. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  assert.equal(actual.length, expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return diff / (scale || 1);
}

/** NCHW [1, 3, H, W] → NHWC. */
function image(key: string): tf.Tensor4D {
  const { values, shape } = get(key);
  return tf.tidy(() => tf.tensor4d(values, shape as [number, number, number, number]).transpose([0, 2, 3, 1]) as tf.Tensor4D);
}

/** The pool's draws as the fixture recorded them: next() then int(capacity), once per swap decision. */
function recordedDraws(): Rng {
  const draws: number[] = JSON.parse(fixture.metadata.pool_draws!) as number[];
  const stub = { next: () => draws.shift()!, int: (n: number) => Math.floor(draws.shift()! * n) };
  return stub as unknown as Rng;
}

function buildGan(perTerm: boolean): CycleGan {
  const models = {
    genAtoB: buildOfficialResnet('resnet_6blocks', { ngf: NGF, name: 'G_AtoB' }),
    genBtoA: buildOfficialResnet('resnet_6blocks', { ngf: NGF, name: 'G_BtoA' }),
    discA: buildOfficialPatchGan({ ndf: NDF, name: 'D_A' }),
    discB: buildOfficialPatchGan({ ndf: NDF, name: 'D_B' }),
  };
  for (const { ours, official, keys } of NETS)
    loadOfficialWeights(models[ours], keys, fixture.tensors, FIXTURE.pathname, `init.${official}.`);
  const config = resolveConfig({ preset: 'paper', generator: 'resnet6', ngf: NGF, ndf: NDF, cropSize: SIZE, loadSize: SIZE, poolSize: 1 });
  const gan = new CycleGan(config, new Rng(1), models, { backwardPerTerm: perTerm });
  const writable = gan as unknown as { poolA: ImagePool; poolB: ImagePool };
  writable.poolA = new ImagePool(1, recordedDraws());
  writable.poolB = new ImagePool(1, recordedDraws());
  return gan;
}

/** Records the gradients each optimizer is given, by update (0, 1) and variable name. */
function captureGradients(gan: CycleGan): Map<string, Float32Array>[] {
  const steps = [new Map<string, Float32Array>(), new Map<string, Float32Array>()];
  for (const optimizer of Object.values(gan.optimizers)) {
    const apply = optimizer.apply.bind(optimizer);
    optimizer.apply = (gs) => {
      const record = steps[optimizer.iterations]!;
      gs.forEach((g, i) =>
        record.set(optimizer.variables[i]!.name, (g instanceof Float32Array ? g : (g.dataSync() as Float32Array)).slice()),
      );
      apply(gs);
    };
  }
  return steps;
}

/** The variable of `layer`'s weight `index` (0 kernel, 1 bias). */
function variableName(model: tf.LayersModel, layer: string, index: number): string {
  return (model.getLayer(layer).trainableWeights[index]!.read() as tf.Variable).name;
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const perTerm of [true, false]) {
    describe(`training-step parity with the official PyTorch CycleGAN on ${backend}, ${perTerm ? 'per-term' : 'single'} backward pass`, () => {
      let gan: CycleGan;
      let grads: Map<string, Float32Array>[];
      let afterStep1: Record<string, Map<string, { values: Float32Array }>>;
      const losses: number[][] = [];
      const worst = { loss: 0, grad: 0, weight: 0 };
      const report = (what: keyof typeof worst, error: number, label: string, failures: string[]) => {
        worst[what] = Math.max(worst[what], error);
        if (!(error <= TOLERANCE)) failures.push(`${label}: relative error ${error.toExponential(3)}`);
      };

      before(async () => {
        await useBackend(backend);
        gan = buildGan(perTerm);
        grads = captureGradients(gan);
        const realA = image('real_A');
        const realB = image('real_B');
        for (let step = 1; step <= 2; step++) {
          const l = await gan.trainStep(realA, realB);
          losses.push(LOSS_NAMES.map((name) => l[name]));
          if (step === 1) {
            afterStep1 = Object.fromEntries(
              NETS.map(({ ours, keys }) => [ours, officialStateDict(gan.networks()[ours], keys as LayerKey[])]),
            );
            // Step 2 starts from the reference's weights: see 'ends step 1 with the official weights'.
            for (const { ours, official, keys } of NETS)
              loadOfficialWeights(gan.networks()[ours], keys as LayerKey[], fixture.tensors, FIXTURE.pathname, `step1.${official}.`);
          }
        }
        tf.dispose([realA, realB]);
      });
      after(() => {
        gan.dispose();
        console.log(
          `worst relative errors on ${backend}: losses ${worst.loss.toExponential(2)}, gradients ${worst.grad.toExponential(2)}, weights ${worst.weight.toExponential(2)}`,
        );
      });

      it('gives the official losses at both steps', () => {
        const failures: string[] = [];
        for (const step of [1, 2]) {
          const expected = get(`step${step}.loss`).values;
          LOSS_NAMES.forEach((name, i) => {
            const actual = losses[step - 1]![i]!;
            report(
              'loss',
              Math.abs(actual - expected[i]!) / Math.abs(expected[i]!),
              `step ${step} ${name} ${actual} vs ${expected[i]}`,
              failures,
            );
          });
        }
        assert.deepEqual(failures, []);
      });

      it('hands Adam the official gradients at both steps', () => {
        const failures: string[] = [];
        for (const step of [1, 2]) {
          for (const { ours, official, keys } of NETS) {
            const model = gan.networks()[ours];
            for (const { layer, prefix, normAfter } of keys as LayerKey[]) {
              const [kernel, bias] = ['weight', 'bias'].map((suffix, index) => {
                const actual = grads[step - 1]!.get(variableName(model, layer, index));
                assert.ok(actual, `no gradient captured for ${ours} ${layer} ${suffix} at step ${step}`);
                return actual;
              });
              const expected = get(`grad${step}.${official}.${prefix}.weight`);
              const label = `step ${step} ${ours} ${layer} (${official} ${prefix})`;
              report(
                'grad',
                relativeError(kernel!, torchToTfjsKernel(expected.values, expected.shape).values),
                `${label} weight`,
                failures,
              );
              // A bias followed by instance norm cancels in it: its true gradient is zero, and what
              // either side computes is rounding noise (Adam turns it into ±lr steps no output
              // depends on), so it is checked to be negligible instead of compared.
              if (normAfter) {
                const scale = largest(kernel!);
                const noise = largest(bias!) / scale;
                if (!(noise < TOLERANCE))
                  failures.push(`${label} bias: gradient ${noise.toExponential(3)} of the kernel's, where the norm cancels it`);
              } else {
                report('grad', relativeError(bias!, get(`grad${step}.${official}.${prefix}.bias`).values), `${label} bias`, failures);
              }
            }
          }
        }
        assert.deepEqual(failures, []);
      });

      // Adam's first step is lr·sign(g): where the true gradient is within rounding of zero, the
      // engine's rounding picks the sign, and a weight moved 2·lr the other way changes the next
      // gradients by percents on a network this small. Those weights (|g| ≤ 1e-4 of the tensor's
      // largest gradient) are left out here, and step 2 starts from the reference's weights, so
      // that it is compared from the same state.
      it('ends step 1 with the official weights', () => {
        const failures: string[] = [];
        let undecided = 0;
        for (const { ours, official, keys } of NETS) {
          for (const { layer, prefix, normAfter } of keys as LayerKey[]) {
            for (const suffix of ['weight', 'bias']) {
              if (suffix === 'bias' && normAfter) continue;
              const key = `${prefix}.${suffix}`;
              const g = get(`grad1.${official}.${key}`).values;
              const scale = largest(g);
              const kept = [...g.keys()].filter((i) => Math.abs(g[i]!) > TOLERANCE * scale);
              undecided += g.length - kept.length;
              const pick = (values: Float32Array) => Float32Array.from(kept, (i) => values[i]!);
              const actual = pick(afterStep1[ours]!.get(key)!.values);
              report(
                'weight',
                relativeError(actual, pick(get(`step1.${official}.${key}`).values)),
                `${ours} ${layer} (${official} ${key})`,
                failures,
              );
            }
          }
        }
        console.log(`${undecided} weights with a step-1 gradient within 1e-4 of zero left out`);
        assert.deepEqual(failures, []);
      });

      it('ends step 2 with the official weights', () => {
        const failures: string[] = [];
        for (const { ours, official, keys } of NETS) {
          const state = officialStateDict(gan.networks()[ours], keys as LayerKey[]);
          for (const { layer, prefix, normAfter } of keys as LayerKey[]) {
            for (const suffix of ['weight', 'bias']) {
              if (suffix === 'bias' && normAfter) continue;
              const key = `${prefix}.${suffix}`;
              report(
                'weight',
                relativeError(state.get(key)!.values, get(`final.${official}.${key}`).values),
                `${ours} ${layer} (${official} ${key})`,
                failures,
              );
            }
          }
        }
        assert.deepEqual(failures, []);
      });
    });
  }
}
