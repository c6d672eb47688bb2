/**
 * Winograd F(4x4, 3x3), F(3x3, 4x4) and F(5x5, 2x2) (src/engine/winograd.ts) against the pure-JS
 * cpu backend: 3x3 and 4x4 stride-1 conv2d and fused conv2d (bias, relu) values and gradients
 * (input, filter, bias) over odd sizes, batch 1 and 2, 'same', 'valid' and explicit padding; the
 * 2x2 phases of stride-2 transposed convolutions and input gradients, and 4x4 stride-2
 * convolutions and filter gradients over their input's space to depth; nothing kept between
 * calls; no leaks.
 *
 * Accepted error: 5e-5 of the output's largest magnitude. Winograd's transform (points 0, ±1, ±2)
 * scales float32 rounding in the 36 matrix products up by ~10-100x over the direct convolution
 * (2e-7 here): measured ≤ ~1.2e-5 up to 256 channels (the filter gradient ≤ ~4e-6). Training sees
 * none of it: one Adam step changes a weight by ~1e-4 of its size.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { nativeCallCounts } from '../../src/engine/native-threads.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { assertNoLeaks, relativeError, valuesOf } from './helpers.ts';

const TOLERANCE = 5e-5;

interface Case {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  pad: 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
  /** The filter's size: 3 (F(4x4, 3x3), the default) or 4 (F(3x3, 4x4)). */
  kernel?: number;
}

/** conv2d and fused conv2d (bias + relu) outputs and the gradients of both (x, filter, bias). */
function computeAll(c: Case): Record<string, Float32Array> {
  return tf.tidy(() => {
    const x = tf.randomUniform([c.batch, c.height, c.width, c.inChannels], -1, 1, 'float32', 41) as tf.Tensor4D;
    const k = c.kernel ?? 3;
    const filter = tf.randomUniform([k, k, c.inChannels, c.outChannels], -1, 1, 'float32', 42) as tf.Tensor4D;
    const bias = tf.randomUniform([c.outChannels], -1, 1, 'float32', 43) as tf.Tensor1D;
    const y = tf.conv2d(x, filter, 1, c.pad);
    const weights = tf.randomUniform(y.shape, -1, 1, 'float32', 44);
    const fused = (input: tf.Tensor, f: tf.Tensor, b: tf.Tensor) =>
      tf.fused.conv2d({ x: input as tf.Tensor4D, filter: f as tf.Tensor4D, strides: 1, pad: c.pad, bias: b, activation: 'relu' });
    const [dx, df] = tf.grads((input: tf.Tensor, f: tf.Tensor) =>
      tf
        .conv2d(input as tf.Tensor4D, f as tf.Tensor4D, 1, c.pad)
        .mul(weights)
        .sum(),
    )([x, filter]);
    const [fusedDx, fusedDf, fusedDb] = tf.grads((input: tf.Tensor, f: tf.Tensor, b: tf.Tensor) => fused(input, f, b).mul(weights).sum())([
      x,
      filter,
      bias,
    ]);
    const values = valuesOf;
    return {
      'conv2d y': values(y),
      'fused y': values(fused(x, filter, bias)),
      'conv2d dx': values(dx),
      'conv2d dfilter': values(df),
      'fused dx': values(fusedDx),
      'fused dfilter': values(fusedDf),
      'fused dbias': values(fusedDb),
    };
  });
}

/** Every 3x3 and 4x4 stride-1 convolution (forward, input and filter gradients) through Winograd, whatever its size. */
function forceWinograd(): () => void {
  const saved = { ...wasmKernelTuning };
  Object.assign(wasmKernelTuning, {
    winograd: true,
    winogradMinChannels: 1,
    winogradMinOutPixels: 0,
    winogradPhaseMinOutPixels: 0,
    winogradTransformMaxFloats: 2 ** 30, // one block: the tests count calls per convolution
    convGemmMaxOutPixels: 0,
    gemmMaxDyPixels: 0,
  });
  return () => Object.assign(wasmKernelTuning, saved);
}

