/**
 * Names of the kernels this project adds to tfjs (no tfjs op has them). Layers look a name up
 * with `tf.getKernel(name, tf.getBackend())` and take their op-by-op path where a backend lacks
 * it, so this module imports nothing: the browser build reaches it without the engine.
 */

/**
 * Instance normalisation of NHWC x, per sample and channel: inputs {x, scale?, offset?}, attrs
 * {epsilon}; outputs [y, x̂, rstd] with scale and offset, [x̂, rstd] without (then y = x̂);
 * rstd is [N, 1, 1, C].
 */
export const INSTANCE_NORM = 'CycleganInstanceNorm';

/**
 * Its gradient: inputs {dy, xHat, rstd, scale?}; outputs [dx, dScale, dOffset] with scale,
 * [dx] without.
 */
export const INSTANCE_NORM_GRAD = 'CycleganInstanceNormGrad';

/** LeakyRelu's gradient as one kernel: inputs {dy, x}, attrs {alpha}; dx = x > 0 ? dy : dy·alpha. */
export const LEAKY_RELU_GRAD = 'CycleganLeakyReluGrad';

/**
 * The gradient of a reflect or symmetric MirrorPad of NHWC x (batch and channels unpadded): inputs
 * {dy}, attrs {paddings, mode}; dx gathers every copy of each pixel (tfjs's own gradient keeps only
 * the interior, models/layers/reflection-padding.ts).
 */
export const MIRROR_PAD_GRAD = 'CycleganMirrorPadGrad';
