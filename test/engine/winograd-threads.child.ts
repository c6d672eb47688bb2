// Child for winograd-threads.test.ts: Winograd convolutions (forward, input and filter gradients, forced
// on at a small size) with CYCLEGAN_WASM_THREADS threads; prints the thread count and a hash.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBackend } from '../../src/engine/backend.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';

await useBackend('wasm');
Object.assign(wasmKernelTuning, {
  winograd: true,
  winogradMinChannels: 1,
  winogradMinOutPixels: 0,
  convGemmMaxOutPixels: 0,
  gemmMaxDyPixels: 0,
});
const hash = createHash('sha256');
const x = tf.randomNormal([2, 26, 22, 64], 0, 1, 'float32', 1) as tf.Tensor4D;
const w = tf.randomNormal([3, 3, 64, 96], 0, 0.1, 'float32', 2) as tf.Tensor4D;
const bias = tf.randomNormal([96], 0, 0.1, 'float32', 3) as tf.Tensor1D;
const [dx, dw] = tf.grads((a: tf.Tensor, f: tf.Tensor) =>
  tf.fused
    .conv2d({ x: a as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: 'valid', bias })
    .square()
    .sum(),
)([x, w]);
for (const t of [tf.conv2d(x, w, 1, 'same'), dx!, dw!]) hash.update(t.dataSync() as Float32Array);
console.log(JSON.stringify({ backend: describeBackend(), hash: hash.digest('hex') }));
