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
const instances = new WeakMap<BackendWasm, InstanceNormModule>();

/**
 * instance-norm.wasm instantiated on `backend`'s memory: the build importing a shared memory for
 * tfjs-wasm's threaded build, the other for its single-threaded one.
 */
export function instanceNormModule(backend: BackendWasm): InstanceNormModule {
  let module = instances.get(backend);
  if (!module) {
    const memory = wasmMemory(backend);
    const file = memory.buffer instanceof SharedArrayBuffer ? 'instance-norm.shared.wasm' : 'instance-norm.wasm';
    let code = compiled.get(file);
    if (!code) {
      code = new WebAssembly.Module(readFileSync(new URL(`./native/${file}`, import.meta.url)));
      compiled.set(file, code);
    }
    const instance = new WebAssembly.Instance(code, { env: { memory } });
    module = instance.exports as unknown as InstanceNormModule;
    instances.set(backend, module);
  }
  return module;
}
