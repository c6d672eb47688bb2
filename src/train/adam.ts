/**
 * Adam whose whole state (step count and both moments, in a fixed variable order) can be saved and
 * restored bit for bit. tfjs's AdamOptimizer keeps beta^t as a running float32 product but rebuilds
 * it with pow() on setWeights, so a resumed run drifts from an uninterrupted one; here the bias
 * correction is computed from the integer step count in double precision every time.
 *
 * The moments live in JavaScript memory, not in the engine: two 54M-parameter U-Nets carry 870 MB
 * of moments, which would otherwise sit in the wasm backend's 4 GiB heap beside the weights, their
 * gradients, XNNPACK's packed copies of the filters and a step's activations. The update itself is
 * a single pass over each variable in JS (float32 storage, float64 arithmetic), one variable at a
 * time, so at most one variable's new values exist outside the engine at once.
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
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  constructor(
    readonly variables: tf.Variable[],
    private readonly options: AdamOptions,
  ) {
    this.lr = options.lr;
    this.m = variables.map((x) => new Float32Array(x.size));
    this.v = variables.map((x) => new Float32Array(x.size));
  }

  get iterations(): number {
    return this.step;
  }

  /**
   * Applies one update; `grads[i]` (a tensor, or its values) belongs to `variables[i]`. Does not
   * dispose the gradients.
   */
  apply(grads: (tf.Tensor | Float32Array)[]): void {
    if (grads.length !== this.variables.length) {
      throw new Error(`Adam.apply got ${grads.length} gradients for ${this.variables.length} variables`);
    }
    this.step += 1;
    const { beta1, beta2, epsilon } = this.options;
    const correction1 = 1 - Math.pow(beta1, this.step);
    const sqrtCorrection2 = Math.sqrt(1 - Math.pow(beta2, this.step));
    const stepSize = this.lr / correction1;
    this.variables.forEach((variable, i) => {
      const grad = grads[i]!;
      const g = grad instanceof Float32Array ? grad : (grad.dataSync() as Float32Array);
      const w = variable.dataSync() as Float32Array;
      const m = this.m[i]!;
      const v = this.v[i]!;
      if (g.length !== w.length) {
        throw new Error(`gradient ${i} has ${g.length} values for variable ${variable.name} of ${w.length}`);
      }
      // A fresh array: the cpu backend keeps the array it is given as the tensor's storage.
      const next = new Float32Array(w.length);
      for (let j = 0; j < w.length; j++) {
        const gj = g[j]!;
        const mj = (m[j] = beta1 * m[j]! + (1 - beta1) * gj);
        const vj = (v[j] = beta2 * v[j]! + (1 - beta2) * gj * gj);
        next[j] = w[j]! - (stepSize * mj) / (Math.sqrt(vj) / sqrtCorrection2 + epsilon);
      }
      tf.tidy(() => variable.assign(tf.tensor(next, variable.shape, 'float32')));
    });
  }

  /** The live moments, not copies (870 MB for two U-Nets): valid until the next apply(). */
  async getState(): Promise<AdamState> {
    return { step: this.step, moments: [...this.m, ...this.v] };
  }

  setState(state: AdamState): void {
    const n = this.variables.length;
    if (state.moments.length !== 2 * n) {
      throw new Error(`optimizer state has ${state.moments.length} moment tensors, expected ${2 * n}`);
    }
    [...this.m, ...this.v].forEach((target, i) => {
      const values = state.moments[i]!;
      if (values.length !== target.length) {
        const variable = this.variables[i % n]!;
        throw new Error(`optimizer moment ${i} has ${values.length} values, expected ${target.length} (${variable.shape})`);
      }
      target.set(values);
    });
    this.step = state.step;
  }

  dispose(): void {
    // Nothing in the engine: the moments are garbage-collected with the optimizer.
  }
}
