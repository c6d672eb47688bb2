/**
 * Adam whose whole state (step count and both moments, in a fixed variable order) can be saved and
 * restored bit for bit. tfjs's AdamOptimizer keeps beta^t as a running float32 product but rebuilds
 * it with pow() on setWeights, so a resumed run drifts from an uninterrupted one; here the bias
 * correction is computed from the integer step count in double precision every time.
 *
 * The moments live in JavaScript memory, not in the engine: two 54M-parameter U-Nets carry 870 MB
 * of moments, which would otherwise sit in the wasm backend's 4 GiB heap beside the weights, their
 * gradients, XNNPACK's packed copies of the filters and a step's activations. The update itself is
 * a single pass over each variable (float32 storage, float64 arithmetic), one variable at a time,
 * so at most one variable's new values exist outside the engine at once: on the wasm backend
 * compiled to wasm SIMD and split over the engine's threads, the moments passing through the heap
 * a chunk at a time (engine/adam-update.ts); elsewhere the same operations in JavaScript.
 *
 * On a GPU backend (webgpu, webgl) that pass would read every weight and gradient back to the host
 * each step, so there the moments are tensors on the device and the update is tensor arithmetic
 * (float32 throughout: it matches the host path within float32 rounding, not bit for bit). The
 * saved state is the same Float32Arrays either way, so a checkpoint moves between backends.
 */
import * as tf from '@tensorflow/tfjs';
import { adamScratch, adamUpdateOnHeap, type AdamCoefficients } from '../engine/adam-update.ts';
import { activeWasmBackend, allocate, free } from '../engine/tfjs-internals.ts';

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

/**
 * The update on host arrays, float32 storage and float64 arithmetic; native/adam.c does the same
 * operations in the same order on the wasm heap, so the two give the same bits (m and v are
 * stored rounded, and used unrounded in the new weights).
 */
export function adamUpdateValues(
  g: Float32Array,
  w: Float32Array,
  next: Float32Array,
  { m, v }: { m: Float32Array; v: Float32Array },
  { beta1, beta2, epsilon, stepSize, sqrtCorrection2 }: AdamCoefficients,
): void {
  for (let j = 0; j < next.length; j++) {
    const gj = g[j]!;
    const mj = (m[j] = beta1 * m[j]! + (1 - beta1) * gj);
    const vj = (v[j] = beta2 * v[j]! + (1 - beta2) * gj * gj);
    next[j] = w[j]! - (stepSize * mj) / (Math.sqrt(vj) / sqrtCorrection2 + epsilon);
  }
}

/** Backends whose tensors live on a device, where the host update would read everything back. */
const DEVICE_BACKENDS = new Set(['webgpu', 'webgl']);

export class Adam {
  /** Changed between epochs by the learning-rate schedule. */
  lr: number;
  private step = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  /** The moments as device tensors, while the update runs there; `m`/`v` are then empty. */
  private device: { m: tf.Tensor[]; v: tf.Tensor[] } | null = null;

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

  /** `apply` with the gradients a tfjs gradient function returns, keyed by variable name. */
  applyNamed(grads: tf.NamedTensorMap): void {
    this.apply(
      this.variables.map((v) => {
        const g = grads[v.name];
        if (!g) throw new Error(`no gradient for variable ${v.name}`);
        return g;
      }),
    );
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
    if (DEVICE_BACKENDS.has(tf.getBackend())) {
      this.applyOnDevice(grads, stepSize, sqrtCorrection2);
      return;
    }
    this.toHost();
    const coefficients = { beta1, beta2, epsilon, stepSize, sqrtCorrection2 };
    const heap = activeWasmBackend();
    // The kernel's scratch, once per step; freed on every path, errors included.
    const scratch = heap ? adamScratch(heap) : null;
    try {
      this.variables.forEach((variable, i) => {
        const grad = grads[i]!;
        const gradSize = grad instanceof Float32Array ? grad.length : grad.size;
        if (gradSize !== variable.size) {
          throw new Error(`gradient ${i} has ${gradSize} values for variable ${variable.name} of shape [${variable.shape}]`);
        }
        const moments = { m: this.m[i]!, v: this.v[i]! };
        if (heap && scratch) {
          // Straight from and into the wasm heap: no copies of the weights or the gradient.
          const out = allocate(heap, variable.shape);
          try {
            adamUpdateOnHeap(heap, variable, grad, out, moments, coefficients, scratch);
          } catch (error) {
            free(heap, out);
            throw error;
          }
          const next = tf.engine().makeTensorFromTensorInfo(out);
          variable.assign(next);
          next.dispose();
        } else {
          // A fresh array: the cpu backend keeps the array it is given as the tensor's storage.
          const next = new Float32Array(variable.size);
          const g = grad instanceof Float32Array ? grad : (grad.dataSync() as Float32Array);
          adamUpdateValues(g, variable.dataSync() as Float32Array, next, moments, coefficients);
          tf.tidy(() => variable.assign(tf.tensor(next, variable.shape, 'float32')));
        }
      });
    } finally {
      if (heap && scratch) free(heap, scratch);
    }
  }

