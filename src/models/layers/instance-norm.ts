/**
 * Instance normalisation (Ulyanov et al. 2016), the normaliser CycleGAN uses in place of batch
 * norm: with batch size 1 batch statistics are per-image anyway, and keeping them per-image at
 * inference too is what makes a generator trained on crops behave the same on a full photo.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

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
      this.scale = this.addWeight(
        'scale',
        [channels],
        'float32',
        tf.initializers.randomNormal({ mean: 1, stddev: 0.02, seed: this.seed }),
      );
      this.offset = this.addWeight('offset', [channels], 'float32', tf.initializers.zeros());
    }
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs: Kwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      // Six image-sized ops (mean, sub, square, mean, mul, add); scale, offset and rsqrt act on
      // [N,1,1,C] tensors and are free. tf.squaredDifference would save one, but its gradient
      // does not reduce over broadcast dimensions (tfjs 4.22), so it breaks backprop into x.
      const mean = tf.mean(x, [1, 2], true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), [1, 2], true);
      let mult = tf.rsqrt(tf.add(variance, this.epsilon));
      if (this.scale) mult = tf.mul(mult, this.scale.read());
      const y = tf.mul(centered, mult);
      return this.offset ? tf.add(y, this.offset.read()) : y;
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