const cases: Case[] = [];
for (const [batch, height, width, inChannels, outChannels] of [
  [1, 7, 9, 3, 5],
  [2, 13, 6, 8, 16],
  [1, 5, 5, 33, 40],
  [2, 10, 11, 16, 8],
] as const) {
  for (const pad of [
    'same',
    'valid',
    [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    [
      [0, 0],
      [2, 0],
      [0, 1],
      [0, 0],
    ],
  ] as Case['pad'][]) {
    cases.push({ batch, height, width, inChannels, outChannels, pad });
  }
}
// The ResNet's residual block at its width (reflect-padded input, 'valid').
cases.push({ batch: 1, height: 10, width: 10, inChannels: 256, outChannels: 256, pad: 'valid' });
// 4x4 filters (F(3x3, 4x4)): odd sizes, batch 2, every padding kind, and PatchGAN's 4x4 stride-1
// layer at its width (padded by 1 on each side, 'valid').
for (const pad of [
  'same',
  'valid',
  [
    [0, 0],
    [2, 1],
    [0, 2],
    [0, 0],
  ],
] as Case['pad'][]) {
  cases.push({ batch: 1, height: 8, width: 11, inChannels: 3, outChannels: 5, pad, kernel: 4 });
  cases.push({ batch: 2, height: 13, width: 7, inChannels: 9, outChannels: 16, pad, kernel: 4 });
}
cases.push({ batch: 1, height: 12, width: 12, inChannels: 128, outChannels: 256, pad: 'valid', kernel: 4 });

test('Winograd 3x3 and 4x4 stride-1 convolutions match the cpu backend (values and gradients)', async (t) => {
  const worst: Record<string, number> = {};
  for (const c of cases) {
    await useBackend('cpu');
    const expected = computeAll(c);
    await useBackend('wasm');
    const restore = forceWinograd();
    let actual: Record<string, Float32Array>;
    try {
      actual = computeAll(c);
    } finally {
      restore();
    }
    for (const key of Object.keys(expected)) {
      const error = relativeError(actual[key]!, expected[key]!);
      worst[key] = Math.max(worst[key] ?? 0, error);
      assert.ok(error < TOLERANCE, `${JSON.stringify(c)}: ${key} relative error ${error.toExponential(2)}`);
    }
  }
  // F(3x3, 4x4)'s own transforms (the input, output and gradient passes are shared, picked by tile size).
  for (const name of ['winograd_filter_f34', 'winograd_filter_grad_f34']) {
    assert.ok((nativeCallCounts.get(`winograd.${name}`) ?? 0) > 0, `the 4x4 cases never ran ${name}`);
  }
  const summary = Object.entries(worst)
    .map(([key, error]) => `${key} ${error.toExponential(2)}`)
    .join(', ');
  t.diagnostic(`${cases.length} cases, max relative error: ${summary}`);
  console.log(`winograd: ${cases.length} cases, max relative error: ${summary}`);
});

test('F(5x5, 2x2) runs the 2x2 phases of stride-2 transposed convolutions and input gradients, matching the cpu backend', async (t) => {
  const phaseCases: { batch: number; size: [number, number]; inChannels: number; outChannels: number; kernel: number }[] = [
    { batch: 1, size: [11, 13], inChannels: 24, outChannels: 20, kernel: 4 },
    { batch: 2, size: [7, 6], inChannels: 9, outChannels: 17, kernel: 4 },
    { batch: 1, size: [12, 12], inChannels: 128, outChannels: 64, kernel: 4 },
    { batch: 2, size: [9, 10], inChannels: 16, outChannels: 12, kernel: 3 },
  ];
  // y = conv2dTranspose(x, filter) (Conv2DBackpropInput as a forward pass), and the input gradient
  // of a stride-2 convolution of y's size.
  const compute = (c: (typeof phaseCases)[number]) =>
    tf.tidy(() => {
      const x = tf.randomUniform([c.batch, ...c.size, c.outChannels], -1, 1, 'float32', 91) as tf.Tensor4D;
      const filter = tf.randomUniform([c.kernel, c.kernel, c.inChannels, c.outChannels], -1, 1, 'float32', 92) as tf.Tensor4D;
      const outShape: [number, number, number, number] = [c.batch, 2 * c.size[0], 2 * c.size[1], c.inChannels];
      const y = tf.conv2dTranspose(x, filter, outShape, 2, 'same');
      const weights = tf.randomUniform(x.shape, -1, 1, 'float32', 93);
      const dx = tf.grad((input: tf.Tensor) =>
        tf
          .conv2d(input as tf.Tensor4D, filter, 2, 'same')
          .mul(weights)
          .sum(),
      )(y);
      return [y, dx].map((r) => r.dataSync() as Float32Array);
    });
  let worst = 0;
  for (const c of phaseCases) {
    await useBackend('cpu');
    const expected = compute(c);
    await useBackend('wasm');
    const restore = forceWinograd();
    const before = nativeCallCounts.get('winograd.winograd_filter_f52') ?? 0;
    let actual: Float32Array[];
    try {
      actual = compute(c);
    } finally {
      restore();
    }
    // Each of the two has four phases; a 4x4 filter's are all 2x2, a 3x3 one's only one of them.
    // The input gradient's forward pass, a 4x4 stride-2 convolution, runs F(5x5, 2x2) once more.
    const ran = (nativeCallCounts.get('winograd.winograd_filter_f52') ?? 0) - before;
    assert.equal(ran, c.kernel === 4 ? 4 + 4 + 1 : 2, `${JSON.stringify(c)}: F(5x5, 2x2) ran ${ran} times`);
    for (const [i, name] of ['transposed convolution', 'input gradient'].entries()) {
      const error = relativeError(actual[i]!, expected[i]!);
      worst = Math.max(worst, error);
      assert.ok(error < TOLERANCE, `${JSON.stringify(c)} ${name}: relative error ${error.toExponential(2)}`);
    }
  }
  t.diagnostic(`${phaseCases.length} cases, max relative error ${worst.toExponential(2)}`);
});

test('4x4 stride-2 convolutions and their filter gradients by F(5x5, 2x2) over the space to depth match the cpu backend', async (t) => {
  type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];
  const stride2Cases: { batch: number; size: [number, number]; inChannels: number; outChannels: number; pad: Pad }[] = [
    { batch: 1, size: [16, 12], inChannels: 20, outChannels: 24, pad: 'same' },
    { batch: 2, size: [13, 11], inChannels: 17, outChannels: 9, pad: 'same' },
    { batch: 1, size: [15, 14], inChannels: 8, outChannels: 16, pad: 'valid' },
    {
      batch: 1,
      size: [12, 13],
      inChannels: 6,
      outChannels: 7,
      pad: [
        [0, 0],
        [2, 1],
        [0, 3],
        [0, 0],
      ],
    },
  ];
  const compute = (c: (typeof stride2Cases)[number]) =>
    tf.tidy(() => {
      const x = tf.randomUniform([c.batch, ...c.size, c.inChannels], -1, 1, 'float32', 94) as tf.Tensor4D;
      const filter = tf.randomUniform([4, 4, c.inChannels, c.outChannels], -1, 1, 'float32', 95) as tf.Tensor4D;
      const bias = tf.randomUniform([c.outChannels], -1, 1, 'float32', 96) as tf.Tensor1D;
      const plain = tf.conv2d(x, filter, 2, c.pad);
      const fused = tf.fused.conv2d({ x, filter, strides: 2, pad: c.pad, bias, activation: 'relu' });
      const weights = tf.randomUniform(plain.shape, -1, 1, 'float32', 97);
      const dfilter = tf.grad((f: tf.Tensor) =>
        tf
          .conv2d(x, f as tf.Tensor4D, 2, c.pad)
          .mul(weights)
          .sum(),
      )(filter);
      return [plain, fused, dfilter].map((r) => r.dataSync() as Float32Array);
    });
  let worst = 0;
  for (const c of stride2Cases) {
    await useBackend('cpu');
    const expected = compute(c);
    await useBackend('wasm');
    const restore = forceWinograd();
    const before = nativeCallCounts.get('rearrange.space_to_depth2') ?? 0;
    let actual: Float32Array[];
    try {
      actual = compute(c);
    } finally {
      restore();
    }
    // The two forward passes, the gradient's forward pass and its filter gradient.
    assert.equal(
      (nativeCallCounts.get('rearrange.space_to_depth2') ?? 0) - before,
      4,
      `${JSON.stringify(c)}: not through the space to depth`,
    );
    for (const [i, name] of ['conv2d', 'fused conv2d', 'filter gradient'].entries()) {
      const error = relativeError(actual[i]!, expected[i]!);
      worst = Math.max(worst, error);
      assert.ok(error < TOLERANCE, `${JSON.stringify(c)} ${name}: relative error ${error.toExponential(2)}`);
    }
  }
  t.diagnostic(`${stride2Cases.length} cases, max relative error ${worst.toExponential(2)}`);
});

