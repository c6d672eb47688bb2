/**
 * Exact resume, proven rather than promised: a run stopped mid-epoch (a step checkpoint with the
 * pipeline index, running loss sums and image pools) and resumed, again and again, ends bit for
 * bit where an uninterrupted run ends (weights, Adam moments and step counts, pools, RNG, data
 * position), with the same log lines and samples; on cpu and wasm, for the tutorial U-Net (single
 * backward pass) and the paper's ResNet (one backward pass per loss term), and the ResNet with a
 * feature discriminator (its heads and their Adam state, DiffAugment's draws). And the per-term
 * pass computes the single pass's gradients.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { resolveConfig, type TrainConfig } from '../../src/train/config.ts';
import { backwardPerTerm, CycleGan } from '../../src/train/cyclegan.ts';
import { train } from '../../src/train/loop.ts';
import { unregisterFeatureBackbone } from '../../src/models/backbones/registry.ts';
import { Rng } from '../../src/util/rng.ts';
import { registerTinyBackbone, TINY_BACKBONE } from '../helpers/tiny-backbone.ts';
import { scratch } from './helpers.ts';
import { CUTS, RESNET, RESNET_MAX_STEPS, RESUME_DATA, UNET } from './resume-cases.ts';
import { assertSameState, bytes, logLines, runState } from './run-state.ts';

let work: string;
let cleanup: () => Promise<void>;
let data: string;

before(async () => {
  registerTinyBackbone();
  ({ dir: work, cleanup } = await scratch('cyclegan-exact-'));
  data = await writeSyntheticDataset(join(work, 'data'), RESUME_DATA);
});
after(async () => {
  unregisterFeatureBackbone(TINY_BACKBONE);
  await cleanup();
});

interface ResumeCase {
  name: string;
  config: Partial<TrainConfig>;
  stepsPerEpoch: number;
  cuts: number[];
  /** Where both runs stop (default: the end of the run). */
  maxSteps?: number;
}

