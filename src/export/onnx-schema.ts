/**
 * The ONNX protobuf schema: the official onnx.proto (ONNX v1.12.0, vendored beside this file as
 * onnx.proto; see its header) parsed with protobufjs 8 the first time it is needed. protobufjs is
 * loaded then too, never when the library is imported, so `import 'cyclegan'` costs nothing for
 * users who never touch ONNX.
 *
 * Not the npm package `onnx-proto`: it ships code generated for protobufjs 6 and depends on it,
 * while this project uses protobufjs 8; parsing the .proto text keeps one protobufjs and the
 * schema exactly upstream's.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';

/** The vendored official schema (copied beside the compiled code by scripts/build.mjs). */
export const ONNX_PROTO_URL = new URL('./onnx.proto', import.meta.url);

/** The parsed schema; field names as in onnx.proto (snake_case). */
export interface OnnxSchema {
  root: Protobuf.Root;
  /** onnx.ModelProto: encodes an ONNX file, and decodes one (`ModelProto.toObject(ModelProto.decode(bytes))`). */
  ModelProto: Protobuf.Type;
}

type ProtobufModule = typeof Protobuf;

let schema: OnnxSchema | null = null;
let pending: Promise<OnnxSchema> | null = null;

function parse(protobuf: ProtobufModule, text: string): OnnxSchema {
  const root = protobuf.parse(text, { keepCase: true }).root;
  root.resolveAll();
  return { root, ModelProto: root.lookupType('onnx.ModelProto') };
}

/** protobufjs is CommonJS: a dynamic import's namespace has it as the default export. */
async function importProtobuf(): Promise<ProtobufModule> {
  const mod = (await import('protobufjs')) as ProtobufModule & { default?: ProtobufModule };
  return mod.default ?? mod;
}

/** Loads protobufjs and parses onnx.proto on the first call; later calls return the same schema. */
export async function loadOnnxSchema(): Promise<OnnxSchema> {
  if (schema) return schema;
  pending ??= (async () => {
    const [protobuf, text] = await Promise.all([importProtobuf(), readFile(ONNX_PROTO_URL, 'utf8')]);
    schema ??= parse(protobuf, text);
    return schema;
  })();
  try {
    return await pending;
  } catch (error) {
    pending = null;
    throw new Error(`cannot load the ONNX schema ${fileURLToPath(ONNX_PROTO_URL)}: ${(error as Error).message}`, { cause: error });
  }
}
