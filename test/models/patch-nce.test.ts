import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { buildResnetGenerator, buildUnetGenerator } from '../../src/models/generators.ts';
import { loadLayersModel, saveLayersModel } from '../../src/models/io.ts';
import {
  buildFeatureTaps,
  buildProjectionHead,
  buildProjectionHeads,
  CUT_TAP_LAYERS,
  gatherPatches,
  l2Normalize,
  multiLayerPatchNceLoss,
  patchNceLoss,
  projectPatches,
  samplePatchIds,
} from '../../src/models/patch-nce.ts';
import { Rng } from '../../src/util/rng.ts';

const root = await mkdtemp(join(tmpdir(), 'cyclegan-patch-nce-'));
after(() => rm(root, { recursive: true, force: true }));

const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected} (tolerance ${tol})`);

describe('PatchNCE loss', () => {
  it('matches values computed independently', async () => {
    await useBackend('cpu');
    // Expected values from a plain-Python rendering of patchnce.py (no numpy on this machine):
    //   logits_i = [q_i·k_i, q_i·k_j for j ≠ i, −10 at j = i] / T;  loss = mean_i(logsumexp − logits_i[0])
    // /usr/bin/python3 -c "$(cat <<'EOF'
    // import math
    // def nce(q, k, T):
    //     out = []
    //     for qb, kb in zip(q, k):
    //         for i in range(len(qb)):
    //             dot = lambda a, b: sum(x * y for x, y in zip(a, b))
    //             row = [v / T for v in [dot(qb[i], kb[i])] + [-10.0 if j == i else dot(qb[i], kb[j]) for j in range(len(qb))]]
    //             m = max(row); out.append(m + math.log(sum(math.exp(v - m) for v in row)) - row[0])
    //     return sum(out) / len(out)
    // print(nce([[[.5,.5,.5,.5],[1,0,0,0],[0,.6,.8,0]]], [[[.5,-.5,.5,.5],[.8,.6,0,0],[0,0,1,0]]], 0.07))  # 0.9938211195505838
    // q2 = [[[1,0,0],[0,1,0]],[[.6,.8,0],[0,0,1]]]; k2 = [[[0,1,0],[1,0,0]],[[.6,.8,0],[0,.6,.8]]]
    // print(nce(q2, k2, 0.5))                        # 1.1851042778539373 (negatives from the same image)
    // print(nce([q2[0] + q2[1]], [k2[0] + k2[1]], 0.5))  # 1.6836235591443764 (had the batch been mixed)
    // EOF
    // )"
    const loss = (q: number[][][], k: number[][][], t: number) =>
      tf.tidy(() => patchNceLoss(tf.tensor3d(q), tf.tensor3d(k), t).dataSync()[0]!);
    // 3 patches of dimension 4: the positive is on the diagonal of q·kᵀ.
    const one = loss(
      [
        [
          [0.5, 0.5, 0.5, 0.5],
          [1, 0, 0, 0],
          [0, 0.6, 0.8, 0],
        ],
      ],
      [
        [
          [0.5, -0.5, 0.5, 0.5],
          [0.8, 0.6, 0, 0],
          [0, 0, 1, 0],
        ],
      ],
      0.07,
    );
    close(one, 0.9938211195505838, 2e-6, 'B=1, P=3, T=0.07');
    // Two images: negatives come from the same image only.
    const q2 = [
      [
        [1, 0, 0],
        [0, 1, 0],
      ],
      [
        [0.6, 0.8, 0],
        [0, 0, 1],
      ],
    ];
    const k2 = [
      [
        [0, 1, 0],
        [1, 0, 0],
      ],
      [
        [0.6, 0.8, 0],
        [0, 0.6, 0.8],
      ],
    ];
    close(loss(q2, k2, 0.5), 1.1851042778539373, 2e-6, 'B=2, P=2, T=0.5');
    close(loss([[...q2[0]!, ...q2[1]!]], [[...k2[0]!, ...k2[1]!]], 0.5), 1.6836235591443764, 2e-6, 'the same patches as one image');
    // The multi-layer loss is the mean over taps.
    const both = tf.tidy(() => {
      const a = [
        tf.tensor3d(q2),
        tf.tensor3d([
          [
            [0.5, 0.5, 0.5, 0.5],
            [1, 0, 0, 0],
            [0, 0.6, 0.8, 0],
          ],
        ]),
      ];
      const b = [
        tf.tensor3d(k2),
        tf.tensor3d([
          [
            [0.5, -0.5, 0.5, 0.5],
            [0.8, 0.6, 0, 0],
            [0, 0, 1, 0],
          ],
        ]),
      ];
      return multiLayerPatchNceLoss(a, b, 0.5).dataSync()[0]!;
    });
    const second = loss(
      [
        [
          [0.5, 0.5, 0.5, 0.5],
          [1, 0, 0, 0],
          [0, 0.6, 0.8, 0],
        ],
      ],
      [
        [
          [0.5, -0.5, 0.5, 0.5],
          [0.8, 0.6, 0, 0],
          [0, 0, 1, 0],
        ],
      ],
      0.5,
    );
    close(both, (1.1851042778539373 + second) / 2, 2e-6, 'mean over taps');
    assert.throws(() => patchNceLoss(tf.zeros([1, 3, 4]) as tf.Tensor3D, tf.zeros([1, 2, 4]) as tf.Tensor3D), /same \[B, P, D\] shape/);
  });

  it('has the gradient of central differences, for queries and keys', async () => {
    await useBackend('cpu');
    const rng = new Rng(4);
    const values = (n: number) => Float32Array.from({ length: n }, () => rng.next() * 2 - 1);
    const shape: [number, number, number] = [2, 5, 6];
    const size = shape[0] * shape[1] * shape[2];
    // Unit rows as the heads give, so the logits have the scale of training (up to 1/T).
    const q0 = tf.tidy(() => l2Normalize(tf.tensor3d(values(size), shape)).dataSync() as Float32Array);
    const k0 = tf.tidy(() => l2Normalize(tf.tensor3d(values(size), shape)).dataSync() as Float32Array);
    const f = (q: Float32Array, k: Float32Array) =>
      tf.tidy(() => patchNceLoss(tf.tensor3d(q, shape), tf.tensor3d(k, shape)).dataSync()[0]!);
    const [gq, gk] = tf.tidy(() => {
      const grads = tf.grads((q: tf.Tensor, k: tf.Tensor) => patchNceLoss(q as tf.Tensor3D, k as tf.Tensor3D));
      return grads([tf.tensor3d(q0, shape), tf.tensor3d(k0, shape)]).map((g) => g.dataSync() as Float32Array);
    });
    const h = 1e-3;
    let worst = 0;
    for (const [which, base, analytic] of [
      ['q', q0, gq!],
      ['k', k0, gk!],
    ] as const) {
      for (let i = 0; i < size; i += 3) {
        const plus = Float32Array.from(base);
        const minus = Float32Array.from(base);
        plus[i]! += h;
        minus[i]! -= h;
        const numeric = which === 'q' ? (f(plus, k0) - f(minus, k0)) / (2 * h) : (f(q0, plus) - f(q0, minus)) / (2 * h);
        const err = Math.abs(numeric - analytic[i]!);
        worst = Math.max(worst, err);
        assert.ok(err <= 3e-3 + 2e-2 * Math.abs(numeric), `d loss / d ${which}[${i}]: analytic ${analytic[i]}, numeric ${numeric}`);
      }
    }
    const scale = Math.max(...Array.from(gq!, Math.abs));
    assert.ok(scale > 0.05, `the gradient is not trivially small (${scale})`);
    console.log(`worst |analytic − numeric| ${worst.toExponential(2)} (largest gradient ${scale.toFixed(3)})`);
  });
});

describe('patch sampling', () => {
  it('is reproducible with the seed, distinct, in range, and takes every position when there are fewer', () => {
    const a = samplePatchIds(38 * 38, 256, new Rng(9));
    const b = samplePatchIds(38 * 38, 256, new Rng(9));
    const c = samplePatchIds(38 * 38, 256, new Rng(10));
    assert.equal(a.length, 256);
    assert.deepEqual(Array.from(a), Array.from(b));
    assert.notDeepEqual(Array.from(a), Array.from(c));
    assert.equal(new Set(a).size, 256, 'no position twice');
    assert.ok(a.every((id) => id >= 0 && id < 38 * 38));
    const all = samplePatchIds(64, 256, new Rng(9));
    assert.deepEqual(
      Array.from(all).sort((x, y) => x - y),
      Array.from({ length: 64 }, (_, i) => i),
    );
    assert.notDeepEqual(
      Array.from(all),
      Array.from({ length: 64 }, (_, i) => i),
      'shuffled, as a permutation prefix',
    );
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`gathers the same positions of every image, with tf.gather's values and gradient (${backend})`, async () => {
      await useBackend('cpu');
      const x = tf.randomUniform([2, 6, 5, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
      const ids = samplePatchIds(30, 7, new Rng(1));
      const dy = tf.randomUniform([2, 7, 3], -1, 1, 'float32', 4);
      const weighted = (g: (t: tf.Tensor4D) => tf.Tensor) => (t: tf.Tensor) => tf.sum(tf.mul(g(t as tf.Tensor4D), dy));
      const reference = (t: tf.Tensor4D) => tf.gather(tf.reshape(t, [2, 30, 3]), tf.tensor1d(ids, 'int32'), 1);
      // The reference runs on cpu, whose gather gradient (UnsortedSegmentSum) wasm lacks.
      const expected = tf.tidy(() => reference(x).dataSync());
      const expectedGrad = tf.tidy(() => tf.grad(weighted(reference))(x).dataSync());
      const [xData, dyData] = [x.dataSync().slice(), dy.dataSync().slice()];
      tf.dispose([x, dy]);
      await useBackend(backend);
      const x2 = tf.tensor4d(xData, [2, 6, 5, 3]);
      const dy2 = tf.tensor3d(dyData, [2, 7, 3]);
      const before = tf.memory().numTensors;
      const got = tf.tidy(() => gatherPatches(x2, ids).dataSync());
      const grad = tf.tidy(() =>
        tf
          .grad((t: tf.Tensor) => tf.sum(tf.mul(gatherPatches(t as tf.Tensor4D, ids), dy2)))(x2)
          .dataSync(),
      );
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      assert.deepEqual(Array.from(got), Array.from(expected));
      assert.deepEqual(Array.from(grad), Array.from(expectedGrad));
      assert.throws(() => gatherPatches(x2, Int32Array.from([30])), /outside a 6×5 feature map/);
      tf.dispose([x2, dy2]);
    });
  }
});

