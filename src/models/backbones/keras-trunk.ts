/**
 * A frozen trunk of a Keras functional model (the topology a tfjs layers model.json holds) as a
 * plain function of tfjs ops, up to the layers it taps. Only the tapped layers' ancestors are
 * built. Each BatchNormalization that follows a convolution is folded into it (inference mode:
 * scale γ/√(σ²+ε) on the kernel, β − μ·scale as its bias), which is the same function in fewer
 * ops; depthwise convolutions go through frozenDepthwiseConv2d, whose input gradient runs on
 * wasm. Every weight is a constant tensor owned by the trunk: nothing here is a variable.
 *
 * Layer kinds: InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D (multiplier 1),
 * BatchNormalization, ReLU (max_value, no slope or threshold) and Add, channels last. Anything
 * else an ancestor of a tap is refused by name.
 */
import * as tf from '@tensorflow/tfjs';
import type { JsValue } from './js-literal.ts';
import { frozenDepthwiseConv2d, samePadding } from './depthwise.ts';

type Json = { [key: string]: JsValue };

interface KerasLayer {
  name: string;
  className: string;
  config: Json;
  inbound: string[];
}

/** One computation of the trunk, on the outputs of earlier steps by name. */
type Step =
  | { kind: 'pad'; name: string; input: string; pad: [[number, number], [number, number]] }
  | {
      kind: 'conv' | 'depthwise';
      name: string;
      input: string;
      kernel: tf.Tensor4D;
      bias: tf.Tensor1D | null;
      stride: number;
      padding: 'same' | 'valid';
    }
  | { kind: 'affine'; name: string; input: string; scale: tf.Tensor1D; offset: tf.Tensor1D }
  | { kind: 'relu'; name: string; input: string; max: number | null }
  | { kind: 'add'; name: string; inputs: string[] };

export interface KerasTrunk {
  /** Channels and stride (relative to the input) of each tap. */
  channels: number[];
  strides: number[];
  /** The input → the tapped maps, in tap order. */
  run(input: tf.Tensor4D): tf.Tensor4D[];
  /** The trunk's constant tensors (folded kernels and biases). */
  tensors: tf.Tensor[];
}

const isObject = (v: JsValue | undefined): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function readLayers(topology: JsValue, what: string): KerasLayer[] {
  const config = isObject(topology) && isObject(topology.model_config) ? topology.model_config.config : undefined;
  const layers = isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers)) throw new Error(`${what}: no model_config.config.layers (not a Keras functional topology)`);
  return layers.map((l, i) => {
    if (!isObject(l) || typeof l.name !== 'string' || typeof l.class_name !== 'string' || !isObject(l.config)) {
      throw new Error(`${what}: layer ${i} is not {name, class_name, config}`);
    }
    const nodes = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
    if (nodes.length > 1) throw new Error(`${what}: layer ${l.name} is used more than once; a trunk layer must be used once`);
    const first = nodes[0];
    const inbound = Array.isArray(first) ? first.map((n) => (Array.isArray(n) && typeof n[0] === 'string' ? n[0] : '')) : [];
    return { name: l.name, className: l.class_name, config: l.config, inbound };
  });
}

const pair = (v: JsValue | undefined, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return v as [number, number];
  throw new Error(`${what}: expected a number or a pair, got ${JSON.stringify(v)}`);
};

/**
 * Builds the trunk of `topology` (a Keras model_config) with `weights` (by `layer/weight` name)
 * up to `taps`. The weights are read, not kept: the caller still owns and disposes them.
 */
