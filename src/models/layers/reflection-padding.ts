/**
 * Reflection padding for the ResNet generator. The paper pads with reflections rather than zeros
 * before its 7×7 and 3×3 convolutions because zero borders teach the generator to paint frame
 * artefacts at the image edges.
 *
 * It also replaces tfjs's gradient of MirrorPad, which slices the interior out of dy and drops the
 * gradient that reaches each pixel through its mirrored copies (tfjs-core 4.22,
 * gradients/MirrorPad_grad: d sum(mirrorPad([1, 2, 3, 4], 1)) / dx came out [1, 1, 1, 1], not
 * [1, 2, 2, 1]), so every padded border of the ResNet and of CUT's features got a wrong gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { MIRROR_PAD_GRAD } from '../../engine/kernel-names.ts';

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

type PadPairs = [number, number][];

/**
 * The gradient of tf.mirrorPad(x, paddings, mode): each pixel of x gets dy at its own place plus
 * dy at every copy of it, folded one axis at a time as (interior + before) + after, where before
 * and after are the padded sides reversed into place ('reflect' copies from the second pixel on,
 * 'symmetric' from the first). One kernel where the backend has MIRROR_PAD_GRAD (wasm, for
 * NHWC with only H and W padded), the same sums as ops elsewhere.
 */
export function mirrorPadGrad(dy: tf.Tensor, xShape: number[], paddings: PadPairs, mode: 'reflect' | 'symmetric'): tf.Tensor {
  const spatialOnly = xShape.length === 4 && paddings[0]!.every((p) => p === 0) && paddings[3]!.every((p) => p === 0);
  if (spatialOnly && dy.dtype === 'float32' && tf.getKernel(MIRROR_PAD_GRAD, tf.getBackend())) {
    return tf.engine().runKernel(MIRROR_PAD_GRAD, { dy }, { paddings, mode } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  const offset = mode === 'reflect' ? 1 : 0;
  return tf.tidy(() => {
    let d = dy;
    xShape.forEach((size, axis) => {
      const [before, after] = paddings[axis]!;
      if (before === 0 && after === 0) return;
      const along = (begin: number, length: number) => {
        const starts = d.shape.map((_, a) => (a === axis ? begin : 0));
        const sizes = d.shape.map((s, a) => (a === axis ? length : s));
        return tf.slice(d, starts, sizes);
      };
      const placed = (part: tf.Tensor, at: number) =>
        tf.pad(
          tf.reverse(part, axis),
          d.shape.map((_, a) => (a === axis ? [at, size - at - part.shape[axis]!] : [0, 0])),
        );
      let sum = along(before, size);
      if (before > 0) sum = tf.add(sum, placed(along(0, before), offset));
      if (after > 0) sum = tf.add(sum, placed(along(before + size, after), size - offset - after));
      d = sum;
    });
    return d === dy ? tf.clone(dy) : d;
  });
}

tf.registerGradient({
  kernelName: tf.MirrorPad,
  inputsToSave: ['x'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const [x] = saved as [tf.Tensor];
    const { paddings, mode } = attrs as unknown as { paddings: PadPairs; mode: 'reflect' | 'symmetric' };
    return { x: () => mirrorPadGrad(dy as tf.Tensor, x.shape, paddings, mode) };
  },
});
