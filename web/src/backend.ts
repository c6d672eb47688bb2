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

/** Software rasterisers: WebGL on these is far slower than WebAssembly (≈90 s vs seconds at 256 px). */
const SOFTWARE_RENDERER = /swiftshader|llvmpipe|softpipe|software|basic render/i;

/** Why `auto` skipped a backend, for the footer. */
const skipped: string[] = [];

async function hasWebGpuAdapter(): Promise<boolean> {
  type Adapter = { isFallbackAdapter?: boolean; info?: { isFallbackAdapter?: boolean } };
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  if (!gpu) return false;
  try {
    const adapter = await gpu.requestAdapter();
    if (adapter == null) return false;
    if (adapter.isFallbackAdapter || adapter.info?.isFallbackAdapter) {
      skipped.push('WebGPU (software adapter)');
      return false;
    }
    return true;
  } catch {
    return false;
  }
}

/** The WebGL renderer's name (e.g. "ANGLE (…, SwiftShader …)"), or null without WebGL. */
export function webglRenderer(): string | null {
  try {
    const canvas = document.createElement('canvas');
    const gl = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    if (!gl) return null;
    const info = gl.getExtension('WEBGL_debug_renderer_info');
    const name = String(gl.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
    gl.getExtension('WEBGL_lose_context')?.loseContext();
    return name;
  } catch {
    return null;
  }
}

async function tryBackend(name: BrowserBackend, automatic: boolean): Promise<boolean> {
  try {
    if (name === 'webgpu') {
      if (!(await hasWebGpuAdapter())) return false;
      await import('@tensorflow/tfjs-backend-webgpu');
    }
    if (name === 'webgl' && automatic) {
      const renderer = webglRenderer();
      if (renderer == null) return false;
      if (SOFTWARE_RENDERER.test(renderer)) {
        const short = /swiftshader/i.test(renderer) ? 'SwiftShader' : /llvmpipe/i.test(renderer) ? 'llvmpipe' : renderer;
        skipped.push(`software WebGL (${short})`);
        return false;
      }
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

/**
 * Activates a backend, `preferred` first when given (used even if it is software-rendered);
 * returns the name now active. Without a preference, a software-rendered WebGPU or WebGL (e.g.
 * SwiftShader in headless Chromium) is skipped in favour of WebAssembly.
 */
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
    if (await tryBackend(name, name !== preferred)) return name;
  }
  throw new Error('no TensorFlow.js backend could start in this browser');
}

/** A short description of the running backend (for the footer). */
export async function describeBackend(name: BrowserBackend): Promise<string> {
  if (name === 'wasm') {
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const threads = getThreadsCount();
    let text = `WebAssembly${simd ? ' + SIMD' : ''}, ${threads} thread${threads === 1 ? '' : 's'}`;
    if (skipped.length > 0) text += ` — skipped ${skipped.join('; ')}`;
    return text;
  }
  let text =
    name === 'webgl'
      ? `WebGL ${tf.env().getNumber('WEBGL_VERSION')} (${webglRenderer() ?? 'unknown renderer'})`
      : name === 'webgpu'
        ? 'WebGPU'
        : 'plain JavaScript (slow)';
  if (skipped.length > 0) text += ` — skipped ${skipped.join('; ')}`;
  return text;
}
