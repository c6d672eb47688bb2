/**
 * Timings of the wasm training kernels (src/engine/wasm-kernels.ts): U-Net-like transposed
 * convolutions, filter gradients, the ResNet's 3x3 stride-1 convolutions and the 4x4 stride-2
 * layers (Winograd), the 7x7 layers from and to RGB (narrow kernels), a forward+backward pass
 * of a small encoder/decoder stack, and Adam's update.
 *
 *   npm run bench -- kernels [--repeats N] [--size S] [--baseline]
 *
 * --baseline also times wasm's own scalar Conv2DBackpropInput for the transposed convolutions,
 * XNNPACK's own convolution for the small-output, Winograd and narrow convolutions (forward and
 * gradients; the in-place product for the filter gradients), and the general filter gradient for
 * the few-channel ones, and Adam's JavaScript loop for its update.
 */
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/engine/backend.ts';
import { wasmKernelTuning, withOriginalBackpropInput } from '../src/engine/wasm-kernels.ts';
import { Adam, adamUpdateValues } from '../src/train/adam.ts';

/** What `npm run bench -- kernels --help` prints. */
export const usage = `npm run bench -- kernels [--repeats N] [--size S] [--baseline]
  Timings of the wasm training kernels (minimum and median of N, 2 threads by default).
  --repeats N  timed calls per case (default 5)
  --size S     image size of the encoder/decoder stack (default 128)
  --baseline   also time what each kernel replaced (stock wasm, XNNPACK, the JavaScript Adam loop)`;

interface Row {
  case: string;
  'ms (min)': string;
  'ms (median)': string;
  'GFLOP/s (min)': string;
  baseline?: string;
}

interface Timing {
  min: number;
  median: number;
}

