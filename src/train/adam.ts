/**
 * Adam whose whole state (step count and both moments, in a fixed variable order) can be saved and
 * restored bit for bit. tfjs's AdamOptimizer keeps beta^t as a running float32 product but rebuilds
 * it with pow() on setWeights, so a resumed run drifts from an uninterrupted one; here the bias
 * correction is computed from the integer step count in double precision every time.
 */
import * as tf from '@tensorflow/tfjs';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface AdamState {
  step: number;
  /** First moments then second moments, in the order of the optimizer's variables. */
  moments: Float32Array[];
}

export class Adam {
  /** Changed between epochs by the learning-rate schedule. */
  lr: number;
  private step = 0;
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];

  constructor(
    readonly variables: tf.Variable[],
    private readonly options: AdamOptions,
  ) {
    this.lr = options.lr;
    this.m = variables.map((x) => tf.variable(tf.zerosLike(x), false));
    this.v = variables.map((x) => tf.variable(tf.zerosLike(x), false));
  }

  get iterations(): number {
    return this.step;
  }

  /** Applies one update; `grads[i]` belongs to `variables[i]`. Does not dispose the gradients. */
  apply(grads: tf.Tensor[]): void {
    if (grads.length !== this.variables.length) {
      throw new Error(`Adam.apply got ${grads.length} gradients for ${this.variables.length} variables`);
    }
    this.step += 1;
    const { beta1, beta2, epsilon } = this.options;
    const correction1 = 1 - Math.pow(beta1, this.step);
    const correction2 = 1 - Math.pow(beta2, this.step);
    const stepSize = this.lr / correction1;
    const sqrtCorrection2 = Math.sqrt(correction2);
    // One tidy per variable: the temporaries of a 54M-parameter generator must not pile up in
    // the 4 GiB wasm heap before a single end-of-update cleanup.
    this.variables.forEach((variable, i) => {
      tf.tidy(() => {
        const g = grads[i]!;
        const m = this.m[i]!.mul(beta1).add(g.mul(1 - beta1));
        const v = this.v[i]!.mul(beta2).add(g.square().mul(1 - beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        const denom = v.sqrt().div(sqrtCorrection2).add(epsilon);
        variable.assign(variable.sub(m.div(denom).mul(stepSize)));
      });
    });
  }

  async getState(): Promise<AdamState> {
    const moments = await Promise.all([...this.m, ...this.v].map((t) => t.data() as Promise<Float32Array>));
    return { step: this.step, moments };
  }

  setState(state: AdamState): void {
    const n = this.variables.length;
    if (state.moments.length !== 2 * n) {
      throw new Error(`optimizer state has ${state.moments.length} moment tensors, expected ${2 * n}`);
    }
    [...this.m, ...this.v].forEach((target, i) => {
      const values = state.moments[i]!;
      if (values.length !== target.size) {
        throw new Error(`optimizer moment ${i} has ${values.length} values, expected ${target.size} (${target.shape})`);
      }
      tf.tidy(() => target.assign(tf.tensor(values, target.shape, 'float32')));
    });
    this.step = state.step;
  }

  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}
