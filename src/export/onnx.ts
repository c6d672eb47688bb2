/**
 * Export of a tfjs generator (layers model) to an ONNX model, for ONNX Runtime and any other ONNX
 * consumer. The model keeps the tfjs interface: one float32 NHWC input named 'input' with dims
 * [1, H, W, C] ('height'/'width' symbolic for fully convolutional models) and one NHWC output
 * named 'output'; inside, the network runs in NCHW (ONNX's layout) between two Transposes.
 *
 * The graph is walked from the model's output back to its input through the layers' inbound
 * nodes; each layer maps to one or a few ONNX ops (src/export/onnx-layers.ts, which lists them and
 * refuses any other layer naming its class and name) collected by src/export/onnx-graph.ts. The
 * ModelProto is encoded with protobufjs and the official onnx.proto (src/export/onnx-schema.ts),
 * both loaded at the first export, not when this module is imported.
 *
 * Exporting the generators of a model folder to files: exportOnnx (src/export/onnx-export.ts).
 */
import type * as tf from '@tensorflow/tfjs';
import { GraphBuilder, intsAttr, valueInfo } from './onnx-graph.ts';
import { convertLayer } from './onnx-layers.ts';
import { loadOnnxSchema } from './onnx-schema.ts';

export { loadOnnxSchema, type OnnxSchema } from './onnx-schema.ts';

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

/**
 * The ModelProto of a generator as a plain object (onnx.proto field names), ready to encode.
 * Throws on models and layers it cannot map, naming the layer's class and name.
 */
function buildModelProto(model: tf.LayersModel, opts: OnnxExportOptions): object {
  const opset = opts.opset ?? DEFAULT_OPSET;
  if (!(Number.isInteger(opset) && opset >= MIN_OPSET && opset <= MAX_OPSET)) {
    throw new Error(`ONNX export: opset must be an integer from ${MIN_OPSET} to ${MAX_OPSET}, got ${opset}`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(
      `ONNX export: model '${model.name}' must have one input and one output (has ${model.inputs.length} and ${model.outputs.length})`,
    );
  }
  const input = model.inputs[0]!;
  const output = model.outputs[0]!;
  if (input.shape.length !== 4 || output.shape.length !== 4) {
    throw new Error(
      `ONNX export: model '${model.name}' must map NHWC images to NHWC images (input ${JSON.stringify(input.shape)}, output ${JSON.stringify(output.shape)})`,
    );
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
      throw new Error(
        `ONNX export: layer class ${layer.getClassName()} (layer '${layer.name}') has ${node.outputTensors.length} outputs; only single-output layers are supported`,
      );
    }
    const inputNames = node.inputTensors.map(visit);
    const out = convertLayer(
      g,
      layer,
      inputNames,
      node.inputTensors.map((s) => s.shape),
    );
    names.set(t.id, out);
    visiting.delete(t.id);
    return out;
  };
  const last = visit(output);
  g.node('Transpose', 'output', [last], [intsAttr('perm', [0, 2, 3, 1])], 'output');

  const [, ih, iw, ic] = input.shape;
  const [, oh, ow, oc] = output.shape;
  return {
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
}

/**
 * Converts a single-input, single-output NHWC float32 layers model (the generators of
 * src/models/generators.ts) into a serialized ONNX ModelProto. Throws on layers it cannot map,
 * naming the layer's class and name. Loads protobufjs and the schema on the first call.
 */
export async function generatorToOnnx(model: tf.LayersModel, opts: OnnxExportOptions = {}): Promise<Uint8Array> {
  const proto = buildModelProto(model, opts);
  const { ModelProto } = await loadOnnxSchema();
  return ModelProto.encode(proto).finish();
}
