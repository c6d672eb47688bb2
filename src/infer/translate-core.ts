/**
 * Size-agnostic translation with a generator, shared by Node (tfjs or ONNX Runtime) and the
 * browser: no I/O, and the same pixels whatever engine runs the network.
 *
 * Generators need particular input sizes: the U-Net a fixed square (its training size), the ResNet
 * a multiple of 4. Images of any size are mirrored out to what the model needs and cropped back;
 * images too large for one pass are cut into overlapping tiles blended with linear ramps, so
 * memory stays bounded and seams do not show. The plan is a generator function that yields each
 * network input and receives its output, so one implementation serves the synchronous tfjs
 * driver and the asynchronous ONNX Runtime one.
 */
import * as tf from '@tensorflow/tfjs';
import type { Pixels } from '../data/pixels.ts';

export interface GeneratorGeometry {
  /** The only input size the generator accepts (square), or null when it is fully convolutional. */
  fixedSize: number | null;
  /** For fully convolutional generators: height and width must be multiples of this. */
  multiple: number;
}

export interface TranslateOptions {
  /** Largest side processed in one pass by a fully convolutional generator; larger images are tiled. */
  maxSide?: number;
  /** Overlap between tiles in pixels (both sides blend across it). */
  overlap?: number;
  /** Names the model in errors about its output (default 'the generator'). */
  modelName?: string;
}

/**
 * Throws unless `value` is an integer >= min, quoting it: every size that reaches a loop bound or
 * a stride goes through here, since a zero or fractional one loops forever or misplaces pixels.
 */
export function requireInteger(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new Error(`${name} must be an integer >= ${min}, got ${typeof value === 'number' ? value : JSON.stringify(value)}`);
  }
  return value;
}

function checkGeometry(geometry: GeneratorGeometry): void {
  if (geometry.fixedSize !== null) requireInteger('generator input size', geometry.fixedSize, 1);
  requireInteger('generator size multiple', geometry.multiple, 1);
}

/**
 * The network's output for one input must be the same size and hold only finite values: a
 * diverged model (NaN weights) would otherwise come out as plausible-looking black pixels.
 */
function checkOutput(values: Float32Array, height: number, width: number, modelName: string): void {
  const expected = height * width * 3;
  if (!(values instanceof Float32Array) || values.length !== expected) {
    const got = values instanceof Float32Array ? `${values.length} values` : `a ${typeof values}`;
    throw new Error(`${modelName} returned ${got} for a ${height}x${width} input, expected ${height}x${width}x3 = ${expected}`);
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      const pixel = Math.floor(i / 3);
      throw new Error(
        `${modelName} produced ${values[i]} at pixel (${Math.floor(pixel / width)}, ${pixel % width}) of a ${height}x${width} input: its weights are probably corrupt or diverged`,
      );
    }
  }
}

/** Reads the generator's geometry from its input shape. */
export function generatorGeometry(model: tf.LayersModel, multiple = 4): GeneratorGeometry {
  const shape = model.inputs[0]!.shape;
  if (model.inputs.length !== 1 || shape.length !== 4 || shape[3] !== 3) {
    throw new Error(
      `${model.name || 'the model'} is not an image generator: it takes [${shape.map((d) => d ?? 'any')}], expected [batch, height, width, 3]`,
    );
  }
  return geometryFromShape(shape[1] ?? null, shape[2] ?? null, multiple);
}

export function geometryFromShape(h: number | null, w: number | null, multiple = 4): GeneratorGeometry {
  requireInteger('generator size multiple', multiple, 1);
  if (h != null && w != null) {
    requireInteger('generator input height', h, 1);
    requireInteger('generator input width', w, 1);
    if (h !== w) throw new Error(`generator input must be square, got ${h}x${w}`);
    return { fixedSize: h, multiple: h };
  }
  return { fixedSize: null, multiple };
}

interface PadStep {
  axis: 0 | 1;
  before: number;
  after: number;
  mode: 'reflect' | 'symmetric';
}

/**
 * The mirror pads that grow an (h, w) image to at least (targetH, targetW). Reflection needs the pad
 * to be smaller than the side, so a tiny image is reflected repeatedly; a 1-pixel side is repeated.
 */
