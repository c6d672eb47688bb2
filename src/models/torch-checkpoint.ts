/**
 * State dicts saved by `torch.save` (PyTorch ≥ 1.6's zip format: `<archive>/data.pkl`, a pickle
 * whose tensors point by persistent id at the raw storages `<archive>/data/<key>`), read without
 * Python and without running anything: the pickle is parsed by pickleparser with a resolver that
 * knows only the names a state_dict needs (an OrderedDict, tensor rebuilding, storage types), so
 * a pickle that asks for anything else (os.system, builtins.eval, a model class) is refused by
 * name before it is built. Pre-1.6 files (a tar or a bare pickle) are refused by name too.
 */
import { Float16Array } from '@petamoriken/float16';
import { Parser } from 'pickleparser';
import yauzl from 'yauzl';
import type { NamedArray } from './safetensors.ts';

/** Storage types by the name torch pickles, with their element size and how to read them. */
const STORAGES: Record<string, { bytes: number; dtype: string; read: (b: ArrayBuffer, n: number) => ArrayLike<number> }> = {
  FloatStorage: { bytes: 4, dtype: 'F32', read: (b, n) => new Float32Array(b, 0, n) },
  DoubleStorage: { bytes: 8, dtype: 'F64', read: (b, n) => new Float64Array(b, 0, n) },
  HalfStorage: { bytes: 2, dtype: 'F16', read: (b, n) => new Float16Array(b, 0, n) },
  BFloat16Storage: {
    bytes: 2,
    dtype: 'BF16',
    read: (b, n) => {
      const out = new Float32Array(n);
      const bits = new Uint32Array(out.buffer);
      const halves = new Uint16Array(b, 0, n);
      for (let i = 0; i < n; i++) bits[i] = halves[i]! << 16;
      return out;
    },
  },
  LongStorage: { bytes: 8, dtype: 'I64', read: (b, n) => Float64Array.from(new BigInt64Array(b, 0, n), Number) },
  IntStorage: { bytes: 4, dtype: 'I32', read: (b, n) => new Int32Array(b, 0, n) },
};

/** A storage the pickle points at: its type and where its bytes are. */
interface StorageRef {
  storage: string;
  key: string;
}

/** What `_rebuild_tensor_v2` makes of its arguments: a view of a storage. */
class TensorRef {
  constructor(
    readonly ref: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

function readZipEntries(bytes: Uint8Array, file: string): Promise<Map<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { lazyEntries: true }, (error, zip) => {
      if (error || !zip) return reject(new Error(`${file}: not a readable zip (${error?.message ?? 'empty'})`));
      const entries = new Map<string, Uint8Array>();
      zip.on('error', (e: Error) => reject(new Error(`${file}: ${e.message}`)));
      zip.on('end', () => resolve(entries));
      zip.on('entry', (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(new Error(`${file}: cannot read ${entry.fileName} (${e?.message})`));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('error', (err: Error) => reject(new Error(`${file}: ${entry.fileName}: ${err.message}`)));
          stream.on('end', () => {
            entries.set(entry.fileName, Buffer.concat(chunks));
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** The tensors of a `torch.save(state_dict)` zip file; `file` names it in errors. */
export async function parseTorchCheckpoint(bytes: Uint8Array, file: string): Promise<Map<string, NamedArray>> {
  if (!(bytes[0] === 0x50 && bytes[1] === 0x4b)) {
    throw new Error(
      `${file}: not a torch.save zip file (PyTorch ≥ 1.6); older checkpoints (tar or bare pickle) are not read: load and save it again with a current PyTorch`,
    );
  }
  const entries = await readZipEntries(bytes, file);
  const pickle = [...entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pickle) throw new Error(`${file}: a zip without <archive>/data.pkl, not a torch.save file`);
  const archive = pickle.slice(0, -'data.pkl'.length);
  const refuse = (what: string): never => {
    throw new Error(`${file}: the pickle asks for ${what}, which a state_dict of tensors never needs; refused without running it`);
  };
  const names: Record<string, unknown> = {
    'collections.OrderedDict': function OrderedDict() {
      return new Map();
    },
    'torch._utils._rebuild_tensor_v2': (ref: unknown, offset: unknown, shape: unknown, stride: unknown) => {
      const ints = (v: unknown) => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
      if (!(ref && typeof ref === 'object' && 'storage' in ref) || !Number.isInteger(offset) || !ints(shape) || !ints(stride)) {
        refuse('a tensor rebuilt from something other than a storage');
      }
      return new TensorRef(ref as StorageRef, offset as number, shape as number[], stride as number[]);
    },
  };
  for (const storage of Object.keys(STORAGES)) names[`torch.${storage}`] = { storageType: storage };
  const parser = new Parser({
    unpicklingTypeOfDictionary: 'Map',
    nameResolver: {
      resolve: (module: string, name: string) => (names[`${module}.${name}`] as never) ?? refuse(`the global ${module}.${name}`),
    },
    persistentResolver: {
      resolve: (pid: unknown) => {
        // ('storage', storage type, key, location, numel)
        const [tag, type, key] = Array.isArray(pid) ? pid : [];
        const storage = (type as { storageType?: string } | undefined)?.storageType;
        if (tag !== 'storage' || !storage || typeof key !== 'string') return refuse(`the persistent object ${JSON.stringify(pid)}`);
        return { storage, key } satisfies StorageRef;
      },
    },
  });
  let root: unknown;
  try {
    root = parser.parse(entries.get(pickle)!);
  } catch (error) {
    if ((error as Error).message.startsWith(file)) throw error;
    throw new Error(`${file}: ${archive}data.pkl is not a pickle this reader takes (${(error as Error).message})`, { cause: error });
  }
  if (!(root instanceof Map)) throw new Error(`${file}: holds a ${typeof root}, not a state_dict (a dict of tensors)`);
  const tensors = new Map<string, NamedArray>();
  for (const [key, value] of root) {
    if (!(value instanceof TensorRef))
      throw new Error(`${file}: ${String(key)} is not a tensor: not a state_dict (save model.state_dict(), not the model)`);
    const { storage, key: storageKey } = value.ref;
    const raw = entries.get(`${archive}data/${storageKey}`);
    if (!raw) throw new Error(`${file}: ${String(key)} points at storage ${storageKey}, which the zip lacks`);
    const { bytes: size, dtype, read } = STORAGES[storage]!;
    const all = read(new Uint8Array(raw).buffer, Math.floor(raw.length / size));
    tensors.set(String(key), { shape: value.shape, dtype, values: gather(all, value, `${file}: ${String(key)}`) });
  }
  return tensors;
}

/** The tensor's values in row-major order from its storage view (offset and strides). */
function gather(storage: ArrayLike<number>, t: TensorRef, label: string): Float32Array {
  const count = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const index = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < count; i++) {
    let at = t.offset;
    for (let d = 0; d < index.length; d++) at += index[d]! * t.stride[d]!;
    if (at >= storage.length) throw new Error(`${label}: its view reaches past its storage (${storage.length} values)`);
    out[i] = storage[at]!;
    for (let d = index.length - 1; d >= 0 && ++index[d]! === t.shape[d]; d--) index[d] = 0;
  }
  return out;
}
