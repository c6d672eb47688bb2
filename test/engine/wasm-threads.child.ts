// Child for wasm-threads.test.ts: a tiny CycleGAN step and a large convolution on the wasm
// backend with CYCLEGAN_WASM_THREADS threads; prints the thread count and a hash of the results.
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { describeBackend, useBackend } from '../../src/engine/backend.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { Rng } from '../../src/util/rng.ts';

await useBackend('wasm');
const hash = createHash('sha256');
const x = tf.randomNormal([1, 24, 24, 64], 0, 1, 'float32', 1) as tf.Tensor4D;
const w = tf.randomNormal([3, 3, 64, 96], 0, 0.1, 'float32', 2) as tf.Tensor4D;
hash.update(tf.conv2d(x, w, 1, 'same').dataSync() as Float32Array);
const gan = new CycleGan(resolveConfig({ preset: 'tutorial', generator: 'unet', ngf: 8, ndf: 8, cropSize: 32, loadSize: 32 }), new Rng(3));
const a = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
const b = tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
for (let i = 0; i < 2; i++) await gan.trainStep(a, b);
for (const model of [gan.genAtoB, gan.genBtoA, gan.discA, gan.discB]) {
  for (const weight of model.getWeights()) hash.update(weight.dataSync() as Float32Array);
}
console.log(JSON.stringify({ backend: describeBackend(), hash: hash.digest('hex') }));
