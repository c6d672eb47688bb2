/**
 * Every use of tfjs members outside its public API, in one place.
 *
 * The engine's kernels, memory accounting and threaded start-up need things tfjs does not
 * promise to keep: the wasm backend's buffer table (`dataIdMap`) and release hook (`disposeData`),
 * reference counts, direct reads and writes of the wasm heap, the Emscripten module, the
 * `os.cpus` read of its thread-pool sizing, and the engine's gradient tape. Each was read from the
 * sources of the version below and is checked against it when this module loads, so an upgrade
 * fails here with both versions named instead of computing wrong numbers somewhere else.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import {
  getKernel,
  registerKernel,
  unregisterKernel,
  type DataId,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorInfoMap,
  type TensorInfo,
} from '@tensorflow/tfjs';

/** The tfjs release whose internals this module was written against (package.json pins it). */
export const TFJS_VERSION_WRITTEN_FOR = '4.22.0';

const require = createRequire(import.meta.url);

/** The `version` field of an installed package's package.json. */
function installedVersion(pkg: string): string {
  const path = require.resolve(`${pkg}/package.json`);
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

/** Throws unless every package whose internals are used here is the version they were read from. */
export function assertTfjsVersion(expected: string = TFJS_VERSION_WRITTEN_FOR): void {
  for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm']) {
    const found = installedVersion(pkg);
    if (found !== expected) {
      throw new Error(
        `src/engine/tfjs-internals.ts was written for ${pkg} ${expected}, but ${found} is installed: ` +
          `its use of tfjs internals (wasm heap, buffer table, tape) must be re-checked before use with ${found}`,
      );
    }
  }
}

assertTfjsVersion();

export const WASM = 'wasm';
export type KernelArgs = Parameters<KernelFunc>[0];

// ---------------------------------------------------------------------------------------------
// The wasm heap and buffer table.

/** The wasm backend when it is the active one, else null. */
export function activeWasmBackend(): BackendWasm | null {
  return tf.getBackend() === WASM ? (tf.backend() as BackendWasm) : null;
}

/** A new float32 buffer on the heap, unknown to the engine (free it with `free`). */
export function allocate(backend: BackendWasm, shape: number[]): TensorInfo {
  return backend.makeOutput(shape, 'float32');
}

/**
 * A Float32Array view of a buffer on the wasm heap. Views die when the heap grows, so take them
 * only after the last allocation of a step.
 */
