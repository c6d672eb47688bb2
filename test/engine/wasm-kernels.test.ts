/**
 * The wasm training kernels (src/engine/wasm-kernels.ts) checked against the pure-JS cpu backend,
 * which is slow but exact: conv2d and conv2dTranspose values and gradients over strides, paddings,
 * odd sizes, kernel sizes and channel counts, plus a leak check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { relativeError, valuesOf } from './helpers.ts';

const TOLERANCE = 1e-4;

type Pad = 'same' | 'valid' | number | [[0, 0], [number, number], [number, number], [0, 0]];
interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: 1 | 2;
  pad: Pad;
}

function describe(c: ConvCase): string {
  return `${c.batch}x${c.height}x${c.width}x${c.inChannels}->${c.outChannels} k${c.kernel} s${c.stride} pad=${JSON.stringify(c.pad)}`;
}

/**
 * Every quantity the kernels produce for one case: conv2d's gradients (Conv2DBackpropInput and
 * Conv2DBackpropFilter), conv2dTranspose's forward (Conv2DBackpropInput) and its gradients (Conv2D
 * and Conv2DBackpropFilter with dy and x in swapped roles). Losses are weighted by fixed random
 * tensors so gradients are not all alike.
 */
function computeAll(c: ConvCase): Record<string, Float32Array> {
  return tf.tidy(() => {
    const x = tf.randomUniform([c.batch, c.height, c.width, c.inChannels], -1, 1, 'float32', 11) as tf.Tensor4D;
    const filter = tf.randomUniform([c.kernel, c.kernel, c.inChannels, c.outChannels], -1, 1, 'float32', 12) as tf.Tensor4D;
    const y = tf.conv2d(x, filter, c.stride, c.pad);
    const yWeights = tf.randomUniform(y.shape, -1, 1, 'float32', 13);
    const [convDx, convDf] = tf.grads((input: tf.Tensor, f: tf.Tensor) =>
      tf
        .conv2d(input as tf.Tensor4D, f as tf.Tensor4D, c.stride, c.pad)
        .mul(yWeights)
        .sum(),
    )([x, filter]);

    const transposeInput = tf.randomUniform(y.shape, -1, 1, 'float32', 14) as tf.Tensor4D;
    const transposed = tf.conv2dTranspose(transposeInput, filter, x.shape, c.stride, c.pad);
    const xWeights = tf.randomUniform(x.shape, -1, 1, 'float32', 15);
    const [transposeDy, transposeDf] = tf.grads((input: tf.Tensor, f: tf.Tensor) =>
      tf
        .conv2dTranspose(input as tf.Tensor4D, f as tf.Tensor4D, x.shape, c.stride, c.pad)
        .mul(xWeights)
        .sum(),
    )([transposeInput, filter]);

    const fused = tf.fused.conv2d({ x, filter, strides: c.stride, pad: c.pad });
    const values = valuesOf;
    return {
      'conv2d y': values(y),
      'fused conv2d y': values(fused),
      'conv2d dx': values(convDx),
      'conv2d dfilter': values(convDf),
      'conv2dTranspose y': values(transposed),
      'conv2dTranspose dx': values(transposeDy),
      'conv2dTranspose dfilter': values(transposeDf),
    };
  });
}

async function compareOnBackends(c: ConvCase): Promise<Record<string, number>> {
  await useBackend('cpu');
  const expected = computeAll(c);
  await useBackend('wasm');
  const actual = computeAll(c);
  const errors: Record<string, number> = {};
  for (const key of Object.keys(expected)) errors[key] = relativeError(actual[key]!, expected[key]!);
  return errors;
}