function padPlan(h: number, w: number, targetH: number, targetW: number): PadStep[] {
  const steps: PadStep[] = [];
  const size = [h, w];
  const target = [targetH, targetW];
  for (const axis of [0, 1] as const) {
    while (size[axis]! < target[axis]!) {
      const side = size[axis]!;
      const pad = Math.min(target[axis]! - side, side > 1 ? side - 1 : 1);
      const before = Math.floor(pad / 2);
      steps.push({ axis, before, after: pad - before, mode: side > 1 ? 'reflect' : 'symmetric' });
      size[axis] = side + pad;
    }
  }
  return steps;
}

/** Mirror-pads HWC pixels to at least (targetH, targetW), the original roughly centred. */
export function reflectPad(p: Pixels, targetH: number, targetW: number): Pixels & { top: number; left: number } {
  let { data, height, width } = p;
  let top = 0;
  let left = 0;
  for (const step of padPlan(height, width, targetH, targetW)) {
    const newH = step.axis === 0 ? height + step.before + step.after : height;
    const newW = step.axis === 1 ? width + step.before + step.after : width;
    const n = step.axis === 0 ? height : width;
    // Source index along the padded axis for output index i.
    const source = (i: number): number => {
      const j = i - step.before;
      if (j < 0) return step.mode === 'reflect' ? -j : -j - 1;
      if (j >= n) return step.mode === 'reflect' ? 2 * n - 2 - j : 2 * n - 1 - j;
      return j;
    };
    const out = new Float32Array(newH * newW * 3);
    for (let y = 0; y < newH; y++) {
      const sy = step.axis === 0 ? source(y) : y;
      for (let x = 0; x < newW; x++) {
        const sx = step.axis === 1 ? source(x) : x;
        const o = (y * newW + x) * 3;
        const s = (sy * width + sx) * 3;
        out[o] = data[s]!;
        out[o + 1] = data[s + 1]!;
        out[o + 2] = data[s + 2]!;
      }
    }
    if (step.axis === 0) top += step.before;
    else left += step.before;
    data = out;
    height = newH;
    width = newW;
  }
  return { data, height, width, top, left };
}

