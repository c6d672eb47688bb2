// Child for winograd-threads.test.ts: the compiled kernels split over threads (Winograd's forward,
// input and filter gradients for 3x3 and 4x4 filters, forced on at small sizes, with channel counts that are and are not
// multiples of 4; native/filter-grad.c's filter gradients; native/conv-narrow.c's convolutions; native/adam.c's update; native/elementwise.c's kernels) with CYCLEGAN_WASM_THREADS threads; prints the
// backend, how many threads the compiled kernels use, and a hash of every result.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBackend } from '../../src/engine/backend.ts';
import { nativeThreads } from '../../src/engine/native-threads.ts';
import { activeWasmBackend } from '../../src/engine/tfjs-internals.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { adamUpdateTuning } from '../../src/engine/adam-update.ts';
import { Adam } from '../../src/train/adam.ts';
import '../../src/models/layers/reflection-padding.ts';

await useBackend('wasm');
Object.assign(wasmKernelTuning, {
  winograd: true,
  winogradMinChannels: 1,
  winogradMinOutPixels: 0,
  winogradPhaseMinOutPixels: 0,
  convGemmMaxOutPixels: 0,
  gemmMaxDyPixels: 0,
});
const hash = createHash('sha256');
const results: tf.Tensor[] = [];
for (const [inChannels, outChannels, seed, kernel] of [
  [64, 96, 1, 3],
  [33, 41, 4, 3],
  [23, 37, 5, 4],
] as const) {
  const x = tf.randomNormal([2, 26, 22, inChannels], 0, 1, 'float32', seed) as tf.Tensor4D;
  const w = tf.randomNormal([kernel, kernel, inChannels, outChannels], 0, 0.1, 'float32', seed + 1) as tf.Tensor4D;
  const bias = tf.randomNormal([outChannels], 0, 0.1, 'float32', seed + 2) as tf.Tensor1D;
  const [dx, dw] = tf.grads((a: tf.Tensor, f: tf.Tensor) =>
    tf.fused
      .conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: 'valid', bias })
      .square()
      .sum(),
  )([x, w]);
  results.push(tf.conv2d(x, w, 1, 'same'), dx!, dw!);
}
// The filter gradients of native/filter-grad.c: few outputs (7x7 12 -> 3), and the matrix
// product (4x4 stride 2 3 -> 8; 3x3 stride 2 13 -> 21, whose 117 rows of dW split unevenly).
for (const [inChannels, outChannels, kernel, stride] of [
  [12, 3, 7, 1],
  [3, 8, 4, 2],
  [13, 21, 3, 2],
] as const) {
  const x = tf.randomNormal([2, 23, 19, inChannels], 0, 1, 'float32', 7) as tf.Tensor4D;
  const f = tf.zeros([kernel, kernel, inChannels, outChannels]) as tf.Tensor4D;
  const weights = tf.randomNormal(tf.conv2d(x, f, stride, 'same').shape, 0, 1, 'float32', 8);
  results.push(
    tf.grad((g: tf.Tensor) =>
      tf
        .conv2d(x, g as tf.Tensor4D, stride, 'same')
        .mul(weights)
        .sum(),
    )(f),
  );
}
// The narrow convolutions of native/conv-narrow.c (13 output rows of batch 2 split unevenly),
// forward with bias and relu, and an input gradient running the other one.
for (const [inChannels, outChannels] of [
  [3, 20],
  [12, 3],
] as const) {
  const x = tf.randomNormal([2, 13, 9, inChannels], 0, 1, 'float32', 9) as tf.Tensor4D;
  const w = tf.randomNormal([7, 7, inChannels, outChannels], 0, 0.1, 'float32', 10) as tf.Tensor4D;
  const bias = tf.randomNormal([outChannels], 0, 0.1, 'float32', 11) as tf.Tensor1D;
  const y = tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias, activation: 'relu' });
  results.push(y, tf.conv2dTranspose(y, w, x.shape, 1, 'same'));
}
// F(5x5, 2x2) on the 2x2 phases of a 4x4 stride-2 transposed convolution (23 -> 17 channels).
{
  const x = tf.randomNormal([2, 9, 7, 17], 0, 1, 'float32', 12) as tf.Tensor4D;
  const w = tf.randomNormal([4, 4, 23, 17], 0, 0.1, 'float32', 13) as tf.Tensor4D;
  results.push(tf.conv2dTranspose(x, w, [2, 18, 14, 23], 2, 'same'));
  // and a 4x4 stride-2 convolution and its filter gradient through the space to depth (23 -> 17).
  const input = tf.randomNormal([2, 18, 14, 23], 0, 1, 'float32', 14) as tf.Tensor4D;
  results.push(tf.conv2d(input, w, 2, 'same'));
  results.push(
    tf.grad((f: tf.Tensor) =>
      tf
        .conv2d(input, f as tf.Tensor4D, 2, 'same')
        .square()
        .sum(),
    )(w),
  );
}
// Adam's update (native/adam.c): 303 values, four chunks of 64 and one of 47 (12 groups of 4, the last one partial).
adamUpdateTuning.chunk = 64;
{
  const w = tf.variable(tf.randomNormal([3, 101], 0, 1, 'float32', 15));
  const adam = new Adam([w], { lr: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 });
  for (let i = 0; i < 3; i++) {
    const g = tf.randomNormal([3, 101], 0, 1, 'float32', 16 + i);
    adam.apply([g]);
    g.dispose();
  }
  results.push(w);
  for (const moment of (await adam.getState()).moments) hash.update(moment);
}
// native/elementwise.c: LeakyRelu and its gradient (1003 values, 251 groups of 4, the last partial), a split of 13 channels, a sum over the pixels of 37 channels (10 groups, the last partial), and a reflection padding's gradient (18 rows).
{
  const x = tf.randomNormal([1, 17, 59, 1], 0, 1, 'float32', 20);
  const dy = tf.randomNormal([1, 17, 59, 1], 0, 1, 'float32', 21);
  results.push(tf.leakyRelu(x, 0.2), tf.grad((a: tf.Tensor) => tf.leakyRelu(a, 0.2))(x, dy));
  results.push(...tf.split(tf.randomNormal([2, 11, 3, 13], 0, 1, 'float32', 22), [4, 9], 3));
  results.push(tf.sum(tf.randomNormal([2, 11, 3, 37], 0, 1, 'float32', 23), [0, 1, 2]));
  const padded = (a: tf.Tensor) =>
    tf.mirrorPad(
      a as tf.Tensor4D,
      [
        [0, 0],
        [3, 2],
        [1, 3],
        [0, 0],
      ],
      'reflect',
    );
  const image = tf.randomNormal([2, 9, 7, 6], 0, 1, 'float32', 24);
  results.push(
    tf.grad((a: tf.Tensor) =>
      padded(a)
        .mul(tf.randomNormal([2, 14, 11, 6], 0, 1, 'float32', 25))
        .sum(),
    )(image),
  );
}
for (const t of results) hash.update(t.dataSync() as Float32Array);
console.log(JSON.stringify({ backend: describeBackend(), nativeThreads: nativeThreads(activeWasmBackend()!), hash: hash.digest('hex') }));
