/**
 * The two CycleGAN generators: the TF tutorial's pix2pix U-Net and the paper's ResNet generator.
 * Both map images in [-1, 1] to images in [-1, 1] (tanh output) with the same channel count.
 */
import * as tf from '@tensorflow/tfjs';
import { Crop2D } from './layers/crop.ts';
import { ReflectionPadding2D } from './layers/reflection-padding.ts';
import { SeededDropout } from './layers/seeded-dropout.ts';
import { checkNorm, checkPositiveInt, convInit, normLayer, toRng, type NormType, type SeedSource } from './norm.ts';

export interface UnetGeneratorOptions {
  /** Input and output height = width; a power of two ≥ 8 (the U-Net halves it down to 1×1). */
  size: number;
  /** Filters of the first down block; the others are multiples of it capped at 8×. Default 64. */
  ngf?: number;
  /** Image channels in and out. Default 3. */
  channels?: number;
  /** Default 'instance'. */
  norm?: NormType;
  /** Initializer seed (or an Rng to draw seeds from). Default 0. */
  seed?: SeedSource;
  /**
   * Negative slope of the down blocks' LeakyReLU. Default 0.3: the tutorial uses
   * tf.keras.layers.LeakyReLU() with Keras' default alpha (the pix2pix paper uses 0.2).
   */
  leakySlope?: number;
  /** Dropout rate of the first three up blocks while training. Default 0.5. */
  dropout?: number;
  /**
   * Instance-norm the innermost down block, as the tutorial does (default true, and needed for
   * its parameter count). That block's output is 1×1, where instance norm returns its offset
   * whatever the input, and with the offset starting at 0 the ReLU after the first up block
   * blocks every gradient: the innermost conv, its norm, the first up conv and its norm never
   * train (the U-Net still works through its skips). `false` drops that one norm, as the
   * original pix2pix U-Net does, and every weight trains.
   */
  innermostNorm?: boolean;
  /** Model name. Default 'unet_generator'. */
  name?: string;
}

/**
 * The tutorial's `pix2pix.unet_generator(3, norm_type='instancenorm')`, with depth following the
 * size: log2(size) down blocks (conv 4×4 s2, no bias, instance norm except on the first,
 * LeakyReLU) and one fewer up blocks (transposed conv 4×4 s2, no bias, instance norm, dropout on
 * the first three, ReLU, concatenated with the mirror down block), then a transposed conv to
 * `channels` with tanh. 54,414,979 parameters at size 256, ngf 64.
 */
export function buildUnetGenerator(options: UnetGeneratorOptions): tf.LayersModel {
  const { size, ngf = 64, channels = 3, norm = 'instance', leakySlope = 0.3, dropout = 0.5, innermostNorm = true } = options;
  const name = options.name ?? 'unet_generator';
  if (!(typeof size === 'number' && Number.isInteger(size) && size >= 8 && (size & (size - 1)) === 0)) {
    throw new Error(`U-Net generator size must be a power of two ≥ 8, got ${JSON.stringify(size)}`);
  }
  checkPositiveInt('ngf', ngf);
  checkPositiveInt('channels', channels);
  checkNorm(norm);
  const rng = toRng(options.seed);

  const depth = Math.log2(size);
  const downFilters = Array.from({ length: depth }, (_, i) => ngf * Math.min(2 ** i, 8));

  // Every U-Net convolution: 4x4, stride 2 (down: halves the size, transposed: doubles it), no bias.
  const halvingOrDoubling = (filters: number, name: string) => ({
    filters,
    kernelSize: 4,
    strides: 2,
    padding: 'same' as const,
    useBias: false,
    kernelInitializer: convInit(rng),
    name,
  });
  const input = tf.input({ shape: [size, size, channels], name: 'input_image' });
  let x: tf.SymbolicTensor = input;
  const skips: tf.SymbolicTensor[] = [];
  downFilters.forEach((filters, i) => {
    const p = `down${i + 1}`;
    x = tf.layers.conv2d(halvingOrDoubling(filters, `${p}_conv`)).apply(x) as tf.SymbolicTensor;
    if (i > 0 && (innermostNorm || i < depth - 1)) x = normLayer(norm, rng, `${p}_norm`).apply(x) as tf.SymbolicTensor;
    x = tf.layers.leakyReLU({ alpha: leakySlope, name: `${p}_lrelu` }).apply(x) as tf.SymbolicTensor;
    skips.push(x);
  });

  // The deepest output is the bottleneck, not a skip; the rest are joined in reverse order.
  const upSkips = skips.slice(0, -1).reverse();
  upSkips.forEach((skip, i) => {
    const p = `up${i + 1}`;
    x = tf.layers.conv2dTranspose(halvingOrDoubling(skip.shape[3] as number, `${p}_convT`)).apply(x) as tf.SymbolicTensor;
    x = normLayer(norm, rng, `${p}_norm`).apply(x) as tf.SymbolicTensor;
    if (i < 3 && dropout > 0) x = new SeededDropout({ rate: dropout, name: `${p}_dropout` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: `${p}_relu` }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.concatenate({ name: `${p}_concat` }).apply([x, skip]) as tf.SymbolicTensor;
  });

  const output = tf.layers
    .conv2dTranspose({
      filters: channels,
      kernelSize: 4,
      strides: 2,
      padding: 'same',
      activation: 'tanh',
      kernelInitializer: convInit(rng),
      name: 'output_convT',
    })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: output, name });
}