const cases: ConvCase[] = [];
const shapes: [number, number, number, number, number][] = [
  // batch, height, width, inChannels, outChannels
  [2, 7, 9, 3, 5],
  [1, 8, 8, 8, 16],
  [1, 6, 5, 16, 4],
];
for (const [batch, height, width, inChannels, outChannels] of shapes) {
  for (const kernel of [3, 4]) {
    for (const stride of [1, 2] as const) {
      for (const pad of [
        'same',
        'valid',
        1,
        [
          [0, 0],
          [2, 1],
          [0, 3],
          [0, 0],
        ],
      ] as Pad[]) {
        cases.push({ batch, height, width, inChannels, outChannels, kernel, stride, pad });
      }
    }
  }
}
// Corners: 1x1 kernels at stride 2 (phases with no filter tap), padding at least the kernel size.
cases.push({ batch: 1, height: 7, width: 9, inChannels: 3, outChannels: 2, kernel: 1, stride: 2, pad: 'valid' });
cases.push({ batch: 1, height: 7, width: 9, inChannels: 3, outChannels: 2, kernel: 3, stride: 2, pad: 3 });
cases.push({ batch: 1, height: 5, width: 5, inChannels: 2, outChannels: 3, kernel: 5, stride: 1, pad: 'same' });

// Conv2DBackpropInput has two paths (stride phases through XNNPACK convolutions, and GEMM + col2im
// for small dy), and so do Conv2D and FusedConv2D (XNNPACK's own, and a transposed-filter GEMM for
// small outputs): every case runs through each.
const PATHS = { phases: 0, gemm: Number.POSITIVE_INFINITY } as const;

for (const [path, threshold] of Object.entries(PATHS)) {
  test(`wasm conv kernels match the cpu backend (${path} path for dx)`, async (t) => {
    const worstByQuantity: Record<string, number> = {};
    const saved = { ...wasmKernelTuning };
    wasmKernelTuning.gemmMaxDyPixels = threshold;
    wasmKernelTuning.convGemmMaxOutPixels = threshold;
    try {
      for (const c of cases) {
        const errors = await compareOnBackends(c);
        for (const [key, error] of Object.entries(errors)) {
          worstByQuantity[key] = Math.max(worstByQuantity[key] ?? 0, error);
          assert.ok(error < TOLERANCE, `${describe(c)}: ${key} relative error ${error.toExponential(2)}`);
        }
      }
    } finally {
      Object.assign(wasmKernelTuning, saved);
    }
    const summary = Object.entries(worstByQuantity)
      .map(([key, error]) => `${key} ${error.toExponential(2)}`)
      .join(', ');
    t.diagnostic(`${cases.length} cases, max relative error: ${summary}`);
    console.log(`wasm-kernels (${path}): ${cases.length} cases, max relative error: ${summary}`);
  });
}

test('wasm conv kernels leak no tensors or buffers', async () => {
  await useBackend('wasm');
  const saved = { ...wasmKernelTuning };
  try {
    for (const threshold of Object.values(PATHS)) {
      wasmKernelTuning.gemmMaxDyPixels = threshold;
      wasmKernelTuning.convGemmMaxOutPixels = threshold;
      const leakCase: ConvCase = { batch: 1, height: 7, width: 9, inChannels: 4, outChannels: 6, kernel: 4, stride: 2, pad: 'same' };
      computeAll(leakCase); // warm-up: lazily created state is not a leak
      const tensorsBefore = tf.memory().numTensors;
      const buffersBefore = tf.engine().backend.numDataIds();
      for (const stride of [1, 2] as const) {
        for (const pad of [
          'same',
          'valid',
          [
            [0, 0],
            [2, 1],
            [0, 3],
            [0, 0],
          ],
        ] as Pad[]) {
          computeAll({ ...leakCase, stride, pad });
        }
      }
      assert.equal(tf.memory().numTensors, tensorsBefore, 'tensor count changed');
      assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'wasm buffer count changed');
    }
  } finally {
    // Restored as found (not to the defaults), so no later test runs on a changed tuning.
    Object.assign(wasmKernelTuning, saved);
  }
});