  /** The same update as tensor arithmetic on the device; uploads the moments on first use. */
  private applyOnDevice(grads: (tf.Tensor | Float32Array)[], stepSize: number, sqrtCorrection2: number): void {
    const { beta1, beta2, epsilon } = this.options;
    if (!this.device) {
      this.device = {
        m: this.m.map((values, i) => tf.tensor(values, this.variables[i]!.shape, 'float32')),
        v: this.v.map((values, i) => tf.tensor(values, this.variables[i]!.shape, 'float32')),
      };
      // The host copies would be twice the parameters in JS memory for nothing.
      for (let i = 0; i < this.m.length; i++) this.m[i] = this.v[i] = new Float32Array(0);
    }
    const { m, v } = this.device;
    this.variables.forEach((variable, i) => {
      const grad = grads[i]!;
      const gradSize = grad instanceof Float32Array ? grad.length : grad.size;
      if (gradSize !== variable.size) {
        throw new Error(`gradient ${i} has ${gradSize} values for variable ${variable.name} of shape [${variable.shape}]`);
      }
      const [mi, vi, next] = tf.tidy(() => {
        const g = grad instanceof Float32Array ? tf.tensor(grad, variable.shape, 'float32') : grad;
        const mj = tf.add(tf.mul(m[i]!, beta1), tf.mul(g, 1 - beta1));
        const vj = tf.add(tf.mul(v[i]!, beta2), tf.mul(tf.square(g), 1 - beta2));
        const denominator = tf.add(tf.div(tf.sqrt(vj), sqrtCorrection2), epsilon);
        return [mj, vj, tf.sub(variable, tf.div(tf.mul(mj, stepSize), denominator))];
      });
      m[i]!.dispose();
      v[i]!.dispose();
      m[i] = mi!;
      v[i] = vi!;
      variable.assign(next!);
      next!.dispose();
    });
  }

  /** Brings device moments back into JS memory (the backend changed to a host one). */
  private toHost(): void {
    if (!this.device) return;
    const { m, v } = this.device;
    this.device = null;
    m.forEach((t, i) => (this.m[i] = t.dataSync() as Float32Array));
    v.forEach((t, i) => (this.v[i] = t.dataSync() as Float32Array));
    tf.dispose([...m, ...v]);
  }

  /**
   * The live moments, not copies (870 MB for two U-Nets): valid until the next apply(). On a
   * device backend, copies read back from it.
   */
  async getState(): Promise<AdamState> {
    if (this.device) {
      const { m, v } = this.device;
      const moments = await Promise.all([...m, ...v].map((t) => t.data() as Promise<Float32Array>));
      return { step: this.step, moments };
    }
    return { step: this.step, moments: [...this.m, ...this.v] };
  }

  setState(state: AdamState): void {
    const n = this.variables.length;
    if (state.moments.length !== 2 * n) {
      throw new Error(`optimizer state has ${state.moments.length} moment tensors, expected ${2 * n}`);
    }
    state.moments.forEach((values, i) => {
      const variable = this.variables[i % n]!;
      if (values.length !== variable.size) {
        throw new Error(`optimizer moment ${i} has ${values.length} values, expected ${variable.size} (${variable.shape})`);
      }
    });
    // Restored into JS memory; a device backend uploads them on the next apply().
    this.disposeDevice();
    state.moments.forEach((values, i) => {
      const target = i < n ? this.m : this.v;
      const j = i % n;
      if (target[j]!.length !== values.length) target[j] = new Float32Array(values.length);
      target[j]!.set(values);
    });
    this.step = state.step;
  }

  private disposeDevice(): void {
    if (!this.device) return;
    tf.dispose([...this.device.m, ...this.device.v]);
    this.device = null;
  }

  dispose(): void {
    // On host backends nothing is in the engine: the moments are garbage-collected with the optimizer.
    this.disposeDevice();
  }
}