test('Winograd by blocks of output channels is bit for bit Winograd whole (forward, input and filter gradients)', async () => {
  await useBackend('wasm');
  // 3x3 and 4x4 stride 1, and 4x4 stride 2 over the space to depth; 12 -> 21 channels, so blocks
  // of 8, 8 and 5 output channels (and of 8, 4 for the input gradient's 12).
  const results = (kernel: number, stride: number) =>
    tf.tidy(() => {
      const x = tf.randomUniform([2, 17, 15, 12], -1, 1, 'float32', 101) as tf.Tensor4D;
      const filter = tf.randomUniform([kernel, kernel, 12, 21], -1, 1, 'float32', 103) as tf.Tensor4D;
      const weights = tf.randomUniform(tf.conv2d(x, filter, stride, 'same').shape, -1, 1, 'float32', 102);
      const [dx, dfilter] = tf.grads((input: tf.Tensor, f: tf.Tensor) =>
        tf
          .conv2d(input as tf.Tensor4D, f as tf.Tensor4D, stride, 'same')
          .mul(weights)
          .sum(),
      )([x, filter]);
      return [tf.conv2d(x, filter, stride, 'same'), dx!, dfilter!].map((r) => r.dataSync() as Float32Array);
    });
  const restore = forceWinograd();
  try {
    for (const [kernel, stride] of [
      [3, 1],
      [4, 1],
      [4, 2],
    ]) {
      const whole = results(kernel!, stride!);
      // U or dU for 8 output channels of 12 inputs (48 over the space to depth).
      wasmKernelTuning.winogradTransformMaxFloats = 36 * (stride === 2 ? 48 : 12) * 8;
      const before = nativeCallCounts.get('winograd.winograd_filter_products') ?? 0;
      const blocked = results(kernel!, stride!);
      wasmKernelTuning.winogradTransformMaxFloats = 2 ** 30;
      assert.equal((nativeCallCounts.get('winograd.winograd_filter_products') ?? 0) - before, 3, 'the filter gradient not in three blocks');
      for (const [i, name] of ['forward', 'input gradient', 'filter gradient'].entries()) {
        assert.deepEqual(blocked[i], whole[i], `${kernel}x${kernel} stride ${stride}: ${name}`);
      }
    }
  } finally {
    restore();
  }
});