function option(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} needs a positive number, got '${args[index + 1]}'`);
  return value;
}

/**
 * Wall time of `fn` in ms after one warm-up call (which also lets XNNPACK build its operators). The
 * minimum is reported next to the median because the machine is shared and noisy.
 */
function time(repeats: number, fn: () => tf.Tensor | tf.Tensor[]): Timing {
  tf.dispose(fn());
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    const out = fn();
    for (const t of Array.isArray(out) ? out : [out]) t.dataSync();
    times.push(performance.now() - start);
    tf.dispose(out);
  }
  times.sort((a, b) => a - b);
  return { min: times[0] ?? NaN, median: times[Math.floor(times.length / 2)] ?? NaN };
}

/** `fn` with some of the kernels' tuning changed, restored after. */
function withTuning<T>(patch: Partial<typeof wasmKernelTuning>, fn: () => T): T {
  const saved = { ...wasmKernelTuning };
  Object.assign(wasmKernelTuning, patch);
  try {
    return fn();
  } finally {
    Object.assign(wasmKernelTuning, saved);
  }
}

/** Multiply-adds of a convolution, counted as 2 FLOPs each, from its (forward) output size. */
function convFlops(batch: number, outHeight: number, outWidth: number, kernel: number, inChannels: number, outChannels: number): number {
  return 2 * batch * outHeight * outWidth * kernel * kernel * inChannels * outChannels;
}

function row(name: string, timing: Timing, flops: number, baseline?: Timing): Row {
  const result: Row = {
    case: name,
    'ms (min)': timing.min.toFixed(1),
    'ms (median)': timing.median.toFixed(1),
    'GFLOP/s (min)': (flops / timing.min / 1e6).toFixed(1),
  };
  if (baseline !== undefined) {
    result.baseline = `${baseline.min.toFixed(1)} ms (${(baseline.min / timing.min).toFixed(1)}x slower)`;
  }
  return result;
}

export async function run(args: string[]): Promise<void> {
  const repeats = option(args, '--repeats', 5);
  const stackSize = option(args, '--size', 128);
  const withBaseline = args.includes('--baseline');
  const backend = await useBackend('wasm');
  console.log(`backend ${backend}, ${repeats} repeats, tfjs ${tf.version.tfjs}`);
  const rows: Row[] = [];

  // conv2dTranspose 4x4 stride 2 'same' as in a U-Net decoder: [inSize, inChannels -> outChannels].
  const transposeCases: [number, number, number][] = [
    [8, 1024, 512],
    [32, 512, 128],
    [64, 256, 64],
    [128, 128, 3],
  ];
  for (const [size, inChannels, outChannels] of transposeCases) {
    const x = tf.randomNormal([1, size, size, inChannels]) as tf.Tensor4D;
    const filter = tf.randomNormal([4, 4, outChannels, inChannels]) as tf.Tensor4D;
    const outShape: [number, number, number, number] = [1, size * 2, size * 2, outChannels];
    const variableFilter = tf.variable(filter.clone(), false);
    const name = `conv2dTranspose 4x4 s2 ${size}->${size * 2} ${inChannels}->${outChannels}`;
    const flops = convFlops(1, size, size, 4, outChannels, inChannels);
    // A plain tensor filter is rearranged on every call, as in backprop; a variable's is cached.
    const op = () => tf.conv2dTranspose(x, filter, outShape, 2, 'same');
    const baseline = withBaseline ? withOriginalBackpropInput(() => time(1, op)) : undefined;
    rows.push(row(`${name} (tensor filter)`, time(repeats, op), flops, baseline));
    rows.push(
      row(
        `${name} (variable filter)`,
        time(repeats, () => tf.conv2dTranspose(x, variableFilter, outShape, 2, 'same')),
        flops,
      ),
    );
    tf.dispose([x, filter, variableFilter]);
  }

  // Conv2DBackpropFilter on its own: [size, kernel, stride, inChannels, outChannels].
  const filterCases: [number, number, 1 | 2, number, number][] = [
    [256, 4, 2, 3, 64],
    [128, 4, 2, 64, 128],
    [16, 4, 2, 512, 512],
    [134, 7, 1, 32, 3], // the ResNet's 7x7 output layer (few output channels: direct accumulation)
    [32, 4, 1, 512, 1], // PatchGAN's last layer at 256 px
  ];
  for (const [size, kernel, stride, inChannels, outChannels] of filterCases) {
    const x = tf.randomNormal([1, size, size, inChannels]) as tf.Tensor4D;
    const outSize = Math.ceil(size / stride);
    const dy = tf.randomNormal([1, outSize, outSize, outChannels]) as tf.Tensor4D;
    const op = () =>
      tf.engine().runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        {
          strides: stride,
          pad: 'same',
          dataFormat: 'NHWC',
          filterShape: [kernel, kernel, inChannels, outChannels],
        },
      ) as tf.Tensor;
    const timing = time(repeats, op);
    // The baseline of a few-channel case is the general kernel (matrix products per position).
    const fewChannels = Math.min(inChannels, outChannels) <= wasmKernelTuning.filterGradSmallMaxChannels;
    let general: Timing | undefined;
    if (withBaseline && fewChannels) general = withTuning({ filterGradSmallMaxChannels: 0 }, () => time(repeats, op));
    rows.push(
      row(
        `Conv2DBackpropFilter ${kernel}x${kernel} s${stride} ${size}px ${inChannels}->${outChannels}`,
        timing,
        convFlops(1, outSize, outSize, kernel, inChannels, outChannels),
        general,
      ),
    );
    tf.dispose([x, dy]);
  }

  // Small-output convolutions of the U-Net's inner layers with a new filter buffer on every call,
  // as in training (each Adam update moves the weights): filter packing dominates.
  const smallCases: [number, number][] = [
    [8, 512],
    [2, 512],
  ];
  for (const [size, inChannels] of smallCases) {
    const outChannels = 1024;
    const x = tf.randomNormal([1, size, size, inChannels]) as tf.Tensor4D;
    const weights = tf.randomNormal([4, 4, inChannels, outChannels], 0, 0.02);
    // A real copy each call (clone() shares the buffer on wasm); the copy's cost is in both timings.
    const fresh = () => {
      const filter = tf.tidy(() => weights.mul(1)) as tf.Tensor4D;
      const y = tf.conv2d(x, filter, 2, [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ]);
      filter.dispose();
      return y;
    };
    const timing = time(repeats, fresh);
    let baseline: Timing | undefined;
    if (withBaseline) {
      const saved = wasmKernelTuning.convGemmMaxOutPixels;
      wasmKernelTuning.convGemmMaxOutPixels = 0;
      try {
        baseline = time(repeats, fresh);
      } finally {
        wasmKernelTuning.convGemmMaxOutPixels = saved;
      }
    }
    const out = size / 2;
    rows.push(
      row(
        `conv2d 4x4 s2 ${size}->${out}px ${inChannels}->${outChannels}, new filter each call`,
        timing,
        convFlops(1, out, out, 4, inChannels, outChannels),
        baseline,
      ),
    );
    tf.dispose([x, weights]);
  }

  // The ResNet generator's residual convolutions (reflect-padded input, 'valid'): ResNet-9 ngf 64 at
  // 256 px (64 px, 256 channels) and 128 px (32 px), ResNet-6 ngf 32 at 128 px (32 px, 128
  // channels), through Winograd against XNNPACK's direct convolution (--baseline): the forward
  // pass, the input gradient (Conv2DBackpropInput) and the filter gradient (Conv2DBackpropFilter),
  // as within a training step. Then PatchGAN's 4x4 stride-1 layer (F(3x3, 4x4)) at 256 and 128 px:
  // 31 px out of 34, 256->512, and 15 of 18, 128->256. [output size, in, out, kernel]
  const residualCases: [number, number, number, number][] = [
    [64, 256, 256, 3],
    [32, 256, 256, 3],
    [32, 128, 128, 3],
    [64, 128, 128, 3],
    [31, 256, 512, 4],
    [15, 128, 256, 4],
  ];
  for (const [size, channels, outChannels, kernel] of residualCases) {
    const x = tf.randomNormal([1, size + kernel - 1, size + kernel - 1, channels]) as tf.Tensor4D;
    const filter = tf.variable(tf.randomNormal([kernel, kernel, channels, outChannels], 0, 0.05) as tf.Tensor4D, false);
    const dy = tf.randomNormal([1, size, size, outChannels]) as tf.Tensor4D;
    const bias = tf.zeros([outChannels]);
    const flops = convFlops(1, size, size, kernel, channels, outChannels);
    const forward = () => tf.fused.conv2d({ x, filter: filter as tf.Tensor4D, strides: 1, pad: 'valid', bias });
    const inputGradient = () => tf.conv2dTranspose(dy, filter as tf.Tensor4D, x.shape, 1, 'valid');
    const filterGradient = () =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy },
          { strides: 1, pad: 'valid', dataFormat: 'NHWC', filterShape: filter.shape },
        ) as tf.Tensor;
    const winograd = (fn: () => tf.Tensor) => withTuning({ winograd: true }, () => time(repeats, fn));
    const direct = (fn: () => tf.Tensor) => withTuning({ winograd: false }, () => time(repeats, fn));
    const name = `${kernel}x${kernel} s1 ${size}px ${channels}->${outChannels}`;
    rows.push(row(`conv2d ${name} (Winograd)`, winograd(forward), flops, withBaseline ? direct(forward) : undefined));
    rows.push(
      row(`Conv2DBackpropInput ${name} (Winograd)`, winograd(inputGradient), flops, withBaseline ? direct(inputGradient) : undefined),
    );
    rows.push(
      row(`Conv2DBackpropFilter ${name} (Winograd)`, winograd(filterGradient), flops, withBaseline ? direct(filterGradient) : undefined),
    );
    tf.dispose([x, filter, dy, bias]);
  }

  // 4x4 stride-2 layers (the U-Net's, PatchGAN's) with 32x32 outputs: forward and filter gradient
  // over the space to depth, the input gradient's 2x2 phases, through F(5x5, 2x2), against XNNPACK's
  // convolutions and the in-place product (--baseline). (At 64x64 outputs the filter gradient stays
  // on the product: its Winograd buffers would pass winogradStride2MaxTransformFloats.) [output
  // size, in, out]
  const stride2Cases: [number, number, number][] = [
    [32, 64, 128],
    [32, 128, 256],
  ];
  for (const [size, inChannels, outChannels] of stride2Cases) {
    const x = tf.randomNormal([1, 2 * size, 2 * size, inChannels]) as tf.Tensor4D;
    const filter = tf.variable(tf.randomNormal([4, 4, inChannels, outChannels], 0, 0.05) as tf.Tensor4D, false);
    const dy = tf.randomNormal([1, size, size, outChannels]) as tf.Tensor4D;
    const flops = convFlops(1, size, size, 4, inChannels, outChannels);
    const passes: [string, () => tf.Tensor][] = [
      ['conv2d', () => tf.conv2d(x, filter as tf.Tensor4D, 2, 'same')],
      ['Conv2DBackpropInput', () => tf.conv2dTranspose(dy, filter as tf.Tensor4D, x.shape, 2, 'same')],
      [
        'Conv2DBackpropFilter',
        () =>
          tf
            .engine()
            .runKernel(
              'Conv2DBackpropFilter',
              { x, dy },
              { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: filter.shape },
            ) as tf.Tensor,
      ],
    ];
    for (const [kernel, fn] of passes) {
      const baseline = withBaseline ? withTuning({ winograd: false }, () => time(repeats, fn)) : undefined;
      rows.push(row(`${kernel} 4x4 s2 ${size}px ${inChannels}->${outChannels} (Winograd)`, time(repeats, fn), flops, baseline));
    }
    tf.dispose([x, filter, dy]);
  }

  // The ResNets' 7x7 layers from and to RGB at 128 px, forward and input gradient, through the
  // narrow kernels against XNNPACK (--baseline). [in, out]
  for (const [inChannels, outChannels] of [
    [3, 32],
    [32, 3],
  ] as const) {
    const x = tf.randomNormal([1, 134, 134, inChannels]) as tf.Tensor4D;
    const filter = tf.randomNormal([7, 7, inChannels, outChannels], 0, 0.05) as tf.Tensor4D;
    const dy = tf.randomNormal([1, 128, 128, outChannels]) as tf.Tensor4D;
    const flops = convFlops(1, 128, 128, 7, inChannels, outChannels);
    const passes: [string, () => tf.Tensor][] = [
      ['conv2d', () => tf.conv2d(x, filter, 1, 'valid')],
      ['Conv2DBackpropInput', () => tf.conv2dTranspose(dy, filter, x.shape, 1, 'valid')],
    ];
    for (const [kernel, fn] of passes) {
      const baseline = withBaseline ? withTuning({ narrowConv: false }, () => time(repeats, fn)) : undefined;
      rows.push(row(`${kernel} 7x7 s1 128px ${inChannels}->${outChannels} (narrow)`, time(repeats, fn), flops, baseline));
    }
    tf.dispose([x, filter, dy]);
  }

  // A small encoder/decoder: forward + gradients of every filter.
  const layers: { kind: 'conv' | 'deconv'; kernel: number; stride: 1 | 2; inChannels: number; outChannels: number }[] = [
    { kind: 'conv', kernel: 4, stride: 2, inChannels: 3, outChannels: 64 },
    { kind: 'conv', kernel: 4, stride: 2, inChannels: 64, outChannels: 128 },
    { kind: 'conv', kernel: 3, stride: 1, inChannels: 128, outChannels: 128 },
    { kind: 'deconv', kernel: 4, stride: 2, inChannels: 128, outChannels: 64 },
    { kind: 'deconv', kernel: 4, stride: 2, inChannels: 64, outChannels: 3 },
  ];
  const filters = layers.map((l, i) =>
    tf.variable(
      tf.randomNormal(
        [l.kernel, l.kernel, l.kind === 'conv' ? l.inChannels : l.outChannels, l.kind === 'conv' ? l.outChannels : l.inChannels],
        0,
        0.05,
      ),
      true,
      `bench_filter_${i}`,
    ),
  );
  const image = tf.randomNormal([1, stackSize, stackSize, 3]) as tf.Tensor4D;
  let flops = 0;
  let spatial = stackSize;
  for (const l of layers) {
    const outSpatial = l.kind === 'conv' ? spatial / l.stride : spatial * l.stride;
    const convOutSpatial = l.kind === 'conv' ? outSpatial : spatial;
    // forward + input gradient + filter gradient, each one convolution's worth of work
    flops += 3 * convFlops(1, convOutSpatial, convOutSpatial, l.kernel, l.inChannels, l.outChannels);
    spatial = outSpatial;
  }
  const step = time(repeats, () => {
    const { value, grads } = tf.variableGrads(() => {
      let h: tf.Tensor4D = image;
      layers.forEach((l, i) => {
        const f = filters[i] as tf.Tensor4D;
        if (l.kind === 'conv') {
          h = tf.conv2d(h, f, l.stride, 'same');
        } else {
          h = tf.conv2dTranspose(h, f, [1, h.shape[1] * l.stride, h.shape[2] * l.stride, l.outChannels], l.stride, 'same');
        }
        if (i < layers.length - 1) h = tf.relu(h);
      });
      return tf.mean(tf.square(tf.sub(h, image))) as tf.Scalar;
    });
    return [value, ...Object.values(grads)];
  });
  rows.push(row(`encoder/decoder fwd+bwd ${stackSize}px (${layers.length} layers)`, step, flops));
  tf.dispose([image, ...filters]);

  // Adam's update of one ResNet-9 generator's 7.8M weights: native/adam.c on the heap (moments
  // copied through it by chunks) against the JavaScript loop it replaced (--baseline).
  {
    const size = 7_800_000;
    const weights = tf.variable(tf.randomNormal([size], 0, 1, 'float32', 1), true, 'bench_adam_weights');
    const grad = tf.randomNormal([size], 0, 1, 'float32', 2);
    const adam = new Adam([weights], { lr: 2e-4, beta1: 0.5, beta2: 0.999, epsilon: 1e-8 });
    const compiled = time(repeats, () => {
      adam.apply([grad]);
      return [];
    });
    let baseline: Timing | undefined;
    if (withBaseline) {
      const [g, w] = [grad.dataSync() as Float32Array, weights.dataSync() as Float32Array];
      const next = new Float32Array(size);
      const moments = { m: new Float32Array(size), v: new Float32Array(size) };
      const k = { beta1: 0.5, beta2: 0.999, epsilon: 1e-8, stepSize: 4e-4, sqrtCorrection2: 0.045 };
      baseline = time(repeats, () => {
        adamUpdateValues(g, w, next, moments, k);
        return [];
      });
    }
    rows.push({
      ...row('Adam update, 7.8M weights (native/adam.c)', compiled, 0, baseline),
      'GFLOP/s (min)': `${((compiled.min * 1e6) / size).toFixed(2)} ns/weight`,
    });
    tf.dispose([weights, grad]);
  }

  console.table(rows);
}