export interface ResnetGeneratorOptions {
  /**
   * Fixed input height = width, or omitted for a fully-convolutional model taking any size
   * divisible by 4 (the two stride-2 downsamplings must come back to the same size).
   */
  size?: number;
  /** Filters of the first conv; the downsamplings double it twice. Default 64. */
  ngf?: number;
  /** Residual blocks: 9 (paper, 256 px) or 6 (paper, 128 px). Default 9. */
  nBlocks?: number;
  /** Image channels in and out. Default 3. */
  channels?: number;
  /** Default 'instance'. */
  norm?: NormType;
  /** Initializer seed (or an Rng to draw seeds from). Default 0. */
  seed?: SeedSource;
  /**
   * Where the stride-2 layers put their one-pixel border. 'same' (default): Keras' padding='same',
   * the extra row and column after the image. 'torch': PyTorch's padding=1 on both sides for the
   * downsamplings and ConvTranspose2d(padding=1, output_padding=1) for the upsamplings, as the
   * official network computes; weights imported from it need this. Both keep pixels aligned
   * through the down and up path (the shifts of 'same' cancel), so either trains.
   */
  padding?: StridePadding;
  /** Model name. Default 'resnet_generator'. */
  name?: string;
}

export type StridePadding = 'same' | 'torch';
export const STRIDE_PADDINGS: readonly StridePadding[] = ['same', 'torch'];

/**
 * The paper's ResNet generator (Johnson et al. layout): reflect-pad 3, conv 7×7 ngf, two conv
 * 3×3 s2 downsamplings, `nBlocks` residual blocks at 4·ngf, two transposed conv 3×3 s2
 * upsamplings, reflect-pad 3, conv 7×7 → tanh. Convs keep their biases as the PyTorch code does
 * with instance norm (use_bias = True), which with affine instance norm gives the reference
 * 11,388,675 parameters for 9 blocks at ngf 64 (11,378,179 is the PyTorch count, which lacks the
 * norm's 10,496 scale/offset values).
 */