test('Winograd is really used, and differs from the direct convolution only by rounding', async () => {
  await useBackend('wasm');
  const c: Case = { batch: 1, height: 11, width: 11, inChannels: 32, outChannels: 32, pad: 'same' };
  const saved = { ...wasmKernelTuning };
  try {
    wasmKernelTuning.winograd = false;
    const direct = computeAll(c);
    wasmKernelTuning.winograd = true;
    const winograd = computeAll(c); // 32 channels, 121 pixels: below the default minimums, so direct again
    assert.deepEqual(winograd['conv2d y'], direct['conv2d y']);
    const restore = forceWinograd();
    const forced = computeAll(c);
    restore();
    for (const key of ['conv2d y', 'conv2d dx', 'conv2d dfilter']) {
      const error = relativeError(forced[key]!, direct[key]!);
      assert.ok(error > 0 && error < TOLERANCE, `forced Winograd vs direct, ${key}: ${error.toExponential(2)}`);
    }
  } finally {
    Object.assign(wasmKernelTuning, saved);
  }
});

test("Winograd keeps nothing between calls, so a variable's new value is used after assign", async () => {
  await useBackend('wasm');
  const restore = forceWinograd();
  try {
    const tensorsBefore = tf.memory().numTensors;
    const buffersBefore = tf.engine().backend.numDataIds();
    const x = tf.randomUniform([1, 9, 9, 4], -1, 1, 'float32', 51) as tf.Tensor4D;
    const first = tf.randomUniform([3, 3, 4, 6], -1, 1, 'float32', 52);
    const second = tf.randomUniform([3, 3, 4, 6], -1, 1, 'float32', 53);
    const expected = (f: tf.Tensor) => {
      wasmKernelTuning.winograd = false;
      const y = tf.conv2d(x, f as tf.Tensor4D, 1, 'same');
      wasmKernelTuning.winograd = true;
      const values = y.dataSync() as Float32Array;
      y.dispose();
      return values;
    };
    const expectedFirst = expected(first);
    const expectedSecond = expected(second);
    const filter = tf.variable(first);
    const withFilter = tf.engine().backend.numDataIds();
    for (let use = 0; use < 2; use++) {
      const y = tf.conv2d(x, filter as tf.Tensor4D, 1, 'same');
      assert.ok(relativeError(y.dataSync() as Float32Array, expectedFirst) < TOLERANCE, `use ${use}`);
      y.dispose();
      assert.equal(tf.engine().backend.numDataIds(), withFilter, 'a convolution left a buffer behind');
    }
    filter.assign(second);
    const y = tf.conv2d(x, filter as tf.Tensor4D, 1, 'same');
    assert.ok(relativeError(y.dataSync() as Float32Array, expectedSecond) < TOLERANCE, 'a stale value after assign');
    y.dispose();
    filter.dispose();
    tf.dispose([x, first, second]);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensor count changed');
    assert.equal(tf.engine().backend.numDataIds(), buffersBefore, 'buffers outlived their filter');
  } finally {
    restore();
  }
});