export function heapView(backend: BackendWasm, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Where a buffer starts on the wasm heap, in bytes (for kernels compiled to wasm, which take pointers). */
export function heapOffset(backend: BackendWasm, info: TensorInfo): number {
  const stored = backend.dataIdMap.get(info.dataId);
  if (!stored) throw new Error('internal: a buffer the wasm backend no longer holds');
  return stored.memoryOffset;
}

/**
 * The backend's WebAssembly.Memory, which modules of our own import: `Module.wasmMemory` in the
 * threaded build (a shared memory), the module's exported `memory` in the single-threaded one.
 */
export function wasmMemory(backend: BackendWasm): WebAssembly.Memory {
  const module = backend.wasm as unknown as { wasmMemory?: unknown; asm?: { memory?: unknown } };
  const memory = module.wasmMemory ?? module.asm?.memory;
  if (!(memory instanceof WebAssembly.Memory)) throw new Error('internal: the wasm backend does not expose its memory');
  return memory;
}

export function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** Another reference to a buffer (a tensor sharing it), as the backend's reshape takes one. */
export function shareBuffer(backend: BackendWasm, info: TensorInfo): TensorInfo {
  backend.incRef(info.dataId);
  return { dataId: info.dataId, shape: info.shape, dtype: info.dtype };
}

/** True while the backend still stores the buffer. */
export function holdsBuffer(backend: BackendWasm, dataId: DataId): boolean {
  return backend.dataIdMap.has(dataId);
}

/** Size of the wasm heap in bytes (it only ever grows). */
export function heapBytes(backend: BackendWasm): number {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer.byteLength;
}

const releaseHooks = new WeakMap<BackendWasm, { raw: (dataId: DataId, force?: boolean) => boolean; hooks: ((dataId: DataId) => void)[] }>();

/**
 * Calls `onRelease(dataId)` after the backend really frees a buffer (its last reference gone).
 * The callback gets the backend's own disposeData, so what it frees is not reported again.
 */
export function onBufferRelease(backend: BackendWasm, onRelease: (dataId: DataId, disposeData: (dataId: DataId) => void) => void): void {
  let entry = releaseHooks.get(backend);
  if (!entry) {
    const raw = backend.disposeData.bind(backend) as (dataId: DataId, force?: boolean) => boolean;
    const hooks: ((dataId: DataId) => void)[] = [];
    entry = { raw, hooks };
    releaseHooks.set(backend, entry);
    backend.disposeData = (dataId: DataId, force?: boolean): boolean => {
      const released = raw(dataId, force);
      if (!backend.dataIdMap.has(dataId)) for (const hook of hooks) hook(dataId);
      return released;
    };
  }
  const { raw } = entry;
  entry.hooks.push((dataId) => onRelease(dataId, (id) => void raw(id, true)));
}

export interface StoredBuffer {
  shape: number[];
  dtype: string;
}

/** Calls `onStore` / `onDelete` whenever the backend's buffer table gains or loses an entry. */
export function watchBufferTable(
  backend: BackendWasm,
  onStore: (dataId: object, stored: StoredBuffer) => void,
  onDelete: (dataId: object) => void,
): void {
  const storage = backend.dataIdMap;
  const set = storage.set.bind(storage);
  const remove = storage.delete.bind(storage);
  storage.set = (dataId: object, value: StoredBuffer) => {
    onStore(dataId, value);
    set(dataId, value as never);
  };
  storage.delete = (dataId: object) => {
    onDelete(dataId);
    return remove(dataId);
  };
}

// ---------------------------------------------------------------------------------------------
// Kernels called directly (not through the engine) and kernel replacement.

/** Calls a kernel's function directly (not through the engine) and checks it gave one output. */
export function runKernel(config: KernelConfig, backend: BackendWasm, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  // The stock kernels take references to their inputs (reshapes share the buffer) before they
  // allocate their output and drop them after; a failed allocation skips the drop, which would
  // keep an input buffer alive forever. Put the counts back as they were.
  const refCounts = new Map<object, number>();
  for (const info of Object.values(inputs)) {
    if (info == null) continue; // optional inputs (a fused convolution's bias) may be absent
    const refCount = backend.dataIdMap.get(info.dataId)?.refCount;
    if (refCount !== undefined && !refCounts.has(info.dataId)) refCounts.set(info.dataId, refCount);
  }
  let out: TensorInfo | TensorInfo[];
  try {
    out = config.kernelFunc({ inputs, attrs, backend });
  } catch (error) {
    for (const [dataId, refCount] of refCounts) {
      for (let extra = (backend.dataIdMap.get(dataId)?.refCount ?? refCount) - refCount; extra > 0; extra--) backend.disposeData(dataId);
    }
    throw error;
  }
  if (Array.isArray(out)) throw new Error(`wasm kernel '${config.kernelName}' returned ${out.length} outputs, expected one`);
  return out;
}

/** One of the registered wasm kernels, called directly. */
export function runWasmKernel(backend: BackendWasm, kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap): TensorInfo {
  const kernel = getKernel(kernelName, WASM);
  if (kernel === undefined) throw new Error(`wasm backend has no '${kernelName}' kernel`);
  return runKernel(kernel, backend, inputs, attrs);
}

/**
 * Registers `kernelFunc` for `kernelName` on wasm in place of whatever is there, keeping the
 * setup of `setupFrom` (the stock kernel's binding of its wasm functions must still run when the
 * backend starts). Returns the kernel it replaced.
 */
export function replaceWasmKernel(kernelName: string, kernelFunc: KernelFunc, setupFrom?: KernelConfig): KernelConfig | undefined {
  const previous = getKernel(kernelName, WASM);
  if (previous) unregisterKernel(kernelName, WASM);
  registerKernel({ kernelName, backendName: WASM, kernelFunc, setupFunc: setupFrom?.setupFunc });
  return previous;
}

/** Unregisters `kernelName` on wasm if it is there. */
export function removeWasmKernel(kernelName: string): void {
  if (getKernel(kernelName, WASM)) unregisterKernel(kernelName, WASM);
}

// ---------------------------------------------------------------------------------------------
// The threaded build's start-up.

/** The Emscripten module of the threaded build, as far as the backend's constructor reads it. */
export interface EmscriptenModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: number[]) => unknown;
  tfjs?: Record<string, unknown>;
  PThread?: { runningWorkers: { unref(): void }[] };
}

/**
 * Runs `start` while `os.cpus()` reports at least `logicalCpus` entries. The backend sizes its
 * pool from that call once, while its module starts.
 */
export async function withReportedCpuCount<T>(logicalCpus: number, start: () => Promise<T>): Promise<T> {
  const os = require('node:os') as typeof import('node:os');
  const realCpus = os.cpus;
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: Math.max(logicalCpus, cpus.length) }, (_, i) => cpus[i % cpus.length]!);
  };
  try {
    return await start();
  } finally {
    os.cpus = realCpus;
  }
}

/** Wraps a started module in the package's BackendWasm exactly as the package's own loader does. */
export function backendFromModule(module: EmscriptenModule, threads: number): BackendWasm {
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  setThreadsCount(threads);
  return new BackendWasm(module as never);
}

// ---------------------------------------------------------------------------------------------
// The engine's gradient tape (for src/train/gradients.ts).

export interface TapeNode {
  id: number;
  kernelName: string;
  outputs: tf.Tensor[];
  inputs: Record<string, tf.Tensor>;
  gradient?: (dys: (tf.Tensor | null)[]) => Record<string, () => tf.Tensor>;
  saved?: tf.Tensor[];
}

export interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(name: string, f: () => T): T;
  tidy<T extends tf.TensorContainer>(f: () => T): T;
}

/** The engine with its tape members typed. */
export function engineInternals(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}
