/**
 * Dropout whose masks are reproducible *and* different on every step.
 *
 * tfjs's own Dropout layer offers two behaviours, neither usable for a resumable training run:
 * with a fixed `seed` it draws the identical mask on every call (so the "noise" the pix2pix U-Net
 * relies on is frozen), and without one it draws from Math.random (so two runs with the same seed
 * diverge, and a resumed run cannot replay). SeededDropout instead takes each call's seed from a
 * module-level stream: the trainer calls `setDropoutSeed(step-derived seed)` before a step, every
 * dropout call then advances a counter and mixes it into that seed. Since layer call order within
 * a step is fixed by the model graph, the same (seed, step) gives the same masks, and consecutive
 * calls (layers, generator applications, steps) get different ones.
 *
 * The stream is module-level rather than per layer so that a model loaded from disk (which knows
 * nothing about the trainer's Rng) joins it without any wiring.
 */
import * as tf from '@tensorflow/tfjs';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;

/** Where the dropout seed stream stands; store it in a checkpoint to resume bit-exactly. */
export interface DropoutSeedState {
  seed: number;
  calls: number;
}

let baseSeed = 0;
let calls = 0;

/** Restarts the dropout seed stream from `seed` (any finite number; used as a uint32). */
export function setDropoutSeed(seed: number): void {
  if (!Number.isFinite(seed)) throw new Error(`setDropoutSeed: seed must be a finite number, got ${seed}`);
  baseSeed = Math.floor(seed) >>> 0;
  calls = 0;
}

export function getDropoutSeedState(): DropoutSeedState {
  return { seed: baseSeed, calls };
}

export function setDropoutSeedState(state: DropoutSeedState): void {
  if (!state || !Number.isFinite(state.seed) || !Number.isInteger(state.calls) || state.calls < 0) {
    throw new Error(`setDropoutSeedState: invalid state ${JSON.stringify(state)}`);
  }
  baseSeed = Math.floor(state.seed) >>> 0;
  calls = state.calls;
}

/** The next seed of the stream: a murmur3-style mix of (base seed, call index). */
export function nextDropoutSeed(): number {
  let h = (baseSeed ^ Math.imul(calls + 1, 0x9e3779b9)) >>> 0;
  calls++;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

export interface SeededDropoutOptions extends LayerArgs {
  /** Fraction of units zeroed during training, in [0, 1). */
  rate: number;
}

/** Inverted dropout (survivors scaled by 1/(1-rate)) when called with `training: true`; identity otherwise. */
export class SeededDropout extends tf.layers.Layer {
  static className = 'SeededDropout';

  readonly rate: number;

  constructor(options: SeededDropoutOptions) {
    super(options);
    const rate = options?.rate;
    if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) {
      throw new Error(`SeededDropout: rate must be a number in [0, 1), got ${JSON.stringify(rate)}`);
    }
    this.rate = rate;
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    if (kwargs?.['training'] !== true || this.rate === 0) return x.clone();
    return tf.dropout(x, this.rate, undefined, nextDropoutSeed());
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate };
  }
}

tf.serialization.registerClass(SeededDropout);