test('sub-filters cached for a variable filter follow assign and die with the variable', async (t) => {
  const outShape: [number, number, number, number] = [1, 10, 12, 3];
  const makeInputs = () => ({
    dy: tf.randomUniform([1, 5, 6, 8], -1, 1, 'float32', 21) as tf.Tensor4D,
    first: tf.randomUniform([4, 4, 3, 8], -1, 1, 'float32', 22),
    second: tf.randomUniform([4, 4, 3, 8], -1, 1, 'float32', 23),
  });
  const transpose = (dy: tf.Tensor4D, f: tf.Tensor) => tf.conv2dTranspose(dy, f as tf.Tensor4D, outShape, 2, 'same');

  await useBackend('cpu');
  const reference = makeInputs();
  const expectedFirst = transpose(reference.dy, reference.first).dataSync() as Float32Array;
  const expectedSecond = transpose(reference.dy, reference.second).dataSync() as Float32Array;
  tf.dispose(Object.values(reference));

  await useBackend('wasm');
  const saved = { ...wasmKernelTuning };
  t.after(() => Object.assign(wasmKernelTuning, saved));
  wasmKernelTuning.gemmMaxDyPixels = 0; // the phase path is the one with sub-filters
  const tensorsBefore = tf.memory().numTensors;
  const buffersBefore = tf.engine().backend.numDataIds();
  const { dy, first, second } = makeInputs();
  // tf.variable shares the initial tensor's buffer; the cache entry lives as long as that buffer.
  const filter = tf.variable(first);
  const buffersWithInputs = tf.engine().backend.numDataIds();
  for (let use = 0; use < 2; use++) {
    const out = transpose(dy, filter);
    assert.ok(relativeError(out.dataSync() as Float32Array, expectedFirst) < TOLERANCE, `use ${use} before assign`);
    out.dispose();
  }
  assert.equal(tf.engine().backend.numDataIds(), buffersWithInputs + 4, 'expected the 4 phase sub-filters to be cached');
  filter.assign(second);
  const out = transpose(dy, filter);
  assert.ok(relativeError(out.dataSync() as Float32Array, expectedSecond) < TOLERANCE, 'stale sub-filters after assign');
  out.dispose();
  filter.dispose();
  tf.dispose([dy, first, second]);
  assert.equal(tf.memory().numTensors, tensorsBefore, 'tensor count changed');
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'cached sub-filters outlived their filter buffer');
});

test('a wrong dy shape is reported with the shapes involved', async () => {
  await useBackend('wasm');
  const dy = tf.zeros([1, 3, 3, 2]);
  const filter = tf.zeros([3, 3, 4, 2]);
  const x = tf.zeros([1, 8, 8, 4]);
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 4, 2] }),
    /dy shape \[1,3,3,2\]/,
  );
  tf.dispose([dy, filter, x]);
});

test('Identity (clone, and every tensor saved for backprop) shares the buffer instead of copying it', async () => {
  await useBackend('wasm');
  const x = tf.randomUniform([3, 5, 7], -1, 1, 'float32', 31);
  const expected = Array.from(x.dataSync());
  const buffersBefore = tf.engine().backend.numDataIds();
  const copy = x.clone();
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'clone allocated a buffer');
  x.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), expected, 'the clone lost its values when the original was disposed');
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'the shared buffer was freed while a clone still uses it');
  copy.dispose();
  assert.equal(tf.engine().backend.numDataIds(), buffersBefore - 1, 'the shared buffer outlived its last tensor');
  // Gradients through ops that save their inputs are unchanged (compared with the cpu backend).
  const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.square(a), tf.sin(a)));
  const input = [0.3, -1.2, 2.5, 0.01];
  const onWasm = Array.from(tf.grad(f)(tf.tensor1d(input)).dataSync());
  await useBackend('cpu');
  const onCpu = Array.from(tf.grad(f)(tf.tensor1d(input)).dataSync());
  onWasm.forEach((g, i) => assert.ok(Math.abs(g - onCpu[i]!) < 1e-5, `gradient ${i}: ${g} vs ${onCpu[i]}`));
});
