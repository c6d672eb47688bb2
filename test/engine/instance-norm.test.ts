/**
 * The compiled instance-norm kernels (src/engine/instance-norm.ts, native/instance-norm.c) against
 * the cpu backend's op-by-op path: values and gradients, affine and plain, channel counts that are
 * and are not multiples of the SIMD width, batch 1 and 2; that the kernels really run; no leaks;
 * a bad input is one clear error. These run the threaded build (its shared-memory module); the
 * single-threaded build's module runs in test/engine/wasm-threads.test.ts, whose one-thread child
 * trains bit for bit as two threads do.
 *
 * Tolerance: both sum in float32, in different orders, so sums of up to 1024 terms differ by a few
 * roundings. Measured at most 5.3e-7 of the largest value (the scale gradient at 32×32×12);
 * accepted 2e-6, a few times that, far below what training notices (Adam steps are ~1e-4 relative).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { trackWasmBuffers, wasmHeapStats } from '../../src/engine/heap-stats.ts';
import { INSTANCE_NORM, INSTANCE_NORM_GRAD } from '../../src/engine/kernel-names.ts';
import { useInstanceNormKernels } from '../../src/engine/wasm-kernels.ts';
import { InstanceNormalization } from '../../src/models/layers/instance-norm.ts';
import { relativeError } from './helpers.ts';

type Shape = [number, number, number, number];

/** y and the gradients of Σ relu(norm(x))·w with respect to x, scale and offset, on the active backend. */
function forwardAndGradients(shape: Shape, affine: boolean): Record<string, Float32Array> {
  return tf.tidy(() => {
    const x = tf.randomNormal(shape, 0.3, 1.7, 'float32', 11);
    const w = tf.randomNormal(shape, 0, 1, 'float32', 12);
    const layer = new InstanceNormalization({ affine, seed: 13, epsilon: 1e-5 });
    layer.build(shape);
    if (affine) layer.setWeights([tf.randomNormal([shape[3]], 1, 0.3, 'float32', 14), tf.randomNormal([shape[3]], 0, 0.3, 'float32', 15)]);
    const params = layer.trainableWeights.map((v) => v.read());
    const loss = (input: tf.Tensor, ...weights: tf.Tensor[]) => {
      // The layer reads its own variables; `weights` only tell tf.grads what to differentiate.
      void weights;
      return tf.sum(tf.mul(tf.relu(layer.apply(input) as tf.Tensor), w));
    };
    const y = layer.apply(x) as tf.Tensor;
    const grads = affine ? tf.variableGrads(() => loss(x) as tf.Scalar, params as tf.Variable[]).grads : {};
    const dx = tf.grad((input: tf.Tensor) => loss(input))(x);
    const out: Record<string, Float32Array> = { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
    for (const [name, g] of Object.entries(grads)) out[name.split('/').pop()!.replace(/_\d+$/, '')] = g.dataSync() as Float32Array;
    for (const weight of layer.weights) weight.dispose();
    return out;
  });
}

const SHAPES: Shape[] = [
  [1, 5, 3, 7], // 7 channels: one SIMD group and a scalar tail
  [2, 4, 6, 8], // batch 2
  [1, 32, 32, 12],
  [2, 3, 5, 1], // one channel: the tail only
];

describe('instance-norm kernels on wasm', () => {
  before(async () => {
    await useBackend('wasm');
    assert.ok(trackWasmBuffers());
  });
  after(() => {
    useInstanceNormKernels(true);
  });

  for (const affine of [true, false]) {
    it(`match the cpu backend's op-by-op values and gradients (${affine ? 'affine' : 'plain'})`, async () => {
      for (const shape of SHAPES) {
        await useBackend('cpu');
        const expected = forwardAndGradients(shape, affine);
        await useBackend('wasm');
        const actual = forwardAndGradients(shape, affine);
        assert.deepEqual(Object.keys(actual).sort(), affine ? ['dx', 'offset', 'scale', 'y'] : ['dx', 'y']);
        for (const key of Object.keys(expected)) {
          const error = relativeError(actual[key]!, expected[key]!);
          assert.ok(error <= 2e-6, `[${shape}] ${key}: relative error ${error}`);
        }
      }
    });
  }

  for (const affine of [true, false]) {
    it(`are what runs on wasm, and the op-by-op path when they are switched off (${affine ? 'affine' : 'plain'})`, async () => {
      const kernelsOf = async () => {
        const profile = await tf.profile(() => tf.tidy(() => forwardAndGradients([1, 4, 4, 8], affine)));
        return new Set(profile.kernels.map((k) => k.name));
      };
      const on = await kernelsOf();
      assert.ok(on.has(INSTANCE_NORM) && on.has(INSTANCE_NORM_GRAD), [...on].join(', '));
      assert.ok(!on.has('Rsqrt'), 'no op-by-op normalisation left');
      useInstanceNormKernels(false);
      try {
        const off = await kernelsOf();
        assert.ok(!off.has(INSTANCE_NORM) && off.has('Rsqrt'), [...off].join(', '));
      } finally {
        useInstanceNormKernels(true);
      }
    });
  }

  it('keep the tensor count and the live wasm buffers flat over repeated steps', () => {
    const counts: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < 5; i++) {
      forwardAndGradients([2, 8, 8, 16], i % 2 === 0);
      counts.push(tf.memory().numTensors);
      live.push(wasmHeapStats()!.liveBytes);
    }
    assert.equal(counts[4], counts[2], `numTensors ${counts.join(', ')}`);
    assert.equal(live[4], live[2], `live bytes ${live.join(', ')}`);
  });

  it('refuse inputs of the wrong size with one error, before they take any memory', () => {
    const x = tf.randomNormal([1, 4, 4, 8]);
    const dy = tf.randomNormal([1, 4, 4, 8]);
    const [scale, offset, rstd] = [tf.ones([6]), tf.zeros([6]), tf.ones([1, 1, 1, 3])];
    const before = { tensors: tf.memory().numTensors, bytes: wasmHeapStats()!.liveBytes };
    const run = (name: string, inputs: Record<string, tf.Tensor>, attrs = {}) =>
      tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs);
    assert.throws(
      () => run(INSTANCE_NORM, { x, scale, offset }, { epsilon: 1e-5 }),
      /^Error: CycleganInstanceNorm: scale must have shape \[8\], got \[6\]$/,
    );
    assert.throws(
      () => run(INSTANCE_NORM_GRAD, { dy, xHat: x, rstd }),
      /^Error: CycleganInstanceNormGrad: rstd must be \[1,1,1,8\], got \[1,1,1,3\]$/,
    );
    assert.deepEqual({ tensors: tf.memory().numTensors, bytes: wasmHeapStats()!.liveBytes }, before);
    tf.dispose([x, dy, scale, offset, rstd]);
  });
});
