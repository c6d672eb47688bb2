/**
 * The ONNX graph being built: nodes, initializers (weights, little-endian raw data) and the
 * attribute and value-info records, as plain objects shaped like onnx.proto's NodeProto,
 * TensorProto, AttributeProto and ValueInfoProto (field names as in onnx.proto), ready for
 * ModelProto.encode (src/export/onnx-schema.ts).
 */
import { endianness } from 'node:os';

/** TensorProto.DataType values. */
export const FLOAT = 1;
export const INT64 = 7;
/** AttributeProto.AttributeType values. */
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 } as const;

export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  ints?: number[];
}

export const intAttr = (name: string, i: number): Attribute => ({ name, type: ATTR.INT, i });
export const intsAttr = (name: string, ints: number[]): Attribute => ({ name, type: ATTR.INTS, ints });
export const floatAttr = (name: string, f: number): Attribute => ({ name, type: ATTR.FLOAT, f });
export const stringAttr = (name: string, s: string): Attribute => ({ name, type: ATTR.STRING, s: new TextEncoder().encode(s) });

export interface OnnxNode {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: Attribute[];
}

export interface OnnxTensor {
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

/** Collects nodes and initializers under unique names. */
export class GraphBuilder {
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

/** A float32 tensor's ValueInfoProto; a string dim is symbolic (dim_param). */
export function valueInfo(name: string, dims: (number | string)[]) {
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
