/**
 * Differentiable augmentation (Zhao, Liu, Lin, Zhu, Han, "Differentiable Augmentation for
 * Data-Efficient GAN Training", NeurIPS 2020; mit-han-lab/data-efficient-gans, DiffAugment_pytorch.py):
 * the same random colour, translation and cutout applied to the real and the fake images a
 * discriminator sees, made of differentiable ops so the generator's gradient passes through.
 * Here it guards the feature discriminator (`--feature-augment`), whose pretrained backbone makes
 * it quick to overfit a small dataset. The parameters are drawn from the run's Rng (one set per
 * image, in a fixed order), so a resumed run draws the same ones.
 *
 * As the reference, on images in [-1, 1]: brightness x + (r − 0.5); saturation (x − mean_c)·2r +
 * mean_c; contrast (x − mean)·(r + 0.5) + mean; translation by up to 1/8 of the size with zeros
 * shifted in; cutout of a zeroed square half the size, its centre anywhere on the image.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.ts';

export const DIFF_AUGMENT_POLICIES = ['color', 'translation', 'cutout'] as const;
export type DiffAugmentPolicy = (typeof DIFF_AUGMENT_POLICIES)[number];

/** Translation: up to this share of the size, either way (the reference's ratio 0.125). */
const TRANSLATION_RATIO = 0.125;
/** Cutout: a square of this share of the size (the reference's ratio 0.5). */
const CUTOUT_RATIO = 0.5;

/** One image's drawn parameters. */
export interface AugmentDraw {
  brightness: number;
  saturation: number;
  contrast: number;
  /** Shift in pixels: the output pixel (i, j) is the input's (i + dy, j + dx). */
  dy: number;
  dx: number;
  /** Cutout square: rows [top, top + size), columns [left, left + size), clipped to the image. */
  top: number;
  left: number;
  size: number;
}

/** Draws one image's parameters (all of them whatever the policy, so the Rng advances the same). */
export function drawAugment(height: number, width: number, rng: Rng): AugmentDraw {
  const brightness = rng.next() - 0.5;
  const saturation = rng.next() * 2;
  const contrast = rng.next() + 0.5;
  const [shiftY, shiftX] = [Math.trunc(height * TRANSLATION_RATIO + 0.5), Math.trunc(width * TRANSLATION_RATIO + 0.5)];
  const dy = rng.int(2 * shiftY + 1) - shiftY;
  const dx = rng.int(2 * shiftX + 1) - shiftX;
  // The reference draws the centre in [0, size + (1 − size % 2)) and cuts [centre − size/2, centre + size/2).
  const size = Math.trunc(height * CUTOUT_RATIO + 0.5);
  const top = rng.int(height + (1 - (size % 2))) - Math.floor(size / 2);
  const left = rng.int(width + (1 - (size % 2))) - Math.floor(size / 2);
  return { brightness, saturation, contrast, dy, dx, top, left, size };
}

/** `image` [1, H, W, C] shifted so that out(i, j) = in(i + dy, j + dx), zeros where that is outside. */
function translate(image: tf.Tensor4D, dy: number, dx: number): tf.Tensor4D {
  const [, h, w, c] = image.shape;
  const [py, px] = [Math.abs(dy), Math.abs(dx)];
  const padded = tf.pad(image, [
    [0, 0],
    [py, py],
    [px, px],
    [0, 0],
  ]);
  return tf.slice(padded, [0, py + dy, px + dx, 0], [1, h, w, c]);
}

/** A [1, H, W, 1] mask: 0 inside the cutout square, 1 elsewhere. */
function cutoutMask(h: number, w: number, d: AugmentDraw): tf.Tensor4D {
  const mask = new Float32Array(h * w).fill(1);
  for (let i = Math.max(0, d.top); i < Math.min(h, d.top + d.size); i++) {
    for (let j = Math.max(0, d.left); j < Math.min(w, d.left + d.size); j++) mask[i * w + j] = 0;
  }
  return tf.tensor4d(mask, [1, h, w, 1]);
}

/** Applies one image's draw under `policy`. */
export function applyAugment(image: tf.Tensor4D, d: AugmentDraw, policy: readonly DiffAugmentPolicy[]): tf.Tensor4D {
  return tf.tidy(() => {
    let x = image;
    if (policy.includes('color')) {
      x = tf.add(x, d.brightness);
      const channelMean = tf.mean(x, 3, true);
      x = tf.add(tf.mul(tf.sub(x, channelMean), d.saturation), channelMean);
      const mean = tf.mean(x, [1, 2, 3], true);
      x = tf.add(tf.mul(tf.sub(x, mean), d.contrast), mean);
    }
    if (policy.includes('translation')) x = translate(x, d.dy, d.dx);
    if (policy.includes('cutout')) x = tf.mul(x, cutoutMask(x.shape[1], x.shape[2], d));
    return x;
  });
}

/** DiffAugment of a batch [B, H, W, C]: each image with its own draw, in batch order. */
export function diffAugment(images: tf.Tensor4D, rng: Rng, policy: readonly DiffAugmentPolicy[] = DIFF_AUGMENT_POLICIES): tf.Tensor4D {
  for (const p of policy) {
    if (!DIFF_AUGMENT_POLICIES.includes(p))
      throw new Error(`unknown DiffAugment policy ${JSON.stringify(p)} (expected ${DIFF_AUGMENT_POLICIES.join(', ')})`);
  }
  const [b, h, w] = images.shape;
  const draws = Array.from({ length: b }, () => drawAugment(h, w, rng));
  return tf.tidy(() => {
    const out = draws.map((d, i) => applyAugment(tf.slice(images, [i, 0, 0, 0], [1, -1, -1, -1]), d, policy));
    return out.length === 1 ? out[0]! : tf.concat(out, 0);
  });
}
