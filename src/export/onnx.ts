/**
 * Export of a tfjs generator (layers model) to an ONNX model, for ONNX Runtime and any other ONNX
 * consumer. The model keeps the tfjs interface: one float32 NHWC input named 'input' with dims
 * [1, H, W, C] ('height'/'width' symbolic for fully convolutional models) and one NHWC output
 * named 'output'; inside, the network runs in NCHW (ONNX's layout) between two Transposes.
 *
 * The graph is walked from the model's output back to its input through the layers' inbound
 * nodes, and each layer maps to one or a few ONNX ops:
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
 * Any other layer is refused with an error naming its class and name. Protobuf encoding uses
 * protobufjs with the subset of onnx.proto (ONNX IR, proto2) that the exporter writes.
 */
import { endianness } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import protobuf from 'protobufjs';

/** The subset of https://github.com/onnx/onnx/blob/main/onnx/onnx.proto this exporter writes. */
const ONNX_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10; }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  optional AttributeType type = 20;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
  optional string domain = 7;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6;
    INT64 = 7; STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  optional string doc_string = 12;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
/** The protobufjs type of onnx.ModelProto (also usable to decode an exported model). */
export const ModelProto = root.lookupType('onnx.ModelProto');

const FLOAT = 1;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;
export const MAX_OPSET = 22;

export interface OnnxExportOptions {
  /** Default opset version, 13 to 22. Default 17. */
  opset?: number;
}

/** ONNX IR version that goes with an opset (onnx/docs/Versioning.md). */
function irVersionFor(opset: number): number {
  if (opset <= 13) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

const intAttr = (name: string, i: number): Attribute => ({ name, type: ATTR.INT, i });
const intsAttr = (name: string, ints: number[]): Attribute => ({ name, type: ATTR.INTS, ints });
const floatAttr = (name: string, f: number): Attribute => ({ name, type: ATTR.FLOAT, f });
const stringAttr = (name: string, s: string): Attribute => ({ name, type: ATTR.STRING, s: new TextEncoder().encode(s) });

interface OnnxNode {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: Attribute[];
}

interface OnnxTensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

/** Little-endian bytes of a float32 array (a view on little-endian hosts). */
function float32Bytes(data: Float32Array): Uint8Array {
  if (endianness() === 'LE') return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

function int64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

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

class GraphBuilder {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxTensor[] = [];
  private readonly usedNames = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  node(opType: string, name: string, inputs: string[], attributes: Attribute[] = [], output?: string): string {
    const out = output ?? this.unique(name);
    if (output !== undefined) this.usedNames.add(output);
    this.nodes.push({ name: this.unique(`${name}/${opType}`), op_type: opType, input: inputs, output: [out], attribute: attributes });
    return out;
  }

  floatInit(name: string, dims: number[], data: Float32Array): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims, data_type: FLOAT, raw_data: float32Bytes(data) });
    return unique;
  }

  int64Init(name: string, values: number[]): string {
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims: [values.length], data_type: INT64, raw_data: int64Bytes(values) });
    return unique;
  }
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
    throw new Error(`ONNX export: layer ${layer.getClassName()} '${layer.name}' uses data format ${String(format)} (only channelsLast is supported)`);
  }
}

