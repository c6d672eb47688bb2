/**
 * One tfjs layer → one or a few ONNX ops (NCHW inside the graph; see src/export/onnx.ts):
 *
 *   Conv2D            Conv (kernel [kh,kw,in,out] → [out,in,kh,kw]; TF 'same' → explicit pads,
 *                     extra pad at the end; auto_pad SAME_UPPER when the size is unknown and the
 *                     pads depend on it) + the fused activation
 *   Conv2DTranspose   ConvTranspose (kernel [kh,kw,out,in] → [in,out,kh,kw]); tfjs 'same' is the
 *                     gradient of a 'same' conv of the doubled size, i.e. pads (⌊(k-s)/2⌋,
 *                     ⌈(k-s)/2⌉): 4×4 s2 → pads 1/1, 3×3 s2 → pads 0/1, output = s·in
 *   InstanceNormalization   InstanceNormalization (ones/zeros when affine = false)
 *   ReflectionPadding2D     Pad mode 'reflect';  ZeroPadding2D  Pad mode 'constant'
 *   LeakyReLU / ReLU / Activation   LeakyRelu / Relu (Clip with maxValue) / Tanh / Sigmoid
 *   Concatenate / Add       Concat (NHWC axis → NCHW axis) / Add (Sum for more than two)
 *   Dropout, SeededDropout  nothing (identity at inference)
 *
 * Any other layer is refused with an error naming its class and name.
 */
import * as tf from '@tensorflow/tfjs';
import { floatAttr, intAttr, intsAttr, stringAttr, type Attribute, type GraphBuilder } from './onnx-graph.ts';

/** NHWC axis → NCHW axis for rank-4 tensors. */
function nchwAxis(axis: number): number {
  const a = axis < 0 ? axis + 4 : axis;
  const map = [0, 2, 3, 1];
  const mapped = map[a];
  if (mapped === undefined) throw new Error(`axis ${axis} is out of range for a rank-4 tensor`);
  return mapped;
}

type Config = tf.serialization.ConfigDict;

function pair(value: unknown, what: string): [number, number] {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) {
    return [value[0] as number, value[1] as number];
  }
  throw new Error(`expected a number or a pair for ${what}, got ${JSON.stringify(value)}`);
}

/** TF 'same' padding (before, after) of one spatial dim; the odd pixel goes after. */
function samePads(size: number, kernel: number, stride: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** Reads a weight, optionally transposed, as float32 values. */
function weightData(w: tf.Tensor, perm?: number[]): { dims: number[]; data: Float32Array } {
  return tf.tidy(() => {
    const t = perm ? tf.transpose(w, perm) : w;
    return { dims: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) };
  });
}

function applyActivation(g: GraphBuilder, layer: tf.layers.Layer, activation: unknown, x: string): string {
  const name = typeof activation === 'string' ? activation : activation == null ? 'linear' : JSON.stringify(activation);
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return g.node('Relu', `${layer.name}/relu`, [x]);
    case 'tanh':
      return g.node('Tanh', `${layer.name}/tanh`, [x]);
    case 'sigmoid':
      return g.node('Sigmoid', `${layer.name}/sigmoid`, [x]);
    default:
      throw new Error(`ONNX export: activation '${name}' of layer ${layer.getClassName()} '${layer.name}' is not supported`);
  }
}

function checkChannelsLast(layer: tf.layers.Layer, config: Config): void {
  const format = config['dataFormat'] ?? config['data_format'];
  if (format != null && format !== 'channelsLast' && format !== 'channels_last') {
    throw new Error(
      `ONNX export: layer ${layer.getClassName()} '${layer.name}' uses data format ${String(format)} (only channelsLast is supported)`,
    );
  }
}

/** Emits the ops of one layer application; returns the output tensor name. */
/**
 * A Conv or ConvTranspose node with the layer's kernel (tfjs HWIO or HWOI to ONNX's OIHW/IOHW
 * order: the same [3, 2, 0, 1] permutation for both), its bias unless `useBias` is off, and its
 * activation.
 */
