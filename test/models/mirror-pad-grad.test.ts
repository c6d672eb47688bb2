// The gradient of reflection (and symmetric) padding that models/layers/reflection-padding.ts
// registers for MirrorPad, in place of tfjs's, which drops what reaches a pixel through its copies.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import '../../src/models/layers/reflection-padding.ts';
import { assertNoLeaks } from '../engine/helpers.ts';

type Mode = 'reflect' | 'symmetric';
const PADDINGS: [number, number][] = [
  [0, 0],
  [2, 1],
  [3, 2],
  [0, 0],
];

/** Indices of x along an axis of `size` that the padded positions copy. */
function sourceIndices(size: number, before: number, after: number, mode: Mode): number[] {
  const offset = mode === 'reflect' ? 1 : 0;
  return Array.from({ length: before + size + after }, (_, p) => {
    const i = p - before;
    if (i < 0) return -i - 1 + offset;
    if (i >= size) return 2 * size - 1 - i - offset;
    return i;
  });
}

/** The same padding as two gathers, whose gradient (a segment sum) tfjs gets right. */
function padByGather(x: tf.Tensor4D, mode: Mode): tf.Tensor {
  const rows = sourceIndices(x.shape[1], PADDINGS[1]![0], PADDINGS[1]![1], mode);
  const cols = sourceIndices(x.shape[2], PADDINGS[2]![0], PADDINGS[2]![1], mode);
  return tf.gather(tf.gather(x, rows, 1), cols, 2);
}

function gradient(x: tf.Tensor4D, weights: tf.Tensor, mode: Mode, pad: (x: tf.Tensor4D) => tf.Tensor): Float32Array {
  const g = tf.grad((a: tf.Tensor) =>
    pad(a as tf.Tensor4D)
      .mul(weights)
      .sum(),
  )(x);
  const values = g.dataSync() as Float32Array;
  g.dispose();
  return values;
}

describe('MirrorPad gradient', () => {
  it('sums the gradient of every copy of a pixel (hand-computed, both modes)', async () => {
    await useBackend('cpu');
    const x = tf.tensor4d([1, 2, 3, 4], [1, 1, 4, 1]);
    const grad = (mode: Mode) =>
      Array.from(
        tf
          .grad((a: tf.Tensor) =>
            tf
              .mirrorPad(
                a as tf.Tensor4D,
                [
                  [0, 0],
                  [0, 0],
                  [1, 1],
                  [0, 0],
                ],
                mode,
              )
              .sum(),
          )(x)
          .dataSync(),
      );
    // reflect [2 | 1 2 3 4 | 3]: pixels 2 and 3 appear twice; symmetric [1 | 1 2 3 4 | 4]: 1 and 4.
    assert.deepEqual(grad('reflect'), [1, 2, 2, 1]);
    assert.deepEqual(grad('symmetric'), [2, 1, 1, 2]);
    x.dispose();
  });

  for (const mode of ['reflect', 'symmetric'] as const) {
    it(`matches the gradient through gathers, and wasm's kernel gives the cpu ops' bits (${mode})`, async () => {
      const results: Record<string, Float32Array> = {};
      let reference: Float32Array = new Float32Array(0);
      for (const backend of ['cpu', 'wasm'] as const) {
        await useBackend(backend);
        const x = tf.randomNormal([2, 5, 6, 7], 0, 1, 'float32', 1) as tf.Tensor4D;
        const weights = tf.randomNormal([2, 8, 11, 7], 0, 1, 'float32', 2);
        // (wasm has no gather gradient: the reference comes from cpu.)
        if (backend === 'cpu') reference = gradient(x, weights, mode, (a) => padByGather(a, mode));
        const calls = nativeCallCounts.get('elementwise.mirror_pad_grad') ?? 0;
        results[backend] = gradient(x, weights, mode, (a) => tf.mirrorPad(a, PADDINGS, mode));
        const ran = (nativeCallCounts.get('elementwise.mirror_pad_grad') ?? 0) - calls;
        assert.equal(ran, backend === 'wasm' ? 1 : 0, `the compiled kernel ran ${ran} times on ${backend}`);
        const got = results[backend]!;
        for (let i = 0; i < got.length; i++)
          assert.ok(Math.abs(got[i]! - reference[i]!) < 1e-5, `${backend} [${i}]: ${got[i]} vs ${reference[i]}`);
        tf.dispose([x, weights]);
      }
      const [cpu, wasm] = [results.cpu!, results.wasm!];
      for (let i = 0; i < cpu.length; i++) assert.ok(cpu[i] === wasm[i], `[${i}]: cpu ${cpu[i]}, wasm ${wasm[i]}`);
    });
  }

  it('pads of the batch or channel axes go op by op on wasm too, and nothing leaks', async () => {
    await useBackend('wasm');
    const x = tf.randomNormal([2, 4, 4, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
    const channels: [number, number][] = [
      [0, 0],
      [1, 1],
      [0, 0],
      [1, 0],
    ];
    const g = tf.grad((a: tf.Tensor) => tf.mirrorPad(a as tf.Tensor4D, channels, 'reflect').sum())(x);
    // Channel 1 is copied once (reflect, 1 before), rows 1 and 2 once each.
    assert.equal(g.dataSync()[1], 2 * 1);
    assert.equal(g.dataSync()[3 * 4 + 1], 2 * 2);
    const dy = tf.randomNormal([2, 7, 9, 3], 0, 1, 'float32', 4);
    assertNoLeaks(() => gradient(x, dy, 'reflect', (a) => tf.mirrorPad(a, PADDINGS, 'reflect')));
    tf.dispose([x, g, dy]);
  });
});