/** Emits the ops of one layer application; returns the output tensor name. */
function convertLayer(g: GraphBuilder, layer: tf.layers.Layer, inputs: string[], inputShapes: tf.Shape[]): string {
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
      const kernel = weightData(weights[0]!, [3, 2, 0, 1]);
      const convInputs = [one(), g.floatInit(`${layer.name}/kernel`, kernel.dims, kernel.data)];
      if (config['useBias'] !== false && weights[1]) {
        const bias = weightData(weights[1]);
        convInputs.push(g.floatInit(`${layer.name}/bias`, bias.dims, bias.data));
      }
      const y = g.node('Conv', layer.name, convInputs, attributes);
      return applyActivation(g, layer, config['activation'], y);
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
      const kernel = weightData(weights[0]!, [3, 2, 0, 1]);
      const convInputs = [one(), g.floatInit(`${layer.name}/kernel`, kernel.dims, kernel.data)];
      if (config['useBias'] !== false && weights[1]) {
        const bias = weightData(weights[1]);
        convInputs.push(g.floatInit(`${layer.name}/bias`, bias.dims, bias.data));
      }
      const y = g.node('ConvTranspose', layer.name, convInputs, attributes);
      return applyActivation(g, layer, config['activation'], y);
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

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

/**
 * Converts a single-input, single-output NHWC float32 layers model (the generators of
 * src/models/generators.ts) into a serialized ONNX ModelProto. Throws on layers it cannot map,
 * naming the layer's class and name.
 */
export function exportGeneratorToOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): Uint8Array {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!(Number.isInteger(opset) && opset >= MIN_OPSET && opset <= MAX_OPSET)) {
    throw new Error(`ONNX export: opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(`ONNX export: model '${model.name}' must have one input and one output (has ${model.inputs.length} and ${model.outputs.length})`);
  }
  const input = model.inputs[0]!;
  const output = model.outputs[0]!;
  if (input.shape.length !== 4 || output.shape.length !== 4) {
    throw new Error(`ONNX export: model '${model.name}' must map NHWC images to NHWC images (input ${JSON.stringify(input.shape)}, output ${JSON.stringify(output.shape)})`);
  }
  if (input.shape[3] == null || output.shape[3] == null) {
    throw new Error(`ONNX export: model '${model.name}' needs known channel counts`);
  }

  const g = new GraphBuilder();
  g.unique('input');
  g.unique('output');
  // Symbolic tensor id → ONNX tensor name.
  const names = new Map<number, string>();
  names.set(input.id, g.node('Transpose', 'input', ['input'], [intsAttr('perm', [0, 3, 1, 2])], g.unique('input_nchw')));

  // Depth-first from the output through the inbound nodes: every tensor's producer is emitted
  // after the producers of its inputs (a topological order), and unreachable layers never are.
  const visiting = new Set<number>();
  const visit = (t: tf.SymbolicTensor): string => {
    const known = names.get(t.id);
    if (known !== undefined) return known;
    const layer = t.sourceLayer;
    if (layer == null) throw new Error(`ONNX export: tensor '${t.name}' has no source layer`);
    if (layer.getClassName() === 'InputLayer') {
      throw new Error(`ONNX export: model '${model.name}' reads input layer '${layer.name}', which is not its single input`);
    }
    if (visiting.has(t.id)) throw new Error(`ONNX export: cycle at tensor '${t.name}'`);
    visiting.add(t.id);
    const node = layer.inboundNodes[t.nodeIndex];
    if (node == null) throw new Error(`ONNX export: layer '${layer.name}' has no inbound node ${t.nodeIndex}`);
    if (node.outputTensors.length !== 1) {
      throw new Error(`ONNX export: layer class ${layer.getClassName()} (layer '${layer.name}') has ${node.outputTensors.length} outputs; only single-output layers are supported`);
    }
    const inputNames = node.inputTensors.map(visit);
    const out = convertLayer(g, layer, inputNames, node.inputTensors.map((s) => s.shape));
    names.set(t.id, out);
    visiting.delete(t.id);
    return out;
  };
  const last = visit(output);
  g.node('Transpose', 'output', [last], [intsAttr('perm', [0, 2, 3, 1])], 'output');

  const [, ih, iw, ic] = input.shape;
  const [, oh, ow, oc] = output.shape;
  const modelProto = {
    ir_version: irVersionFor(opset),
    producer_name: 'cyclegan',
    producer_version: '0.1.0',
    model_version: 1,
    doc_string: `${model.name}: NHWC float32 in [-1, 1] → NHWC float32 in [-1, 1]`,
    opset_import: [{ domain: '', version: opset }],
    metadata_props: [
      { key: 'source', value: 'tfjs layers model' },
      { key: 'model_name', value: model.name },
      { key: 'layout', value: 'NHWC' },
    ],
    graph: {
      name: model.name,
      node: g.nodes,
      initializer: g.initializers,
      input: [valueInfo('input', [1, ih ?? 'height', iw ?? 'width', ic])],
      output: [valueInfo('output', [1, oh ?? 'out_height', ow ?? 'out_width', oc])],
    },
  };
  return ModelProto.encode(modelProto).finish();
}