export function buildKerasTrunk(topology: JsValue, weights: Map<string, tf.Tensor>, taps: readonly string[], what: string): KerasTrunk {
  const layers = readLayers(topology, what);
  const byName = new Map(layers.map((l) => [l.name, l]));
  // The taps' ancestors, and how many of them read each layer (a conv read by anything besides
  // its BatchNormalization cannot be folded).
  const needed = new Set<string>();
  const pending = [...taps];
  for (const tap of taps) if (!byName.has(tap)) throw new Error(`${what}: no layer '${tap}' to tap`);
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    pending.push(...byName.get(name)!.inbound);
  }
  const readers = new Map<string, number>();
  for (const l of layers) if (needed.has(l.name)) for (const i of l.inbound) readers.set(i, (readers.get(i) ?? 0) + 1);
  // A tap reads its layer too: a tapped conv keeps its own output, unfolded.
  for (const tap of taps) readers.set(tap, (readers.get(tap) ?? 0) + 1);

  const weight = (layer: string, w: string): tf.Tensor => {
    const t = weights.get(`${layer}/${w}`);
    if (!t) throw new Error(`${what}: no weight '${layer}/${w}'`);
    return t;
  };
  const values = (t: tf.Tensor) => t.dataSync() as Float32Array;
  const steps: Step[] = [];
  const tensors: tf.Tensor[] = [];
  const own = <T extends tf.Tensor>(t: T): T => (tensors.push(t), t);
  const channels = new Map<string, number>();
  const stride = new Map<string, number>();
  let inputName: string | null = null;

  for (const l of layers) {
    if (!needed.has(l.name)) continue;
    const c = l.config;
    const src = l.inbound[0] ?? '';
    const fail = (why: string): never => {
      throw new Error(`${what}: layer ${l.name} (${l.className}): ${why}`);
    };
    if (c.data_format !== undefined && c.data_format !== 'channels_last') fail(`data_format ${JSON.stringify(c.data_format)}`);
    if (l.className !== 'InputLayer' && l.className !== 'Add' && l.inbound.length !== 1) fail(`${l.inbound.length} inputs`);
    stride.set(l.name, stride.get(src) ?? 1);
    channels.set(l.name, channels.get(src) ?? 0);
    switch (l.className) {
      case 'InputLayer': {
        const shape = c.batch_input_shape;
        if (!Array.isArray(shape) || shape.length !== 4 || typeof shape[3] !== 'number') fail('not an NHWC input');
        channels.set(l.name, (shape as number[])[3]!);
        inputName = l.name;
        break;
      }
      case 'ZeroPadding2D': {
        const p = c.padding;
        const pad = Array.isArray(p) && p.length === 2 ? [pair(p[0], l.name), pair(p[1], l.name)] : [pair(p, l.name), pair(p, l.name)];
        steps.push({ kind: 'pad', name: l.name, input: src, pad: pad as [[number, number], [number, number]] });
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        const depthwise = l.className === 'DepthwiseConv2D';
        const [sh, sw] = pair(c.strides, l.name);
        if (sh !== sw) fail(`strides ${JSON.stringify(c.strides)}`);
        if (pair(c.dilation_rate ?? 1, l.name).some((d) => d !== 1)) fail(`dilation ${JSON.stringify(c.dilation_rate)}`);
        if (c.activation !== 'linear') fail(`activation ${JSON.stringify(c.activation)}`);
        if (depthwise && (c.depth_multiplier ?? 1) !== 1) fail(`depth_multiplier ${JSON.stringify(c.depth_multiplier)}`);
        const kernel = weight(l.name, depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D;
        const bias = c.use_bias === true ? (weight(l.name, 'bias') as tf.Tensor1D) : null;
        const out = depthwise ? kernel.shape[2] : kernel.shape[3];
        if (kernel.shape[2] !== channels.get(src)) fail(`kernel [${kernel.shape}] on ${channels.get(src)} channels`);
        channels.set(l.name, out);
        stride.set(l.name, stride.get(src)! * sh);
        const padding = c.padding === 'same' || c.padding === 'valid' ? c.padding : fail(`padding ${JSON.stringify(c.padding)}`);
        const step = { kind: depthwise ? 'depthwise' : 'conv', name: l.name, input: src, stride: sh, padding } as const;
        // The caller's tensors for now: a folded BatchNormalization replaces them, the rest are copied at the end.
        steps.push({ ...step, kernel, bias });
        break;
      }
      case 'BatchNormalization': {
        const axis = c.axis;
        if (!(axis === -1 || axis === 3 || (Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === 3))))
          fail(`axis ${JSON.stringify(axis)}`);
        const epsilon = typeof c.epsilon === 'number' ? c.epsilon : fail('no epsilon');
        const n = channels.get(src)!;
        const gamma = c.scale === false ? new Float32Array(n).fill(1) : values(weight(l.name, 'gamma'));
        const beta = c.center === false ? new Float32Array(n) : values(weight(l.name, 'beta'));
        const mean = values(weight(l.name, 'moving_mean'));
        const variance = values(weight(l.name, 'moving_variance'));
        if ([gamma, beta, mean, variance].some((a) => a.length !== n)) fail(`statistics do not have ${n} channels`);
        // In float64, rounded once to float32.
        const scale = Float32Array.from(gamma, (g, i) => g / Math.sqrt(variance[i]! + epsilon));
        const offset = Float32Array.from(beta, (b, i) => b - mean[i]! * scale[i]!);
        const prev = steps.at(-1);
        if (prev && (prev.kind === 'conv' || prev.kind === 'depthwise') && prev.name === src && readers.get(src) === 1) {
          const k = values(prev.kernel);
          const [kh, kw, cin] = prev.kernel.shape;
          // The output channel is the fastest axis of both a conv kernel [kh, kw, cin, n] and a
          // depthwise one [kh, kw, n, 1].
          const folded = Float32Array.from(k, (v, i) => v * scale[i % n]!);
          const bias = prev.bias ? values(prev.bias) : new Float32Array(n);
          const foldedBias = Float32Array.from(offset, (o, i) => bias[i]! * scale[i]! + o);
          prev.kernel = own(tf.tensor4d(folded, [kh, kw, cin, prev.kind === 'conv' ? n : 1]));
          prev.bias = own(tf.tensor1d(foldedBias));
          prev.name = l.name; // later layers read the BatchNormalization's output
        } else {
          steps.push({ kind: 'affine', name: l.name, input: src, scale: own(tf.tensor1d(scale)), offset: own(tf.tensor1d(offset)) });
        }
        break;
      }
      case 'ReLU': {
        if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) fail('a slope or threshold');
        const max = c.max_value ?? null;
        if (max !== null && typeof max !== 'number') fail(`max_value ${JSON.stringify(max)}`);
        steps.push({ kind: 'relu', name: l.name, input: src, max: max as number | null });
        break;
      }
      case 'Add': {
        const shapes = l.inbound.map((i) => `${channels.get(i)}@${stride.get(i)}`);
        if (l.inbound.length < 2 || new Set(shapes).size !== 1) fail(`inputs ${shapes.join(', ')}`);
        steps.push({ kind: 'add', name: l.name, inputs: l.inbound });
        break;
      }
      default:
        fail('not a layer kind a trunk is built from');
    }
  }
  if (inputName === null) throw new Error(`${what}: the taps do not reach an InputLayer`);
  const input = inputName;
  const owned = new Set(tensors);
  for (const s of steps) {
    if (s.kind !== 'conv' && s.kind !== 'depthwise') continue;
    if (!owned.has(s.kernel)) s.kernel = own(tf.clone(s.kernel));
    if (s.bias && !owned.has(s.bias)) s.bias = own(tf.clone(s.bias));
  }

  const run = (x: tf.Tensor4D): tf.Tensor4D[] =>
    tf.tidy(() => {
      const out = new Map<string, tf.Tensor4D>([[input, x]]);
      const get = (name: string) => out.get(name)!;
      for (const s of steps) {
        let y: tf.Tensor4D;
        if (s.kind === 'pad') {
          y = tf.pad(get(s.input), [[0, 0], s.pad[0], s.pad[1], [0, 0]]);
        } else if (s.kind === 'conv') {
          y = tf.conv2d(get(s.input), s.kernel, s.stride, s.padding);
          if (s.bias) y = tf.add(y, s.bias);
        } else if (s.kind === 'depthwise') {
          let v = get(s.input);
          if (s.padding === 'same') {
            const [kh, kw] = s.kernel.shape;
            v = tf.pad(v, [[0, 0], samePadding(v.shape[1], kh, s.stride), samePadding(v.shape[2], kw, s.stride), [0, 0]]);
          }
          y = frozenDepthwiseConv2d(v, s.kernel, s.stride);
          if (s.bias) y = tf.add(y, s.bias);
        } else if (s.kind === 'affine') {
          y = tf.add(tf.mul(get(s.input), s.scale), s.offset);
        } else if (s.kind === 'relu') {
          y = s.max === 6 ? tf.relu6(get(s.input)) : s.max === null ? tf.relu(get(s.input)) : tf.clipByValue(get(s.input), 0, s.max);
        } else if (s.kind === 'add') {
          y = tf.addN(s.inputs.map(get));
        } else {
          throw new Error(`unknown trunk step ${JSON.stringify(s)}`);
        }
        out.set(s.name, y);
      }
      return taps.map(get);
    });
  return { channels: taps.map((t) => channels.get(t)!), strides: taps.map((t) => stride.get(t)!), run, tensors };
}
