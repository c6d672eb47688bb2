/**
 * The filter gradients of native/filter-grad.c (through conv2d-backprop-filter.ts) against the
 * pure-JS cpu backend: the few-output-channel kernel and the in-place matrix product, over strides
 * 1 and 2, 'same', 'valid' and explicit padding, batch 1 and 2, odd sizes and channel counts
 * (rows of dW not a multiple of 4, columns not a multiple of 8), with the product's panel both at
 * its default size and small enough that every call spans several row blocks and pixel chunks;
 * which path runs when; no leaks.
 *
 * Accepted error: 1e-5 of the largest magnitude. It is a plain float32 sum over pixels (measured
 * ~1e-7 here); the cpu backend sums in another order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { assertNoLeaks, relativeError } from './helpers.ts';

const TOLERANCE = 1e-5;

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
interface Case {
  batch: number;
  size: [number, number];
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  pad: Pad;
}

const cases: Case[] = [];
for (const [inChannels, outChannels] of [
  [8, 3], // few outputs: vectors over input channels
  [12, 1],
  [3, 8], // few inputs, and the rest: the matrix product
  [1, 4],
  [6, 13],
  [9, 16],
] as const) {
  for (const [kernel, stride, pad] of [
    [5, 1, 'valid'],
    [4, 2, 'same'],
    [
      3,
      2,
      [
        [0, 0],
        [1, 2],
        [0, 1],
        [0, 0],
      ],
    ],
    [4, 1, 'same'],
  ] as [number, number, Pad][]) {
    cases.push({ batch: inChannels === 8 || inChannels === 9 ? 2 : 1, size: [13, 10], inChannels, outChannels, kernel, stride, pad });
  }
}

function filterGradient(c: Case): Float32Array {
  return tf.tidy(() => {
    const x = tf.randomUniform([c.batch, c.size[0], c.size[1], c.inChannels], -1, 1, 'float32', 71) as tf.Tensor4D;
    const filterShape: [number, number, number, number] = [c.kernel, c.kernel, c.inChannels, c.outChannels];
    const filter = tf.zeros(filterShape) as tf.Tensor4D;
    const weights = tf.randomUniform(tf.conv2d(x, filter, c.stride, c.pad).shape, -1, 1, 'float32', 72);
    // d/dfilter of sum(conv(x, filter) * weights): Conv2DBackpropFilter(x, dy = weights).
    const dfilter = tf.grad((f: tf.Tensor) =>
      tf
        .conv2d(x, f as tf.Tensor4D, c.stride, c.pad)
        .mul(weights)
        .sum(),
    )(filter);
    return dfilter.dataSync() as Float32Array;
  });
}

test('the filter gradients match the cpu backend', async (t) => {
  const saved = { ...wasmKernelTuning };
  let worst = 0;
  try {
    for (const panel of [undefined, { filterGradBlockRows: 8, filterGradChunk: 5 }]) {
      for (const c of cases) {
        await useBackend('cpu');
        const expected = filterGradient(c);
        await useBackend('wasm');
        Object.assign(wasmKernelTuning, panel);
        const error = relativeError(filterGradient(c), expected);
        Object.assign(wasmKernelTuning, saved);
        worst = Math.max(worst, error);
        assert.ok(error < TOLERANCE, `${JSON.stringify({ ...c, panel })}: relative error ${error.toExponential(2)}`);
      }
    }
  } finally {
    Object.assign(wasmKernelTuning, saved);
  }
  t.diagnostic(`${2 * cases.length} cases, max relative error ${worst.toExponential(2)}`);
});

test('each filter gradient kernel runs where it should, and both agree', async () => {
  await useBackend('wasm');
  const saved = wasmKernelTuning.filterGradSmallMaxChannels;
  const calls = (name: string) => nativeCallCounts.get(`filter-grad.${name}`) ?? 0;
  try {
    for (const c of [cases[0]!, cases[4]!]) {
      const [small, gemm] = [calls('filter_grad_small'), calls('filter_grad_gemm')];
      const direct = filterGradient(c);
      assert.deepEqual(
        [calls('filter_grad_small'), calls('filter_grad_gemm')],
        [small + 1, gemm],
        `${JSON.stringify(c)}: not the few-output kernel`,
      );
      wasmKernelTuning.filterGradSmallMaxChannels = 0;
      const product = filterGradient(c);
      assert.deepEqual(
        [calls('filter_grad_small'), calls('filter_grad_gemm')],
        [small + 1, gemm + 1],
        'the threshold 0 still took the few-output kernel',
      );
      wasmKernelTuning.filterGradSmallMaxChannels = saved;
      assert.ok(relativeError(direct, product) < TOLERANCE, JSON.stringify(c));
    }
    // Few inputs, and few outputs of a channel count not a multiple of 4: the product.
    for (const c of [cases[8]!, { ...cases[0]!, inChannels: 7 }]) {
      const [small, gemm] = [calls('filter_grad_small'), calls('filter_grad_gemm')];
      filterGradient(c);
      assert.deepEqual([calls('filter_grad_small'), calls('filter_grad_gemm')], [small, gemm + 1], JSON.stringify(c));
    }
  } finally {
    wasmKernelTuning.filterGradSmallMaxChannels = saved;
  }
});

test('the filter gradients leak no tensors, buffers or heap bytes', async () => {
  await useBackend('wasm');
  const run = () => {
    filterGradient(cases[0]!);
    filterGradient(cases[9]!);
    filterGradient(cases[13]!);
  };
  assertNoLeaks(run);
});
