/**
 * Reflection padding for the ResNet generator. The paper pads with reflections rather than zeros
 * before its 7×7 and 3×3 convolutions because zero borders teach the generator to paint frame
 * artefacts at the image edges.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

export type Padding2D = number | [[number, number], [number, number]];

export interface ReflectionPadding2DOptions extends LayerArgs {
  /** Rows/columns added on every side, or [[top, bottom], [left, right]]. */
  padding: Padding2D;
}

function normalisePadding(padding: unknown): [[number, number], [number, number]] {
  const ok = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (ok(padding))
    return [
      [padding, padding],
      [padding, padding],
    ];
  if (
    Array.isArray(padding) &&
    padding.length === 2 &&
    padding.every((pair) => Array.isArray(pair) && pair.length === 2 && pair.every(ok))
  ) {
    const [[t, b], [l, r]] = padding as [[number, number], [number, number]];
    return [
      [t, b],
      [l, r],
    ];
  }
  throw new Error(
    `ReflectionPadding2D: padding must be a non-negative integer or [[top, bottom], [left, right]], got ${JSON.stringify(padding)}`,
  );
}

/** Pads H and W of an NHWC tensor by mirroring, without repeating the edge pixel. */
export class ReflectionPadding2D extends tf.layers.Layer {
  static className = 'ReflectionPadding2D';

  readonly padding: [[number, number], [number, number]];

  constructor(options: ReflectionPadding2DOptions) {
    super(options);
    this.padding = normalisePadding(options?.padding);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4) {
      throw new Error(`ReflectionPadding2D expects NHWC input (rank 4), got shape ${JSON.stringify(shape)}`);
    }
    const [[t, b], [l, r]] = this.padding;
    // 'reflect' can only mirror what is there: a side may pad at most size-1 pixels.
    const [, h, w] = shape;
    if ((h != null && Math.max(t, b) > h - 1) || (w != null && Math.max(l, r) > w - 1)) {
      throw new Error(
        `ReflectionPadding2D: padding ${JSON.stringify(this.padding)} is too large for input ${h}×${w} (at most size-1 per side)`,
      );
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const [[t, b], [l, r]] = this.padding;
    return tf.mirrorPad(
      x,
      [
        [0, 0],
        [t, b],
        [l, r],
        [0, 0],
      ],
      'reflect',
    );
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const [[t, b], [l, r]] = this.padding;
    return [shape[0] ?? null, shape[1] == null ? null : shape[1] + t + b, shape[2] == null ? null : shape[2] + l + r, shape[3] ?? null];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), padding: this.padding };
  }
}

tf.serialization.registerClass(ReflectionPadding2D);