const CASES: Record<'cpu' | 'wasm', ResumeCase[]> = {
  cpu: [
    { name: 'tutorial U-Net', config: UNET, stepsPerEpoch: 4, cuts: CUTS },
    // No ResNet run here: tfjs's cpu Conv2DBackpropFilter makes one of its steps take seconds.
    // The per-term pass on cpu is the gradient test below; checkpoints do not depend on the backend.
  ],
  wasm: [
    { name: 'tutorial U-Net', config: UNET, stepsPerEpoch: 4, cuts: CUTS },
    { name: 'paper ResNet-6 (per-term backward pass)', config: RESNET, stepsPerEpoch: 5, cuts: CUTS, maxSteps: RESNET_MAX_STEPS },
    // The heads (FD_A, FD_B) and their Adam state in the checkpoints, DiffAugment's draws from the run's Rng.
    {
      name: 'paper ResNet-6 with a feature discriminator (stand-in backbone, DiffAugment)',
      config: { ...RESNET, featureDisc: TINY_BACKBONE, featureAugment: true },
      stepsPerEpoch: 5,
      cuts: [1, 3, 6, 7],
      maxSteps: RESNET_MAX_STEPS,
    },
  ],
};

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`exact resume on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    for (const c of CASES[backend]) {
      const where = c.cuts.map((s) => `${s} (${s % c.stepsPerEpoch} into epoch ${Math.floor(s / c.stepsPerEpoch) + 1})`).join(', ');
      const until = c.maxSteps === undefined ? 'the end' : `step ${c.maxSteps}`;
      it(`${c.name}: stopped after steps ${where} of ${c.stepsPerEpoch}-step epochs and resumed each time, reaches ${until} bit-identical to an uninterrupted run, with the same log and samples`, async () => {
        const tensorsBefore = tf.memory().numTensors;
        const label = `${backend}-${c.config.generator ?? 'unet'}${c.config.featureDisc ? '-feature' : ''}`;
        const straight = join(work, `${label}-straight`);
        const cut = join(work, `${label}-cut`);
        const whole = await train({ data, out: straight, config: c.config, maxSteps: c.maxSteps });
        const end = whole.position.globalStep;
        assert.equal(end, c.maxSteps ?? 2 * c.stepsPerEpoch);

        let resumedFrom: string | null = null;
        const first = await train({ data, out: cut, config: c.config, maxSteps: c.cuts[0] });
        for (let i = 0; i <= c.cuts.length; i++) {
          const result =
            i === 0
              ? first
              : await train({
                  out: cut,
                  resume: true,
                  maxSteps: c.cuts[i] ?? c.maxSteps,
                  onStart: (s) => (resumedFrom = s.resumedFrom),
                });
          const stop = c.cuts[i] ?? end;
          assert.equal(result.position.globalStep, stop);
          if (i > 0) {
            // Each session started from the mid-epoch checkpoint the previous one wrote.
            assert.equal(basename(resumedFrom ?? ''), `step-${String(c.cuts[i - 1]).padStart(8, '0')}`);
          }
          if (i < c.cuts.length) {
            assert.equal(result.reason, 'max-steps');
            assert.equal(result.position.stepInEpoch, stop % c.stepsPerEpoch, 'a mid-epoch cut');
            assert.ok(result.position.stepInEpoch > 0);
          }
        }

        const expected = await runState(straight);
        assert.equal(expected.get('pool A shape'), '[1,32,32,3]');
        assert.ok(expected.has('pool A image 1') && expected.has('pool B image 1'), 'both pools are full');
        assertSameState(expected, await runState(cut));
        const expectedLog = await logLines(straight);
        assert.equal(expectedLog.length, Math.floor(end / c.stepsPerEpoch));
        assert.deepEqual(await logLines(cut), expectedLog);
        for (let e = 1; e <= expectedLog.length; e++) {
          const sample = `samples/epoch-${String(e).padStart(4, '0')}.png`;
          assert.ok((await readFile(join(straight, sample))).equals(await readFile(join(cut, sample))), `${sample} differs`);
        }
        assert.equal(
          existsSync(join(cut, 'checkpoints', `step-${String(c.cuts.at(-1)).padStart(8, '0')}`)),
          false,
          'step checkpoints pruned',
        );
        assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left behind');
      });
    }

    it('the per-term backward pass gives the single pass’s gradients for the ResNet generator (within 1e-5 of the largest)', async (t) => {
      const config = resolveConfig(RESNET);
      assert.equal(backwardPerTerm(config), true, 'the paper preset trains with the per-term pass');
      const tensorsBefore = tf.memory().numTensors;
      const inputs = new Rng(9);
      const [realA, realB] = [inputs.seed(), inputs.seed()].map(
        (seed) => tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', seed) as tf.Tensor4D,
      );
      // One step of each from the same weights (from config.seed) and the same Rng. After a first
      // step Adam's first moment is (1 − β1)·g = g/2 exactly (a float32 halved), so the moments
      // are the gradients the pass produced.
      const step = async (perTerm: boolean) => {
        const gan = new CycleGan(config, new Rng(1), undefined, { backwardPerTerm: perTerm });
        try {
          assert.equal(gan.perTermBackward, perTerm);
          const losses = await gan.trainStep(realA!, realB!);
          const moments: Record<string, Float32Array[]> = {};
          for (const [net, opt] of Object.entries(gan.optimizers)) {
            const state = await opt.getState();
            moments[net] = state.moments.map((m) => m.slice());
          }
          return { losses, moments, names: gan.optimizers.genAtoB.variables.length };
        } finally {
          gan.dispose();
        }
      };
      const single = await step(false);
      const perTerm = await step(true);
      tf.dispose([realA!, realB!]);
      assert.equal(tf.memory().numTensors, tensorsBefore, 'no tensors left behind');

      // The forward passes are the same computation: same losses, same fakes, so the
      // discriminators' step is bit-identical.
      assert.deepEqual(perTerm.losses, single.losses);
      for (const net of ['discA', 'discB']) {
        single.moments[net]!.forEach((m, i) => assert.ok(bytes(m).equals(bytes(perTerm.moments[net]![i]!)), `${net} moment ${i} differs`));
      }
      // The generators' gradients are the same sums added in another order: the single pass adds
      // the contributions of the three terms (and of each use of a generator in a term) in the
      // engine in reverse tape order, the per-term pass adds each term's gradient in JS. Each
      // float32 addition rounds by at most 2^-24 of the running sum; with at most six
      // contributions per weight, each no larger than a few times the network's largest gradient,
      // the difference stays below ~1e-6 of it (measured: 1.2e-7 on wasm, 1.5e-7 on cpu). 1e-5
      // leaves a margin, while a term lost or counted twice moves gradients by a sizeable
      // fraction of the largest. (Relative to each weight's own gradient would not work: the
      // biases before an instance norm have a gradient that is zero but for rounding noise.)
      for (const net of ['genAtoB', 'genBtoA']) {
        const n = single.moments[net]!.length / 2;
        const grads = (m: Float32Array[]) => m.slice(0, n).map((x) => x.map((v) => 2 * v));
        const [g1, g2] = [grads(single.moments[net]!), grads(perTerm.moments[net]!)];
        const largest = Math.max(...g1.map((g) => g.reduce((mx, v) => Math.max(mx, Math.abs(v)), 0)));
        assert.ok(largest > 0.1, `${net}: a real gradient (largest ${largest})`);
        let worst = 0;
        g1.forEach((g, i) => g.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - g2[i]![j]!)))));
        assert.ok(worst <= 1e-5 * largest, `${net}: gradients differ by ${worst}, ${worst / largest} of the largest (${largest})`);
        t.diagnostic(`${net}: largest gradient ${largest.toPrecision(4)}, largest difference ${(worst / largest).toExponential(2)} of it`);
      }
    });
  });
}
