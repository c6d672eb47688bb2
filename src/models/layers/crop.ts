/**
 * Crops rows and columns off the sides of an NHWC tensor. Keras' Cropping2D does the same but
 * gives a negative size for an input whose height and width are unknown (a fully convolutional
 * model), so a generator that takes any size needs this one. The official generator's
 * ConvTranspose2d(padding=1, output_padding=1) is a 'valid' transposed conv less its first row
 * and column.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

export interface Crop2DOptions extends LayerArgs {
  /** [[top, bottom], [left, right]], each a non-negative integer. */
  cropping: [[number, number], [number, number]];
}

export class Crop2D extends tf.layers.Layer {
  static className = 'Crop2D';

  readonly cropping: [[number, number], [number, number]];

  constructor(options: Crop2DOptions) {
    super(options);
    const c = options?.cropping;
    const valid =
      Array.isArray(c) &&
      c.length === 2 &&
      c.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0));
    if (!valid)
      throw new Error(`Crop2D: cropping must be [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(c)}`);
    this.cropping = [
      [c[0][0], c[0][1]],
      [c[1][0], c[1][1]],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const [[t, b], [l, r]] = this.cropping;
    const [n, h, w, c] = x.shape;
    if (h - t - b < 1 || w - l - r < 1)
      throw new Error(`Crop2D: cropping ${JSON.stringify(this.cropping)} leaves nothing of a ${h}×${w} input`);
    return tf.slice(x, [0, t, l, 0], [n, h - t - b, w - l - r, c]);
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const [[t, b], [l, r]] = this.cropping;
    return [shape[0] ?? null, shape[1] == null ? null : shape[1] - t - b, shape[2] == null ? null : shape[2] - l - r, shape[3] ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), cropping: this.cropping };
  }
}

tf.serialization.registerClass(Crop2D);
