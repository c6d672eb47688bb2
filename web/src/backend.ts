/**
 * Picks the fastest tfjs backend this browser offers: WebGPU (when the browser exposes an adapter),
 * WebGL, then WebAssembly, then plain JS. `?backend=NAME` in the page URL forces one.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export const BROWSER_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type BrowserBackend = (typeof BROWSER_BACKENDS)[number];

// The threaded wasm build cannot start from a bundle (its worker is the stringified module
// factory, which references the bundle's scope: "ReferenceError: e is not defined"), so stay on
// the single-threaded SIMD build even on a cross-origin-isolated page.
tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);

// The .wasm binaries are emitted by Vite next to the bundle (hashed names), so map them by name.
setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

async function hasWebGpuAdapter(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
}

async function tryBackend(name: BrowserBackend): Promise<boolean> {
  try {
    if (name === 'webgpu') {
      if (!(await hasWebGpuAdapter())) return false;
      await import('@tensorflow/tfjs-backend-webgpu');
    }
    if (!(await tf.setBackend(name))) return false;
    await tf.ready();
    // A backend can register and still fail on its first kernel (e.g. a lost WebGL context).
    tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
    return true;
  } catch (err) {
    console.warn(`tfjs backend ${name} unavailable:`, err);
    return false;
  }
}

/** Activates a backend, trying `preferred` first when given; returns the name now active. */
export async function initBackend(preferred?: string | null): Promise<BrowserBackend> {
  const order: BrowserBackend[] = [...BROWSER_BACKENDS];
  if (preferred) {
    if (!(BROWSER_BACKENDS as readonly string[]).includes(preferred)) {
      throw new Error(`unknown backend '${preferred}' (expected one of ${BROWSER_BACKENDS.join(', ')})`);
    }
    order.splice(order.indexOf(preferred as BrowserBackend), 1);
    order.unshift(preferred as BrowserBackend);
  }
  for (const name of order) {
    if (await tryBackend(name)) return name;
  }
  throw new Error('no TensorFlow.js backend could start in this browser');
}

/** A short description of the running backend (for the footer). */
export async function describeBackend(name: BrowserBackend): Promise<string> {
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = getThreadsCount();
    return `WebAssembly${simd ? ' + SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'}`;
  }
  if (name === 'webgl') return `WebGL ${tf.env().getNumber('WEBGL_VERSION')}`;
  if (name === 'webgpu') return 'WebGPU';
  return 'plain JavaScript (slow)';
}
