/**
 * A depthwise convolution with a fixed filter whose input gradient is written out with forward
 * depthwise convolutions. tfjs-wasm 4.22 has no DepthwiseConv2dNativeBackpropInput kernel, so
 * tf.depthwiseConv2d cannot be differentiated there; a frozen backbone (MobileNetV2) needs only
 * the gradient with respect to its input, never the filter's, and that gradient is the
 * transposed convolution: dy dilated by the stride, padded by k−1, convolved with the filter
 * turned by 180°. Only stock forward kernels, so it runs the same on cpu, wasm and webgpu.
 */
import * as tf from '@tensorflow/tfjs';

/** TensorFlow's 'same' padding along one axis: [before, after]. */
export function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** dy [B, Ho, Wo, C] with stride−1 zeros between its rows and columns: [B, (Ho−1)s+1, (Wo−1)s+1, C]. */
function dilate(dy: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (stride === 1) return dy;
  const [b, h, w, c] = dy.shape;
  const spread = tf.pad(tf.reshape(dy, [b, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, stride - 1],
    [0, 0],
    [0, stride - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spread, [b, h * stride, w * stride, c]);
  return tf.slice(full, [0, 0, 0, 0], [b, (h - 1) * stride + 1, (w - 1) * stride + 1, c]) as tf.Tensor4D;
}

/**
 * The gradient of a 'valid' depthwise convolution (multiplier 1) with respect to its input of
 * shape `inputShape`: the full correlation of the dilated dy with the flipped filter, and zeros
 * for the rows and columns past the last window (a stride that does not divide the size).
 */
export function depthwiseInputGradient(
  dy: tf.Tensor4D,
  filter: tf.Tensor4D,
  stride: number,
  inputShape: readonly [number, number, number, number],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = filter.shape;
    const flipped = tf.reverse(filter, [0, 1]) as tf.Tensor4D;
    const spread = tf.pad(dilate(dy, stride), [
      [0, 0],
      [kh - 1, kh - 1],
      [kw - 1, kw - 1],
      [0, 0],
    ]);
    const dx = tf.depthwiseConv2d(spread, flipped, 1, 'valid');
    const [, h, w] = inputShape;
    return tf.pad(dx, [
      [0, 0],
      [0, h - dx.shape[1]],
      [0, w - dx.shape[2]],
      [0, 0],
    ]);
  });
}

/**
 * 'valid' depthwise convolution of x by a constant `filter` [kh, kw, C, 1], differentiable with
 * respect to x on every backend. The filter gets no gradient: it is frozen by construction.
 */
export function frozenDepthwiseConv2d(x: tf.Tensor4D, filter: tf.Tensor4D, stride: number): tf.Tensor4D {
  if (filter.shape[3] !== 1) throw new Error(`frozenDepthwiseConv2d takes depth multiplier 1, got filter [${filter.shape}]`);
  if (filter.shape[2] !== x.shape[3]) {
    throw new Error(`frozenDepthwiseConv2d: filter [${filter.shape}] does not fit ${x.shape[3]} input channels`);
  }
  const inputShape = x.shape;
  const op = tf.customGrad(((input: tf.Tensor4D) => ({
    value: tf.depthwiseConv2d(input, filter, stride, 'valid'),
    gradFunc: (dy: tf.Tensor4D) => depthwiseInputGradient(dy, filter, stride, inputShape),
  })) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (input: tf.Tensor4D) => tf.Tensor4D;
  return op(x);
}