function convolution(
  g: GraphBuilder,
  op: 'Conv' | 'ConvTranspose',
  layer: tf.layers.Layer,
  config: Config,
  input: string,
  attributes: Attribute[],
): string {
  const weights = layer.getWeights();
  const kernel = weightData(weights[0]!, [3, 2, 0, 1]);
  const convInputs = [input, g.floatInit(`${layer.name}/kernel`, kernel.dims, kernel.data)];
  if (config['useBias'] !== false && weights[1]) {
    const bias = weightData(weights[1]);
    convInputs.push(g.floatInit(`${layer.name}/bias`, bias.dims, bias.data));
  }
  return applyActivation(g, layer, config['activation'], g.node(op, layer.name, convInputs, attributes));
}

export function convertLayer(g: GraphBuilder, layer: tf.layers.Layer, inputs: string[], inputShapes: tf.Shape[]): string {
  const cls = layer.getClassName();
  const config = layer.getConfig();
  const one = (): string => {
    if (inputs.length !== 1) throw new Error(`ONNX export: layer ${cls} '${layer.name}' expects one input, got ${inputs.length}`);
    return inputs[0]!;
  };
  const weights = layer.getWeights();
  switch (cls) {
    case 'Conv2D': {
      checkChannelsLast(layer, config);
      const [kh, kw] = pair(config['kernelSize'], 'kernelSize');
      const [sh, sw] = pair(config['strides'] ?? 1, 'strides');
      const [dh, dw] = pair(config['dilationRate'] ?? 1, 'dilationRate');
      const groups = (config['groups'] as number | undefined) ?? 1;
      const padding = config['padding'];
      const attributes: Attribute[] = [
        intsAttr('kernel_shape', [kh, kw]),
        intsAttr('strides', [sh, sw]),
        intsAttr('dilations', [dh, dw]),
        intAttr('group', groups),
      ];
      if (padding === 'same') {
        const ekh = (kh - 1) * dh + 1;
        const ekw = (kw - 1) * dw + 1;
        const [, h, w] = inputShapes[0]!;
        // With stride 1 the pads do not depend on the size; otherwise they need it.
        const padsH = h != null ? samePads(h, ekh, sh) : sh === 1 ? samePads(1, ekh, 1) : null;
        const padsW = w != null ? samePads(w, ekw, sw) : sw === 1 ? samePads(1, ekw, 1) : null;
        if (padsH && padsW) attributes.push(intsAttr('pads', [padsH[0], padsW[0], padsH[1], padsW[1]]));
        else attributes.push(stringAttr('auto_pad', 'SAME_UPPER'));
      } else if (padding === 'valid') {
        attributes.push(intsAttr('pads', [0, 0, 0, 0]));
      } else {
        throw new Error(`ONNX export: padding '${String(padding)}' of layer ${cls} '${layer.name}' is not supported`);
      }
      return convolution(g, 'Conv', layer, config, one(), attributes);
    }
    case 'Conv2DTranspose': {
      checkChannelsLast(layer, config);
      const [kh, kw] = pair(config['kernelSize'], 'kernelSize');
      const [sh, sw] = pair(config['strides'] ?? 1, 'strides');
      const [dh, dw] = pair(config['dilationRate'] ?? 1, 'dilationRate');
      if (dh !== 1 || dw !== 1) {
        throw new Error(`ONNX export: dilated Conv2DTranspose '${layer.name}' is not supported`);
      }
      const padding = config['padding'];
      // tfjs: output = in·s for 'same' (the gradient of a TF 'same' conv on the s·in image, whose
      // pad total is max(k - s, 0), odd pixel at the end); in·s + max(k - s, 0) for 'valid'.
      // ONNX: output = s·(in - 1) + output_padding + k - pad_begin - pad_end, and input pixel i
      // lands at i·s + kk - pad_begin in both.
      const dim = (k: number, s: number): { begin: number; end: number; outPad: number } => {
        if (padding === 'same') {
          const total = Math.max(k - s, 0);
          const begin = Math.floor(total / 2);
          return { begin, end: total - begin, outPad: s - k + total };
        }
        if (padding === 'valid') return { begin: 0, end: 0, outPad: Math.max(s - k, 0) };
        throw new Error(`ONNX export: padding '${String(padding)}' of layer ${cls} '${layer.name}' is not supported`);
      };
      const ph = dim(kh, sh);
      const pw = dim(kw, sw);
      const attributes: Attribute[] = [
        intsAttr('kernel_shape', [kh, kw]),
        intsAttr('strides', [sh, sw]),
        intsAttr('pads', [ph.begin, pw.begin, ph.end, pw.end]),
      ];
      if (ph.outPad !== 0 || pw.outPad !== 0) attributes.push(intsAttr('output_padding', [ph.outPad, pw.outPad]));
      return convolution(g, 'ConvTranspose', layer, config, one(), attributes);
    }
    case 'InstanceNormalization': {
      const channels = inputShapes[0]![3];
      if (channels == null) throw new Error(`ONNX export: InstanceNormalization '${layer.name}' needs a known channel count`);
      const epsilon = Number(config['epsilon'] ?? 1e-5);
      let scale: Float32Array;
      let offset: Float32Array;
      if (weights.length === 2) {
        scale = weightData(weights[0]!).data;
        offset = weightData(weights[1]!).data;
      } else if (weights.length === 0) {
        scale = new Float32Array(channels).fill(1);
        offset = new Float32Array(channels);
      } else {
        throw new Error(`ONNX export: InstanceNormalization '${layer.name}' has ${weights.length} weights (expected 0 or 2)`);
      }
      return g.node(
        'InstanceNormalization',
        layer.name,
        [one(), g.floatInit(`${layer.name}/scale`, [channels], scale), g.floatInit(`${layer.name}/offset`, [channels], offset)],
        [floatAttr('epsilon', epsilon)],
      );
    }
    case 'ReflectionPadding2D':
    case 'ZeroPadding2D': {
      checkChannelsLast(layer, config);
      const raw = config['padding'];
      let t: number, b: number, l: number, r: number;
      if (typeof raw === 'number') [t, b, l, r] = [raw, raw, raw, raw];
      else if (Array.isArray(raw) && raw.length === 2 && raw.every((p) => typeof p === 'number')) {
        [t, b, l, r] = [raw[0] as number, raw[0] as number, raw[1] as number, raw[1] as number];
      } else if (Array.isArray(raw) && raw.length === 2) {
        [[t, b], [l, r]] = [pair(raw[0], 'padding'), pair(raw[1], 'padding')];
      } else {
        throw new Error(`ONNX export: padding ${JSON.stringify(raw)} of layer ${cls} '${layer.name}' is not supported`);
      }
      const pads = g.int64Init(`${layer.name}/pads`, [0, 0, t, l, 0, 0, b, r]);
      const mode = cls === 'ReflectionPadding2D' ? 'reflect' : 'constant';
      return g.node('Pad', layer.name, [one(), pads], [stringAttr('mode', mode)]);
    }
    case 'Crop2D': {
      // Slice with negative ends counts from the far side, so the crop needs no known size.
      const [[t, b], [l, r]] = [
        pair((config['cropping'] as unknown[])[0], 'cropping'),
        pair((config['cropping'] as unknown[])[1], 'cropping'),
      ];
      const big = 2 ** 62; // "to the end" for a side cropped by 0
      const starts = g.int64Init(`${layer.name}/starts`, [t, l]);
      const ends = g.int64Init(`${layer.name}/ends`, [b > 0 ? -b : big, r > 0 ? -r : big]);
      const axes = g.int64Init(`${layer.name}/axes`, [2, 3]);
      return g.node('Slice', layer.name, [one(), starts, ends, axes]);
    }
    case 'LeakyReLU':
      return g.node('LeakyRelu', layer.name, [one()], [floatAttr('alpha', Number(config['alpha'] ?? 0.3))]);
    case 'ReLU': {
      const maxValue = config['maxValue'];
      if (maxValue == null) return g.node('Relu', layer.name, [one()]);
      const lo = g.floatInit(`${layer.name}/min`, [], new Float32Array([0]));
      const hi = g.floatInit(`${layer.name}/max`, [], new Float32Array([Number(maxValue)]));
      return g.node('Clip', layer.name, [one(), lo, hi]);
    }
    case 'Activation':
      return applyActivation(g, layer, config['activation'], one());
    case 'Concatenate': {
      const axis = nchwAxis(Number(config['axis'] ?? -1));
      return g.node('Concat', layer.name, inputs, [intAttr('axis', axis)]);
    }
    case 'Add':
      if (inputs.length < 2) return one();
      return g.node(inputs.length === 2 ? 'Add' : 'Sum', layer.name, inputs);
    case 'Dropout':
    case 'SpatialDropout2D':
    case 'SeededDropout':
    case 'GaussianNoise':
    case 'GaussianDropout':
      return one();
    default:
      throw new Error(`ONNX export: layer class ${cls} (layer '${layer.name}') is not supported`);
  }
}