test('Winograd leaks no tensors, buffers or heap bytes (forward, input and filter gradients)', async () => {
  await useBackend('wasm');
  const restore = forceWinograd();
  try {
    const initial = tf.randomUniform([3, 3, 8, 8], -1, 1, 'float32', 61) as tf.Tensor4D;
    const filter = tf.variable(initial);
    initial.dispose(); // the variable now holds the buffer alone
    const x = tf.randomUniform([2, 11, 10, 8], -1, 1, 'float32', 62) as tf.Tensor4D;
    const step = () => {
      const { value, grads } = tf.variableGrads(
        () =>
          tf
            .conv2d(tf.conv2d(x, filter as tf.Tensor4D, 1, 'same'), filter as tf.Tensor4D, 1, 'valid')
            .square()
            .sum() as tf.Scalar,
      );
      tf.dispose([value, ...Object.values(grads)]);
    };
    assertNoLeaks(step); // its warm-up step: the input gradient's cached sub-filter is not a leak
    const buffers = tf.engine().backend.numDataIds();
    filter.dispose();
    tf.dispose(x);
    // The filter, x and the input gradient's sub-filter go with the variable.
    assert.equal(tf.engine().backend.numDataIds(), buffers - 2 - 1, 'a derived filter outlived the variable');
  } finally {
    restore();
  }
});

test("useBackend's winograd option sets the process-wide choice, and leaving it out keeps the current one", async () => {
  const before = wasmKernelTuning.winograd;
  try {
    await useBackend('wasm', { winograd: false });
    assert.equal(wasmKernelTuning.winograd, false);
    await useBackend('wasm');
    assert.equal(wasmKernelTuning.winograd, false, 'unset leaves it off (the default is on)');
    await useBackend('wasm', { winograd: true });
    assert.equal(wasmKernelTuning.winograd, true);
    await useBackend('wasm');
    assert.equal(wasmKernelTuning.winograd, true, 'unset leaves it on');
  } finally {
    wasmKernelTuning.winograd = before;
  }
});