describe('feature taps and projection heads', () => {
  it('taps the ResNet at CUT layers 0, 4, 8, 12, 16, sharing its weights', async () => {
    await useBackend('cpu');
    const g = buildResnetGenerator({ ngf: 4, nBlocks: 6, seed: 1, name: 'G_AtoB' });
    const taps = buildFeatureTaps(g);
    assert.deepEqual(taps.layers, [...CUT_TAP_LAYERS]);
    assert.deepEqual(taps.channels, [3, 8, 16, 16, 16]);
    const x = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 2) as tf.Tensor4D;
    const feats = taps.encoder.predict(x) as tf.Tensor[];
    assert.deepEqual(
      feats.map((f) => f.shape),
      [
        [1, 38, 38, 3],
        [1, 16, 16, 8],
        [1, 8, 8, 16],
        [1, 8, 8, 16],
        [1, 8, 8, 16],
      ],
    );
    // Tap 0 is the reflection-padded input: its centre is the input itself.
    assert.deepEqual(Array.from(tf.slice(feats[0]!, [0, 3, 3, 0], [1, 32, 32, 3]).dataSync()), Array.from(x.dataSync()));
    const [image, ...again] = taps.withImage.predict(x) as tf.Tensor[];
    assert.deepEqual(Array.from(image!.dataSync()), Array.from((g.predict(x) as tf.Tensor).dataSync()));
    again.forEach((f, i) => assert.deepEqual(Array.from(f.dataSync()), Array.from(feats[i]!.dataSync()), `tap ${i}`));
    // The same variables, not copies: a change to the generator shows in the taps.
    const gVars = new Set(g.trainableWeights.map((w) => w.read().id));
    assert.ok(taps.encoder.trainableWeights.every((w) => gVars.has(w.read().id)));
    const stem = g.getLayer('stem_conv');
    const [kernel, bias] = stem.getWeights();
    stem.setWeights([tf.mul(kernel!, 2), bias!]);
    const changed = (taps.encoder.predict(x) as tf.Tensor[])[1]!;
    assert.notDeepEqual(Array.from(changed.dataSync()), Array.from(feats[1]!.dataSync()));
    const unet = buildUnetGenerator({ size: 32, ngf: 4 });
    assert.throws(() => buildFeatureTaps(unet), /has no layer 'stem_pad' to tap for PatchNCE \(CUT needs the ResNet generator/);
    assert.throws(() => buildFeatureTaps(buildResnetGenerator({ ngf: 4, nBlocks: 4 })), /no layer 'res5_add'/);
    g.dispose();
    unet.dispose();
  });

  it('heads are N(0, 0.02) MLPs with unit outputs, reproducible from the seed, and save and load bit for bit', async () => {
    await useBackend('cpu');
    const heads = buildProjectionHeads({ layers: ['stem_pad', 'down1_conv'], channels: [3, 8] }, new Rng(5));
    assert.deepEqual(
      heads.map((h) => h.name),
      ['F_stem_pad', 'F_down1_conv'],
    );
    const [k1, b1, k2, b2] = heads[1]!.getWeights();
    assert.deepEqual([k1!.shape, b1!.shape, k2!.shape, b2!.shape], [[8, 256], [256], [256, 256], [256]]);
    const big = k2!.dataSync() as Float32Array;
    const mean = big.reduce((a: number, v: number) => a + v, 0) / big.length;
    const std = Math.sqrt(big.reduce((a: number, v: number) => a + (v - mean) ** 2, 0) / big.length);
    close(std, 0.02, 0.001, 'kernel standard deviation');
    close(mean, 0, 0.0005, 'kernel mean');
    assert.ok(b1!.dataSync().every((v) => v === 0) && b2!.dataSync().every((v) => v === 0), 'biases start at zero');
    const other = buildProjectionHead({ inChannels: 8, seed: 6, name: 'other' });
    assert.notDeepEqual(Array.from(other.getWeights()[2]!.dataSync()), Array.from(big), 'another seed, other weights');
    other.dispose();
    const twin = buildProjectionHeads({ layers: ['stem_pad', 'down1_conv'], channels: [3, 8] }, new Rng(5));
    assert.deepEqual(Array.from(twin[1]!.getWeights()[2]!.dataSync()), Array.from(big), 'same seed, same weights');

    const patches = tf.randomUniform([2, 10, 8], -1, 1, 'float32', 6) as tf.Tensor3D;
    const out = projectPatches(heads[1]!, patches);
    assert.deepEqual(out.shape, [2, 10, 256]);
    const norms = tf.sqrt(tf.sum(tf.square(out), -1)).dataSync();
    for (const n of norms) close(n, 1, 1e-5, 'row norm');
    await saveLayersModel(heads[1]!, join(root, 'F_down1_conv'));
    const loaded = await loadLayersModel(join(root, 'F_down1_conv'));
    assert.equal(loaded.name, 'F_down1_conv');
    assert.deepEqual(Array.from(projectPatches(loaded, patches).dataSync()), Array.from(out.dataSync()));
    for (const m of [...heads, ...twin, loaded]) m.dispose();
  });
});
