/**
 * The safetensors format (huggingface/safetensors): an 8-byte little-endian header length, a JSON
 * header mapping each tensor name to {dtype, shape, data_offsets} (plus an optional string map
 * `__metadata__`), then the raw little-endian data. It holds nothing executable, which is why it
 * is the format this project reads and writes PyTorch weights in.
 */
import { Float16Array } from '@petamoriken/float16';

export interface NamedArray {
  shape: number[];
  /** The values as float32, whatever the stored dtype (integers included). */
  values: Float32Array;
  /** The stored dtype, e.g. 'F32', 'F16', 'I64'. */
  dtype: string;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedArray>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** The values of one stored tensor as float32. */
function decode(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  // Copy into an aligned buffer of its own: the data section's offsets need not be multiples of
  // 8, and a Node Buffer's slice() shares its memory pool instead of copying.
  const buffer = new Uint8Array(bytes).buffer;
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer, 0, count);
    case 'F64':
      return Float32Array.from(new Float64Array(buffer, 0, count));
    case 'F16':
      return Float32Array.from(new Float16Array(buffer, 0, count));
    case 'BF16': {
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      const halves = new Uint16Array(buffer, 0, count);
      for (let i = 0; i < count; i++) bits[i] = halves[i]! << 16;
      return out;
    }
    case 'I64':
      return Float32Array.from(new BigInt64Array(buffer, 0, count), (v) => Number(v));
    case 'I32':
      return Float32Array.from(new Int32Array(buffer, 0, count));
    case 'I16':
      return Float32Array.from(new Int16Array(buffer, 0, count));
    case 'I8':
      return Float32Array.from(new Int8Array(buffer, 0, count));
    default:
      return Float32Array.from(new Uint8Array(buffer, 0, count));
  }
}

/** Parses a safetensors file's bytes; `source` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, source: string): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new Error(`${source}: not a valid safetensors file (${problem})`);
  };
  if (bytes.length < 8) fail(`${bytes.length} bytes, shorter than the 8-byte header length`);
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  if (headerLength > bytes.length - 8) fail(`header length ${headerLength} exceeds the file's ${bytes.length} bytes`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch (error) {
    return fail(`header is not JSON: ${(error as Error).message}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(8 + headerLength);
  const tensors = new Map<string, NamedArray>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (typeof dtype !== 'string' || !(dtype in BYTES)) fail(`tensor ${name}: unsupported dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(`tensor ${name}: bad shape ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(`tensor ${name}: bad data_offsets ${JSON.stringify(offsets)}`);
    const [begin, end] = offsets as number[];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (!(
      Number.isInteger(begin) &&
      Number.isInteger(end) &&
      begin! >= 0 &&
      end! <= data.length &&
      end! - begin! === count * BYTES[dtype as string]!
    )) {
      fail(
        `tensor ${name}: data_offsets [${String(offsets)}] do not hold ${count} ${String(dtype)} values in ${data.length} bytes of data`,
      );
    }
    tensors.set(name, {
      shape: shape as number[],
      dtype: dtype as string,
      values: decode(dtype as string, data.subarray(begin, end), count),
    });
  }
  return { tensors, metadata };
}

/** Writes float32 tensors (in the given order) and string metadata as safetensors bytes. */
export function serializeSafetensors(
  tensors: Map<string, { shape: number[]; values: Float32Array }>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, { shape, values }] of tensors) {
    const count = shape.reduce((a, b) => a * b, 1);
    if (count !== values.length) throw new Error(`tensor ${name}: shape [${shape}] needs ${count} values, got ${values.length}`);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + values.length * 4] };
    offset += values.length * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = new Uint8Array(json.length + ((8 - (json.length % 8)) % 8)).fill(0x20); // spaces keep the data 8-byte aligned
  headerBytes.set(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const { values } of tensors.values()) {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), at);
    at += values.byteLength;
  }
  return out;
}
