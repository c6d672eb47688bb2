/**
 * Pixels between 8-bit RGB and the networks' float range [-1, 1] (x / 127.5 - 1), one rule for
 * Node and the browser: no `node:` imports, no sharp.
 */
import * as tf from '@tensorflow/tfjs';

/** An 8-bit RGB image, row-major HWC (`data.length === width * height * 3`). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** HWC float pixels in [-1, 1]: what the generators take and give, without a tensor. */
export interface Pixels {
  data: Float32Array;
  height: number;
  width: number;
}

/** 8-bit RGB → float pixels in [-1, 1] (x / 127.5 - 1), the rule imageToTensor follows. */
export function imageToPixels(img: RgbImage): Pixels {
  const data = new Float32Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = img.data[i]! / 127.5 - 1;
  return { data, height: img.height, width: img.width };
}

/** Float pixels in [-1, 1] → 8-bit RGB (floatToImage's rounding; a NaN is refused). */
export function pixelsToImage(p: Pixels): RgbImage {
  return floatToImage(p.data, p.width, p.height);
}

/** Converts 8-bit RGB to a float32 [h,w,3] tensor in [-1, 1] (x / 127.5 - 1). */
export function imageToTensor(img: RgbImage): tf.Tensor3D {
  return tf.tidy(() => {
    const t = tf.tensor3d(Int32Array.from(img.data), [img.height, img.width, 3], 'int32');
    return tf.sub(tf.div(tf.cast(t, 'float32'), 127.5), 1) as tf.Tensor3D;
  });
}

/**
 * Converts a [h,w,3] or [1,h,w,3] tensor in [-1, 1] to 8-bit RGB: (x + 1) * 127.5, clamped to
 * [0, 255] and rounded. The input tensor is not disposed; nothing else is left behind.
 */
export function tensorToImage(t: tf.Tensor): RgbImage {
  const shape = t.shape;
  const hw = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (hw.length !== 3 || hw[2] !== 3) {
    throw new Error(`tensorToImage needs a [h,w,3] or [1,h,w,3] tensor, got [${shape.join(',')}]`);
  }
  const [height, width] = hw as [number, number, number];
  const u8 = tf.tidy(() => tf.round(tf.clipByValue(tf.mul(tf.add(tf.cast(t, 'float32'), 1), 127.5), 0, 255)));
  try {
    const vals = u8.dataSync();
    return { width, height, data: Uint8Array.from(vals) };
  } finally {
    u8.dispose();
  }
}

/** Float32 HWC in [-1, 1] → 8-bit RGB (same rounding as tensorToImage), without tfjs. */
export function floatToImage(data: Float32Array, width: number, height: number): RgbImage {
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new Error(`floatToImage needs a positive integer width and height, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new Error(`floatToImage got ${data.length} values for ${width}x${height}x3 = ${width * height * 3}`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < out.length; i++) {
    // A NaN would round-trip as a black pixel that looks like a real result.
    if (!Number.isFinite(data[i]!)) {
      const pixel = Math.floor(i / 3);
      throw new Error(`pixel (${Math.floor(pixel / width)}, ${pixel % width}) is ${data[i]}, not a number in [-1, 1]`);
    }
    const v = Math.round((data[i]! + 1) * 127.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { width, height, data: out };
}

/**
 * Float32 HWC in [-1, 1] → RGBA bytes for a canvas' ImageData (alpha 255), with floatToImage's
 * rounding and its refusal of values that are not numbers.
 */
export function floatToRgba(data: Float32Array, width: number, height: number): Uint8ClampedArray<ArrayBuffer> {
  const rgb = floatToImage(data, width, height).data;
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, q = 0; p < width * height; p++, q += 3) {
    rgba[p * 4] = rgb[q]!;
    rgba[p * 4 + 1] = rgb[q + 1]!;
    rgba[p * 4 + 2] = rgb[q + 2]!;
    rgba[p * 4 + 3] = 255;
  }
  return rgba;
}
