/**
 * The engine's own kernels compiled to wasm (src/engine/native/*.c, rebuilt by
 * scripts/build-wasm-kernels.sh; the .wasm files are committed). Each module imports the
 * backend's memory, so its functions take heap offsets of the backend's buffers and work on them
 * in place, with wasm SIMD that JavaScript cannot reach. One instance per backend.
 */
import { readFileSync } from 'node:fs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { wasmMemory } from './tfjs-internals.ts';

/** instance-norm.c's exports (pointers are byte offsets on the heap; 0 stands for none). */
export interface InstanceNormModule {
  instance_norm(
    x: number,
    xHat: number,
    y: number,
    rstd: number,
    scale: number,
    offset: number,
    scratch: number,
    n: number,
    pixels: number,
    c: number,
    epsilon: number,
  ): void;
  instance_norm_grad(
    dy: number,
    xHat: number,
    rstd: number,
    scale: number,
    dx: number,
    dScale: number,
    dOffset: number,
    scratch: number,
    n: number,
    pixels: number,
    c: number,
  ): void;
}

const compiled = new Map<string, WebAssembly.Module>();
const instances = new WeakMap<BackendWasm, Map<string, WebAssembly.Exports>>();

/** The compiled kernel modules (native/NAME.c); all but instance-norm.c are called through runNative (native-threads.ts). */
export const NATIVE_MODULES = ['instance-norm', 'winograd', 'filter-grad', 'conv-narrow', 'rearrange', 'adam', 'elementwise'] as const;
export type NativeModuleName = (typeof NATIVE_MODULES)[number];

/**
 * native/NAME.wasm compiled for `backend`'s memory: the build importing a shared memory for
 * tfjs-wasm's threaded build (NAME.shared.wasm), the other for its single-threaded one.
 */
export function compiledNativeModule(backend: BackendWasm, name: NativeModuleName): WebAssembly.Module {
  const file = wasmMemory(backend).buffer instanceof SharedArrayBuffer ? `${name}.shared.wasm` : `${name}.wasm`;
  let code = compiled.get(file);
  if (!code) {
    code = new WebAssembly.Module(readFileSync(new URL(`./native/${file}`, import.meta.url)));
    compiled.set(file, code);
  }
  return code;
}

/** native/NAME.wasm instantiated on `backend`'s memory, once per backend. */
export function nativeModule(backend: BackendWasm, name: NativeModuleName): WebAssembly.Exports {
  let modules = instances.get(backend);
  if (!modules) {
    modules = new Map();
    instances.set(backend, modules);
  }
  let exports = modules.get(name);
  if (!exports) {
    exports = new WebAssembly.Instance(compiledNativeModule(backend, name), { env: { memory: wasmMemory(backend) } }).exports;
    modules.set(name, exports);
  }
  return exports;
}

export const instanceNormModule = (backend: BackendWasm) => nativeModule(backend, 'instance-norm') as unknown as InstanceNormModule;