export function buildResnetGenerator(options: ResnetGeneratorOptions = {}): tf.LayersModel {
  const { size, ngf = 64, nBlocks = 9, channels = 3, norm = 'instance', padding = 'same' } = options;
  const name = options.name ?? 'resnet_generator';
  if (size !== undefined && !(typeof size === 'number' && Number.isInteger(size) && size >= 8 && size % 4 === 0)) {
    throw new Error(`ResNet generator size must be a multiple of 4 that is ≥ 8 (or omitted), got ${JSON.stringify(size)}`);
  }
  checkPositiveInt('ngf', ngf);
  checkPositiveInt('nBlocks', nBlocks);
  checkPositiveInt('channels', channels);
  checkNorm(norm);
  if (!STRIDE_PADDINGS.includes(padding)) {
    throw new Error(`unknown padding ${JSON.stringify(padding)} (expected one of ${STRIDE_PADDINGS.join(', ')})`);
  }
  const rng = toRng(options.seed);
  const torch = padding === 'torch';

  const conv = (filters: number, kernelSize: number, strides: number, layerName: string) =>
    tf.layers.conv2d({
      filters,
      kernelSize,
      strides,
      padding: strides === 1 || torch ? 'valid' : 'same',
      kernelInitializer: convInit(rng),
      name: layerName,
    });
  const apply = (layer: tf.layers.Layer, t: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(t) as tf.SymbolicTensor;

  const input = tf.input({ shape: [size ?? null, size ?? null, channels], name: 'input_image' });
  let x = apply(new ReflectionPadding2D({ padding: 3, name: 'stem_pad' }), input);
  x = apply(conv(ngf, 7, 1, 'stem_conv'), x);
  x = apply(normLayer(norm, rng, 'stem_norm'), x);
  x = apply(tf.layers.reLU({ name: 'stem_relu' }), x);

  for (let i = 1; i <= 2; i++) {
    // PyTorch pads 1 and strides 2; 'same' gives the same size for even inputs.
    if (torch) x = apply(tf.layers.zeroPadding2d({ padding: 1, name: `down${i}_pad` }), x);
    x = apply(conv(ngf * 2 ** i, 3, 2, `down${i}_conv`), x);
    x = apply(normLayer(norm, rng, `down${i}_norm`), x);
    x = apply(tf.layers.reLU({ name: `down${i}_relu` }), x);
  }

  const width = ngf * 4;
  for (let b = 1; b <= nBlocks; b++) {
    const p = `res${b}`;
    let y = apply(new ReflectionPadding2D({ padding: 1, name: `${p}_pad1` }), x);
    y = apply(conv(width, 3, 1, `${p}_conv1`), y);
    y = apply(normLayer(norm, rng, `${p}_norm1`), y);
    y = apply(tf.layers.reLU({ name: `${p}_relu` }), y);
    y = apply(new ReflectionPadding2D({ padding: 1, name: `${p}_pad2` }), y);
    y = apply(conv(width, 3, 1, `${p}_conv2`), y);
    y = apply(normLayer(norm, rng, `${p}_norm2`), y);
    x = apply(tf.layers.add({ name: `${p}_add` }), [x, y]);
  }

  for (let i = 1; i <= 2; i++) {
    // PyTorch: ConvTranspose2d(k3, s2, padding=1, output_padding=1), which doubles the size as
    // 'same' does (the two differ by a one-pixel shift of the kernel grid, not in shape): the
    // full 2n+1 output less its first row and column.
    x = apply(
      tf.layers.conv2dTranspose({
        filters: ngf * 2 ** (2 - i),
        kernelSize: 3,
        strides: 2,
        padding: torch ? 'valid' : 'same',
        kernelInitializer: convInit(rng),
        name: `up${i}_convT`,
      }),
      x,
    );
    if (torch)
      x = apply(
        new Crop2D({
          cropping: [
            [1, 0],
            [1, 0],
          ],
          name: `up${i}_crop`,
        }),
        x,
      );
    x = apply(normLayer(norm, rng, `up${i}_norm`), x);
    x = apply(tf.layers.reLU({ name: `up${i}_relu` }), x);
  }

  x = apply(new ReflectionPadding2D({ padding: 3, name: 'head_pad' }), x);
  const output = apply(
    tf.layers.conv2d({
      filters: channels,
      kernelSize: 7,
      padding: 'valid',
      activation: 'tanh',
      kernelInitializer: convInit(rng),
      name: 'head_conv',
    }),
    x,
  );
  return tf.model({ inputs: input, outputs: output, name });
}
