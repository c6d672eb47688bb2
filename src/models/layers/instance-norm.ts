/**
 * Instance normalisation (Ulyanov et al. 2016), the normaliser CycleGAN uses in place of batch
 * norm: with batch size 1 batch statistics are per-image anyway, and keeping them per-image at
 * inference too is what makes a generator trained on crops behave the same on a full photo.
 */
import * as tf from '@tensorflow/tfjs';
import { INSTANCE_NORM, INSTANCE_NORM_GRAD } from '../../engine/kernel-names.ts';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

/** Whether the active backend has the fused kernels (src/engine/instance-norm.ts registers them on wasm). */
function hasFusedKernels(): boolean {
  const backend = tf.getBackend();
  return tf.getKernel(INSTANCE_NORM, backend) !== undefined && tf.getKernel(INSTANCE_NORM_GRAD, backend) !== undefined;
}

const runKernel = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number> = {}) =>
  tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs) as unknown as tf.Tensor[];

export interface InstanceNormalizationOptions extends LayerArgs {
  /** Added to the variance before the inverse square root. Default 1e-5. */
  epsilon?: number;
  /**
   * Learn a per-channel scale (initialised N(1, 0.02)) and offset (zeros), as the TensorFlow
   * CycleGAN tutorial's InstanceNormalization does; the reference parameter counts assume this.
   * `false` is the paper's (PyTorch InstanceNorm2d) default: plain normalisation. Default true.
   */
  affine?: boolean;
  /** Seed for the scale initializer, so a model built twice with the same seed is identical. */
  seed?: number;
}

/** Normalises an NHWC tensor over H and W, separately for every sample and channel. */
export class InstanceNormalization extends tf.layers.Layer {
  static className = 'InstanceNormalization';

  readonly epsilon: number;
  readonly affine: boolean;
  private readonly seed: number | undefined;
  private scale: tf.LayerVariable | null = null;
  private offset: tf.LayerVariable | null = null;

  constructor(options: InstanceNormalizationOptions = {}) {
    super(options);
    const { epsilon = 1e-5, affine = true, seed } = options;
    if (!(typeof epsilon === 'number' && Number.isFinite(epsilon) && epsilon > 0)) {
      throw new Error(`InstanceNormalization: epsilon must be a positive finite number, got ${epsilon}`);
    }
    if (typeof affine !== 'boolean') {
      throw new Error(`InstanceNormalization: affine must be a boolean, got ${JSON.stringify(affine)}`);
    }
    this.epsilon = epsilon;
    this.affine = affine;
    this.seed = seed;
    this.supportsMasking = true;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    if (shape.length !== 4) {
      throw new Error(`InstanceNormalization expects NHWC input (rank 4), got shape ${JSON.stringify(shape)}`);
    }
    const channels = shape[3];
    if (channels == null) {
      throw new Error(`InstanceNormalization needs a known channel count, got shape ${JSON.stringify(shape)}`);
    }
    if (this.affine) {
      this.scale = this.addWeight('scale', [channels], 'float32', tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: this.seed }));
      this.offset = this.addWeight('offset', [channels], 'float32', tf.initializers.zeros());
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    if (this.scale && this.offset) return this.affineNorm(x, this.scale.read(), this.offset.read());
    return this.plainNorm(x);
  }

  /**
   * Forward and backward written out (tf.customGrad). Differentiating the forward ops one by one
   * keeps four or five image-sized tensors per layer alive until the backward pass (each op saves
   * its inputs, if only for their shapes); this keeps one, the normalised image, and needs fewer
   * image-sized ops both ways. With x̂ = (x − mean)·rstd and g = dy·scale:
   *   dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)),  dscale = Σ dy·x̂,  doffset = Σ dy
   * (means over H and W of each sample and channel, sums over N, H and W). Where the backend has
   * the fused kernels (kernel-names.ts), each direction is one kernel instead.
   */
  private readonly affineNorm = tf.customGrad(((x: tf.Tensor4D, scale: tf.Tensor1D, offset: tf.Tensor1D, save: tf.GradSaveFunc) => {
    if (hasFusedKernels()) {
      const [value, normalized, rstd] = runKernel(INSTANCE_NORM, { x, scale, offset }, { epsilon: this.epsilon }) as [
        tf.Tensor4D,
        tf.Tensor4D,
        tf.Tensor4D,
      ];
      save([normalized, rstd, scale]);
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xHat, r, s] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
          return runKernel(INSTANCE_NORM_GRAD, { dy, xHat, rstd: r, scale: s });
        },
      };
    }
    const { normalized, rstd } = this.normalize(x);
    save([normalized, rstd, scale]);
    const value = tf.tidy(() => tf.add(tf.mul(normalized, scale), offset));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xHat, r, s] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
          const dyXHat = tf.mul(dy, xHat);
          const dScale = tf.sum(dyXHat, [0, 1, 2]);
          const dOffset = tf.sum(dy, [0, 1, 2]);
          const g = tf.mul(dy, s);
          const meanGXHat = tf.mul(tf.mean(dyXHat, [1, 2], true), s);
          const dx = tf.mul(tf.sub(tf.sub(g, tf.mean(g, [1, 2], true)), tf.mul(xHat, meanGXHat)), r);
          return [dx, dScale, dOffset];
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor) => tf.Tensor;

  private readonly plainNorm = tf.customGrad(((x: tf.Tensor4D, save: tf.GradSaveFunc) => {
    if (hasFusedKernels()) {
      const [normalized, rstd] = runKernel(INSTANCE_NORM, { x }, { epsilon: this.epsilon }) as [tf.Tensor4D, tf.Tensor4D];
      save([normalized, rstd]);
      return {
        value: normalized,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xHat, r] = saved as [tf.Tensor4D, tf.Tensor4D];
          return runKernel(INSTANCE_NORM_GRAD, { dy, xHat, rstd: r })[0]!;
        },
      };
    }
    const { normalized, rstd } = this.normalize(x);
    save([normalized, rstd]);
    return {
      value: normalized,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [xHat, r] = saved as [tf.Tensor4D, tf.Tensor4D];
          const meanDyXHat = tf.mean(tf.mul(dy, xHat), [1, 2], true);
          return tf.mul(tf.sub(tf.sub(dy, tf.mean(dy, [1, 2], true)), tf.mul(xHat, meanDyXHat)), r);
        }),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor) => tf.Tensor;

  /** x̂ and rstd = 1/sqrt(var + epsilon), per sample and channel ([N,1,1,C]). */
  private normalize(x: tf.Tensor4D): { normalized: tf.Tensor4D; rstd: tf.Tensor4D } {
    if (x.rank !== 4) throw new Error(`InstanceNormalization expects NHWC input (rank 4), got shape [${x.shape}]`);
    // The mean and x − mean once each: the same ops on the same values as computing them again
    // for x̂, so the same bits, with one image-sized mean and subtraction fewer per call.
    return tf.tidy(() => {
      const centered = tf.sub(x, tf.mean(x, [1, 2], true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), [1, 2], true), this.epsilon)) as tf.Tensor4D;
      return { normalized: tf.mul(centered, rstd) as tf.Tensor4D, rstd };
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { epsilon: this.epsilon, affine: this.affine };
    if (this.seed !== undefined) config['seed'] = this.seed;
    return { ...super.getConfig(), ...config };
  }
}

tf.serialization.registerClass(InstanceNormalization);
