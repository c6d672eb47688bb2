/**
 * The filter gradient of convolutions with few input or output channels (native/filter-grad.c,
 * through conv2d-backprop-filter.ts) against the pure-JS cpu backend over its both vector layouts,
 * strides 1 and 2, 'same', 'valid' and explicit padding, batch 1 and 2, odd sizes (the few-input
 * cases with 5x5 kernels, past its 16-tap cap, check the general kernel on the same shapes); which
 * path runs when; no leaks.
 *
 * Accepted error: 1e-5 of the largest magnitude. It is a plain float32 sum over pixels (measured
 * ~1e-7 here); the cpu backend sums in another order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { wasmHeapStats } from '../../src/engine/heap-stats.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { relativeError } from './helpers.ts';

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
  [3, 8], // few inputs: vectors over output channels
  [1, 4],
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
    cases.push({ batch: inChannels === 8 ? 2 : 1, size: [13, 10], inChannels, outChannels, kernel, stride, pad });
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

test('the few-channel filter gradient matches the cpu backend', async (t) => {
  let worst = 0;
  for (const c of cases) {
    await useBackend('cpu');
    const expected = filterGradient(c);
    await useBackend('wasm');
    const error = relativeError(filterGradient(c), expected);
    worst = Math.max(worst, error);
    assert.ok(error < TOLERANCE, `${JSON.stringify(c)}: relative error ${error.toExponential(2)}`);
  }
  t.diagnostic(`${cases.length} cases, max relative error ${worst.toExponential(2)}`);
});

test('the few-channel filter gradient is really used, and agrees with the general kernel', async () => {
  await useBackend('wasm');
  const saved = wasmKernelTuning.filterGradSmallMaxChannels;
  const calls = () => nativeCallCounts.get('filter-grad.filter_grad_small') ?? 0;
  try {
    for (const c of [cases[0]!, cases[9]!]) {
      const before = calls();
      const direct = filterGradient(c);
      assert.equal(calls(), before + 1, `${JSON.stringify(c)}: the few-channel kernel did not run`);
      wasmKernelTuning.filterGradSmallMaxChannels = 0;
      const general = filterGradient(c);
      assert.equal(calls(), before + 1, 'the threshold 0 still took the few-channel kernel');
      wasmKernelTuning.filterGradSmallMaxChannels = saved;
      assert.ok(relativeError(direct, general) < TOLERANCE, JSON.stringify(c));
    }
    // 64 output channels, or 25 taps, from 3 inputs: past the caps, the general kernel.
    const before = calls();
    filterGradient({ batch: 1, size: [9, 9], inChannels: 3, outChannels: 64, kernel: 3, stride: 2, pad: 'same' });
    filterGradient({ batch: 1, size: [9, 9], inChannels: 3, outChannels: 8, kernel: 5, stride: 1, pad: 'same' });
    assert.equal(calls(), before, 'a cap on the few-input layout was not applied');
  } finally {
    wasmKernelTuning.filterGradSmallMaxChannels = saved;
  }
});

test('the few-channel filter gradient leaks no tensors, buffers or heap bytes', async () => {
  await useBackend('wasm');
  const run = () => {
    filterGradient(cases[0]!);
    filterGradient(cases[9]!);
  };
  run();
  const tensors = tf.memory().numTensors;
  const buffers = tf.engine().backend.numDataIds();
  const live = wasmHeapStats()?.liveBytes;
  for (let i = 0; i < 3; i++) run();
  assert.equal(tf.memory().numTensors, tensors, 'tensor count changed');
  assert.equal(tf.engine().backend.numDataIds(), buffers, 'wasm buffer count changed');
  assert.equal(wasmHeapStats()?.liveBytes, live, 'live heap bytes changed');
});
