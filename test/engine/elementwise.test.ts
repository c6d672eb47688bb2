import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import { useElementwiseKernels } from '../../src/engine/wasm-kernels.ts';
import { assertNoLeaks } from './helpers.ts';

/** Normal values with exact zeros of both signs mixed in, where the kernels' comparisons decide. */
function withZeros(shape: number[], seed: number): tf.Tensor {
  const values = tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array;
  for (let i = 0; i < values.length; i += 5) values[i] = i % 2 ? -0 : 0;
  return tf.tensor(values, shape);
}

const calls = (name: string) => nativeCallCounts.get(`elementwise.${name}`) ?? 0;

/** `fn`'s results with the compiled kernels and with the stock ones, and how often `kernel` ran. */
function bothWays(kernel: string, fn: () => tf.Tensor[]): { compiled: Float32Array[]; stock: Float32Array[]; ran: number } {
  const before = calls(kernel);
  const compiled = tf.tidy(fn).map((t) => {
    const v = t.dataSync() as Float32Array;
    t.dispose();
    return v;
  });
  const ran = calls(kernel) - before;
  useElementwiseKernels(false);
  try {
    const stock = tf.tidy(fn).map((t) => {
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return v;
    });
    return { compiled, stock, ran };
  } finally {
    useElementwiseKernels(true);
  }
}

describe('element-wise kernels (native/elementwise.c)', () => {
  for (const [shape, alpha] of [
    [[3], 0.2],
    [[2, 9, 7, 5], 0.3],
    [[1, 33, 31, 64], 0.2],
  ] as const) {
    it(`LeakyRelu ${alpha} and its gradient on [${shape}] give the stock kernels' bits`, async () => {
      await useBackend('wasm');
      const x = withZeros([...shape], 1);
      const dy = tf.randomNormal([...shape], 0, 1, 'float32', 2);
      const run = () => {
        const y = tf.leakyRelu(x, alpha);
        const dx = tf.grad((a: tf.Tensor) => tf.leakyRelu(a, alpha))(x, dy);
        return [y, dx];
      };
      const gradients = calls('leaky_relu_grad');
      const forward = bothWays('leaky_relu', run);
      assert.equal(forward.ran, 2, 'the compiled forward kernel did not run (once alone, once under the gradient)');
      assert.equal(calls('leaky_relu_grad') - gradients, 1, 'the compiled gradient kernel did not run');
      assert.deepEqual(forward.compiled, forward.stock);
      // The gradient is the same formula on the cpu backend (float32 products are exact in float64).
      const xv = x.dataSync();
      const dyv = dy.dataSync();
      const dx = forward.compiled[1]!;
      for (let i = 0; i < dx.length; i++) assert.equal(dx[i], xv[i]! > 0 ? dyv[i] : Math.fround(dyv[i]! * Math.fround(alpha)), `dx[${i}]`);
      assert.ok(
        dx.some((d, i) => d !== dyv[i]),
        'no element took the negative slope',
      );
      tf.dispose([x, dy]);
    });
  }

  it('LeakyRelu falls back to the stock kernel for int32 input', async () => {
    await useBackend('wasm');
    const before = calls('leaky_relu');
    const y = tf.leakyRelu(tf.tensor1d([-5, 0, 3], 'int32'), 0.5);
    assert.deepEqual(Array.from(y.dataSync()), [-2.5, 0, 3]);
    assert.equal(calls('leaky_relu'), before);
    y.dispose();
  });

  it("SplitV along the last axis gives the stock kernel's pieces, empty ones included; other axes go to the stock kernel", async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([2, 5, 7, 17], 0, 1, 'float32', 3);
    const last = bothWays('slice_last_axis', () => tf.split(x, [3, 5, 0, 9], -1));
    assert.equal(last.ran, 3, 'the compiled kernel did not copy the three non-empty pieces');
    assert.deepEqual(last.compiled, last.stock);
    assert.deepEqual(last.compiled[3]!.slice(0, 9), x.slice([0, 0, 0, 8], [1, 1, 1, 9]).dataSync());
    const other = bothWays('slice_last_axis', () => tf.split(x, [2, 3], 1));
    assert.equal(other.ran, 0);
    assert.deepEqual(other.compiled, other.stock);
    // The gradient of a channel concatenation is this split.
    const a = tf.randomNormal([1, 4, 4, 6], 0, 1, 'float32', 4);
    const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf
        .concat([p, q], 3)
        .mul(tf.range(1, 11).reshape([1, 1, 1, 10]))
        .sum(),
    )([a, a.slice([0, 0, 0, 0], [1, 4, 4, 4])]);
    assert.deepEqual(Array.from(ga!.dataSync().slice(0, 6)), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(Array.from(gb!.dataSync().slice(0, 4)), [7, 8, 9, 10]);
    tf.dispose([x, a, ga!, gb!]);
  });

  it("Sum over every axis but the last gives the stock kernel's bits; other reductions go to the stock kernel", async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([2, 5, 7, 13], 0, 1, 'float32', 7);
    const rows = bothWays('sum_rows', () => [tf.sum(x, [0, 1, 2]), tf.sum(x, [0, 1, -2], true), tf.sum(x.reshape([70, 13]), 0)]);
    assert.equal(rows.ran, 3);
    assert.deepEqual(rows.compiled, rows.stock);
    const v = x.dataSync();
    let first = 0;
    for (let p = 0; p < 70; p++) first = Math.fround(first + v[13 * p]!);
    assert.equal(rows.compiled[0]![0], first, 'not the sum in row order');
    const other = bothWays('sum_rows', () => [tf.sum(x, [1, 2]), tf.sum(x, 3), tf.sum(x), tf.sum(x, [2, 0, 1])]);
    assert.equal(other.ran, 0);
    assert.deepEqual(other.compiled, other.stock);
    // A fused convolution's bias gradient is this sum.
    const before = calls('sum_rows');
    const filter = tf.randomNormal([3, 3, 13, 8], 0, 0.1, 'float32', 8) as tf.Tensor4D;
    const dBias = tf.grad((b: tf.Tensor) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter, bias: b, pad: 'same', strides: 1 }).sum())(
      tf.zeros([8]),
    );
    assert.equal(calls('sum_rows') - before, 1);
    assert.ok(Math.abs(dBias.dataSync()[0]! - 70) < 1e-4, `d(sum)/d(bias) = pixels: ${dBias.dataSync()[0]}`);
    tf.dispose([x, filter, dBias]);
  });

  it('leaks no tensor or heap buffer', async () => {
    await useBackend('wasm');
    const x = withZeros([1, 16, 16, 8], 5);
    const dy = tf.randomNormal([1, 16, 16, 8], 0, 1, 'float32', 6);
    assertNoLeaks(() => {
      const dx = tf.grad((a: tf.Tensor) => tf.leakyRelu(a, 0.2))(x, dy);
      tf.dispose([dx, ...tf.split(x, [3, 5], 3), tf.sum(x, [0, 1, 2])]);
    });
    tf.dispose([x, dy]);
  });
});