function crop(p: Pixels, top: number, left: number, height: number, width: number): Pixels {
  const out = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    const s = ((y + top) * p.width + left) * 3;
    out.set(p.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { data: out, height, width };
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** 1-D blend weights for a tile: ramps up over the overlap on each side that has a neighbour. */
function ramp(length: number, overlap: number, rampStart: boolean, rampEnd: boolean): Float32Array {
  const weights = new Float32Array(length).fill(1);
  for (let i = 0; i < overlap && i < length; i++) {
    const v = (i + 1) / (overlap + 1);
    if (rampStart) weights[i] = Math.min(weights[i]!, v);
    if (rampEnd) weights[length - 1 - i] = Math.min(weights[length - 1 - i]!, v);
  }
  return weights;
}

function tileStarts(total: number, tile: number, overlap: number): number[] {
  if (total <= tile) return [0];
  const stride = tile - overlap;
  const starts: number[] = [];
  for (let s = 0; s + tile < total; s += stride) starts.push(s);
  starts.push(total - tile);
  return starts;
}

/** Yields each network input (HWC pixels); expects the network's output for it; returns the result. */
export function* translationPlan(
  image: Pixels,
  geometry: GeneratorGeometry,
  options: TranslateOptions = {},
): Generator<Pixels, Pixels, Float32Array> {
  const { height: h, width: w } = image;
  requireInteger('image height', h, 1);
  requireInteger('image width', w, 1);
  if (image.data.length !== h * w * 3) {
    throw new Error(`expected ${h}x${w}x3 = ${h * w * 3} values, got ${image.data.length}`);
  }
  checkGeometry(geometry);
  if (options.maxSide !== undefined) requireInteger('maxSide (largest side in one pass)', options.maxSide, 1);
  if (options.overlap !== undefined) requireInteger('overlap (tile overlap in pixels)', options.overlap, 0);
  const modelName = options.modelName ?? 'the generator';
  const tile = geometry.fixedSize ?? roundUp(options.maxSide ?? 1024, geometry.multiple);
  if (h <= tile && w <= tile) {
    const [ph, pw] = geometry.fixedSize == null ? [roundUp(h, geometry.multiple), roundUp(w, geometry.multiple)] : [tile, tile];
    const padded = reflectPad(image, ph, pw);
    const out = yield padded;
    checkOutput(out, padded.height, padded.width, modelName);
    return crop({ data: out, height: padded.height, width: padded.width }, padded.top, padded.left, h, w);
  }

  // At most half a tile, so the stride (tile - overlap) stays positive and every pixel is covered.
  const overlap = Math.min(options.overlap ?? Math.round(tile / 8), Math.floor(tile / 2));
  const source = reflectPad(image, Math.max(h, tile), Math.max(w, tile));
  const { height: sh, width: sw } = source;
  const sum = new Float32Array(sh * sw * 3);
  const weightSum = new Float32Array(sh * sw);
  for (const y0 of tileStarts(sh, tile, overlap)) {
    for (const x0 of tileStarts(sw, tile, overlap)) {
      const values = yield crop(source, y0, x0, tile, tile);
      checkOutput(values, tile, tile, modelName);
      const wy = ramp(tile, overlap, y0 > 0, y0 + tile < sh);
      const wx = ramp(tile, overlap, x0 > 0, x0 + tile < sw);
      for (let i = 0; i < tile; i++) {
        for (let j = 0; j < tile; j++) {
          const weight = wy[i]! * wx[j]!;
          const p = (y0 + i) * sw + (x0 + j);
          const q = (i * tile + j) * 3;
          weightSum[p]! += weight;
          sum[p * 3]! += weight * values[q]!;
          sum[p * 3 + 1]! += weight * values[q + 1]!;
          sum[p * 3 + 2]! += weight * values[q + 2]!;
        }
      }
    }
  }
  for (let p = 0; p < sh * sw; p++) {
    const inv = 1 / weightSum[p]!;
    sum[p * 3]! *= inv;
    sum[p * 3 + 1]! *= inv;
    sum[p * 3 + 2]! *= inv;
  }
  return crop({ data: sum, height: sh, width: sw }, source.top, source.left, h, w);
}

/** Runs a plan with an asynchronous network (ONNX Runtime, or tfjs with async reads). */
export async function translatePixels(
  run: (input: Pixels) => Promise<Float32Array> | Float32Array,
  image: Pixels,
  geometry: GeneratorGeometry,
  options: TranslateOptions = {},
): Promise<Pixels> {
  const plan = translationPlan(image, geometry, options);
  let step = plan.next();
  while (!step.done) step = plan.next(await run(step.value));
  return step.value;
}

function predictChecked(model: tf.LayersModel, input: Pixels): tf.Tensor {
  const out = tf.tidy(() => model.predict(tf.tensor4d(input.data, [1, input.height, input.width, 3])) as tf.Tensor);
  const expected = [1, input.height, input.width, 3];
  if (!tf.util.arraysEqual(out.shape, expected)) {
    out.dispose();
    throw new Error(`${model.name || 'the generator'} returned shape [${out.shape}] for an input of [${expected}]`);
  }
  return out;
}

/** Runs a tfjs generator on HWC pixels; the read-back is asynchronous, as a GPU backend in Node needs. */
export async function runLayersModel(model: tf.LayersModel, input: Pixels): Promise<Float32Array> {
  const out = predictChecked(model, input);
  try {
    return (await out.data()) as Float32Array;
  } finally {
    out.dispose();
  }
}

/** The same, reading synchronously (cpu, wasm, and WebGL in a browser). */
export function runLayersModelSync(model: tf.LayersModel, input: Pixels): Float32Array {
  const out = predictChecked(model, input);
  try {
    return out.dataSync() as Float32Array;
  } finally {
    out.dispose();
  }
}

/**
 * Translates an HWC image tensor in [-1, 1] of any size with a tfjs generator; returns a new HWC
 * tensor of the same size in [-1, 1].
 */
export function translateImage(
  model: tf.LayersModel,
  image: tf.Tensor3D,
  geometry: GeneratorGeometry,
  options: TranslateOptions = {},
): tf.Tensor3D {
  const [height, width, channels] = image.shape;
  if (channels !== 3) throw new Error(`translateImage expects 3 channels, got ${channels}`);
  const plan = translationPlan({ data: image.dataSync() as Float32Array, height, width }, geometry, options);
  let step = plan.next();
  while (!step.done) step = plan.next(runLayersModelSync(model, step.value));
  return tf.tensor3d(step.value.data, [height, width, 3]);
}
