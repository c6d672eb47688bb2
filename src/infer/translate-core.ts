/**
 * Size-agnostic translation with a generator, shared by Node and the browser (pure tfjs, no I/O).
 *
 * Generators need particular input sizes: the U-Net a fixed square (its training size), the ResNet
 * a multiple of 4. Images of any size are mirrored out to what the model needs and cropped back;
 * images too large for one pass are cut into overlapping tiles blended with linear ramps, so
 * memory stays bounded and seams do not show.
 */
import * as tf from '@tensorflow/tfjs';

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
}

/** Reads the generator's geometry from its input shape. */
export function generatorGeometry(model: tf.LayersModel, multiple = 4): GeneratorGeometry {
  const shape = model.inputs[0]!.shape;
  const h = shape[1];
  const w = shape[2];
  if (h != null && w != null) {
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

/** Mirror-pads an HWC image to at least (targetH, targetW), the original roughly centred. */
export function reflectPadTo(image: tf.Tensor3D, targetH: number, targetW: number): tf.Tensor3D {
  const steps = padPlan(image.shape[0], image.shape[1], targetH, targetW);
  if (steps.length === 0) return image.clone();
  return tf.tidy(() => {
    let x = image;
    for (const step of steps) {
      const paddings: Array<[number, number]> = [[0, 0], [0, 0], [0, 0]];
      paddings[step.axis] = [step.before, step.after];
      x = tf.mirrorPad(x, paddings, step.mode);
    }
    return x;
  });
}

/** Where reflectPadTo places the original image's top-left corner. */
export function locateOrigin(h: number, w: number, targetH: number, targetW: number): [number, number] {
  const origin: [number, number] = [0, 0];
  for (const step of padPlan(h, w, targetH, targetW)) origin[step.axis] += step.before;
  return origin;
}

function roundUp(n: number, multiple: number): number {
  return Math.ceil(n / multiple) * multiple;
}

/** Runs the generator once on an HWC image of an acceptable size. */
function runOnce(model: tf.LayersModel, x: tf.Tensor3D): tf.Tensor3D {
  return tf.tidy(() => {
    const out = model.predict(x.expandDims(0)) as tf.Tensor4D;
    return out.squeeze([0]) as tf.Tensor3D;
  });
}

/** Pads (centred reflection) to a size the model takes, runs it, crops back to the input's size. */
function translateWhole(model: tf.LayersModel, x: tf.Tensor3D, padH: number, padW: number): tf.Tensor3D {
  return tf.tidy(() => {
    const [h, w] = x.shape;
    if (h === padH && w === padW) return runOnce(model, x);
    const padded = reflectPadTo(x, padH, padW);
    const offset = locateOrigin(h, w, padH, padW);
    const y = runOnce(model, padded);
    return y.slice([offset[0], offset[1], 0], [h, w, 3]);
  });
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

/**
 * Translates an HWC image in [-1, 1] of any size; returns an HWC image of the same size in [-1, 1].
 */
export function translateImage(
  model: tf.LayersModel,
  image: tf.Tensor3D,
  geometry: GeneratorGeometry,
  options: TranslateOptions = {},
): tf.Tensor3D {
  const [h, w, c] = image.shape;
  if (c !== 3) throw new Error(`translateImage expects 3 channels, got ${c}`);
  const tile = geometry.fixedSize ?? roundUp(options.maxSide ?? 1024, geometry.multiple);
  if (geometry.fixedSize == null && h <= tile && w <= tile) {
    return translateWhole(model, image, roundUp(h, geometry.multiple), roundUp(w, geometry.multiple));
  }
  if (h <= tile && w <= tile) return translateWhole(model, image, tile, tile);

  // Tiled: accumulate weighted tiles in JS so only one tile's tensors are alive at a time.
  const overlap = Math.min(options.overlap ?? Math.round(tile / 8), Math.floor(tile / 2));
  const outH = Math.max(h, tile);
  const outW = Math.max(w, tile);
  const source = reflectPadTo(image, outH, outW);
  const [oy, ox] = locateOrigin(h, w, outH, outW);
  const sum = new Float32Array(outH * outW * 3);
  const weightSum = new Float32Array(outH * outW);
  const ys = tileStarts(outH, tile, overlap);
  const xs = tileStarts(outW, tile, overlap);
  for (const y0 of ys) {
    for (const x0 of xs) {
      const tileOut = tf.tidy(() => runOnce(model, source.slice([y0, x0, 0], [tile, tile, 3])));
      const values = tileOut.dataSync();
      tileOut.dispose();
      const wy = ramp(tile, overlap, y0 > 0, y0 + tile < outH);
      const wx = ramp(tile, overlap, x0 > 0, x0 + tile < outW);
      for (let i = 0; i < tile; i++) {
        for (let j = 0; j < tile; j++) {
          const weight = wy[i]! * wx[j]!;
          const p = (y0 + i) * outW + (x0 + j);
          weightSum[p]! += weight;
          const q = (i * tile + j) * 3;
          sum[p * 3]! += weight * values[q]!;
          sum[p * 3 + 1]! += weight * values[q + 1]!;
          sum[p * 3 + 2]! += weight * values[q + 2]!;
        }
      }
    }
  }
  source.dispose();
  const out = new Float32Array(h * w * 3);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const p = (i + oy) * outW + (j + ox);
      const inv = 1 / weightSum[p]!;
      for (let k = 0; k < 3; k++) out[(i * w + j) * 3 + k] = sum[p * 3 + k]! * inv;
    }
  }
  return tf.tensor3d(out, [h, w, 3]);
}
