/**
 * The image history buffer of Shrivastava et al., as in the official CycleGAN: the discriminators
 * see a mix of the newest fakes and older ones, which damps oscillation. Randomness comes from the
 * run's Rng and the stored images are plain arrays, so the pool is saved in checkpoints and a
 * resumed run draws exactly what an uninterrupted one would.
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../util/rng.ts';

export class ImagePool {
  private images: Float32Array[] = [];
  private shape: number[] | null = null;

  constructor(
    readonly capacity: number,
    private readonly rng: Rng,
  ) {}

  /**
   * Returns the images the discriminator should see for this freshly generated batch `fake`: as
   * the official pool does, each image of the batch is stored and swapped on its own. The returned
   * tensor is new; the caller disposes both. Asynchronous because a GPU backend in Node cannot read
   * a tensor synchronously.
   */
  async query(fake: tf.Tensor4D): Promise<tf.Tensor4D> {
    if (this.capacity === 0) return fake.clone();
    const [batch, ...imageShape] = fake.shape;
    const values = (await fake.data()) as Float32Array;
    const imageSize = values.length / batch;
    this.shape = [1, ...imageShape];
    const out = new Float32Array(values.length);
    for (let i = 0; i < batch; i++) {
      const image = values.subarray(i * imageSize, (i + 1) * imageSize);
      out.set(this.swap(image), i * imageSize);
    }
    return tf.tensor4d(out, fake.shape);
  }

  /** One image in, the image to show out (itself, or an older one it replaces in the pool). */
  private swap(image: Float32Array): Float32Array {
    if (this.images.length < this.capacity) {
      this.images.push(image.slice());
      return image;
    }
    if (this.rng.next() > 0.5) {
      const index = this.rng.int(this.capacity);
      const old = this.images[index]!;
      this.images[index] = image.slice();
      return old;
    }
    return image;
  }

  get size(): number {
    return this.images.length;
  }

  getState(): { images: Float32Array[]; shape: number[] | null } {
    return { images: this.images, shape: this.shape };
  }

  setState(state: { images: Float32Array[]; shape: number[] | null }): void {
    if (state.images.length > this.capacity) {
      throw new Error(`image pool state holds ${state.images.length} images, capacity is ${this.capacity}`);
    }
    this.images = state.images.map((x) => x.slice());
    this.shape = state.shape;
  }
}
