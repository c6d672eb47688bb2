/**
 * Convolutions with few input or output channels (native/conv-narrow.c through conv2d-narrow.ts)
 * against the pure-JS cpu backend: forward through Conv2D and FusedConv2D (bias, relu), and the
 * input gradient, whose stride-1 phase convolutions take the same kernels with the channel counts
 * swapped; strides 1 and 2, 'same', 'valid' and explicit padding, batch 1 and 2, odd sizes, output
 * groups of 16 and of 4, a row's last, unpaired pixel; which path runs when; no leaks.
 *
 * Accepted error: 1e-5 of the largest magnitude. Each output is a plain float32 sum over at most
 * a few hundred products (measured ~1e-7 here); the cpu backend sums in another order.
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
  [3, 20], // few inputs: a group of 16 outputs and one of 4
  [1, 8],
  [12, 3], // few outputs
  [8, 1],
] as const) {
  for (const [kernel, stride, pad] of [
    [7, 1, 'valid'],
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
    [5, 1, 'same'],
  ] as [number, number, Pad][]) {
    cases.push({ batch: inChannels === 3 || inChannels === 12 ? 2 : 1, size: [13, 11], inChannels, outChannels, kernel, stride, pad });
  }
}

/** The forward pass (fused with bias and relu, and plain), and the input gradient of a weighted sum of the plain one. */
function results(c: Case): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.randomUniform([c.batch, c.size[0], c.size[1], c.inChannels], -1, 1, 'float32', 81) as tf.Tensor4D;
    const filter = tf.randomUniform([c.kernel, c.kernel, c.inChannels, c.outChannels], -1, 1, 'float32', 82) as tf.Tensor4D;
    const bias = tf.randomUniform([c.outChannels], -1, 1, 'float32', 83) as tf.Tensor1D;
    const plain = tf.conv2d(x, filter, c.stride, c.pad);
    const fused = tf.fused.conv2d({ x, filter, strides: c.stride, pad: c.pad, bias, activation: 'relu' });
    const weights = tf.randomUniform(plain.shape, -1, 1, 'float32', 84);
    const dx = tf.grad((input: tf.Tensor) =>
      tf
        .conv2d(input as tf.Tensor4D, filter, c.stride, c.pad)
        .mul(weights)
        .sum(),
    )(x);
    return [plain, fused, dx].map((t) => t.dataSync() as Float32Array);
  });
}

test('the narrow convolutions and their input gradients match the cpu backend', async (t) => {
  let worst = 0;
  for (const c of cases) {
    await useBackend('cpu');
    const expected = results(c);
    await useBackend('wasm');
    const actual = results(c);
    for (const [i, name] of ['conv2d', 'fused conv2d', 'input gradient'].entries()) {
      const error = relativeError(actual[i]!, expected[i]!);
      worst = Math.max(worst, error);
      assert.ok(error < TOLERANCE, `${JSON.stringify(c)} ${name}: relative error ${error.toExponential(2)}`);
    }
  }
  t.diagnostic(`${cases.length} cases, max relative error ${worst.toExponential(2)}`);
});

test('the narrow kernels run where they should', async () => {
  await useBackend('wasm');
  const calls = () => ['conv_few_in', 'conv_few_out'].map((name) => nativeCallCounts.get(`conv-narrow.${name}`) ?? 0);
  const saved = wasmKernelTuning.narrowConv;
  try {
    // Few inputs: the three forward passes take conv_few_in, the stride-1 input gradient conv_few_out.
    let [fewIn, fewOut] = calls();
    results(cases[0]!);
    assert.deepEqual(calls(), [fewIn! + 3, fewOut! + 1], 'a 3->20 7x7 convolution');
    // Few outputs, stride 2: the forward passes take conv_few_out; the input gradient's four
    // phases are 3 -> 12 convolutions, conv_few_in.
    [fewIn, fewOut] = calls();
    results(cases[9]!);
    assert.deepEqual(calls(), [fewIn! + 4, fewOut! + 3], 'a 12->3 4x4 stride-2 convolution');
    // 5 -> 6 channels: neither side narrow (nor a multiple of 4).
    [fewIn, fewOut] = calls();
    results({ ...cases[0]!, inChannels: 5, outChannels: 6 });
    assert.deepEqual(calls(), [fewIn!, fewOut!], 'a 5->6 convolution');
    wasmKernelTuning.narrowConv = false;
    results(cases[0]!);
    assert.deepEqual(calls(), [fewIn!, fewOut!], 'narrowConv false still took a narrow kernel');
  } finally {
    wasmKernelTuning.narrowConv = saved;
  }
});

test('the narrow convolutions leak no tensors, buffers or heap bytes', async () => {
  await useBackend('wasm');
  const run = () => {
    results(cases[0]!);
    results(cases[9]!);
  };
  assertNoLeaks(run);
});
