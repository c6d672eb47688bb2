/**
 * Engine selection. `tensorflow` is the native libtensorflow binding (@tensorflow/tfjs-node or
 * -gpu), used only when the user installed it; `webgpu` is tfjs's WebGPU backend on Dawn (a GPU
 * through Vulkan/Metal/D3D12, see webgpu.ts); `wasm` is the CPU engine everybody has; `cpu` is the
 * pure-JS reference backend (slow, exact, used by tests as the ground truth).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { trackWasmBuffers } from './heap-stats.ts';
import { startNativeThreads } from './native-threads.ts';
import { activeWasmBackend } from './tfjs-internals.ts';
import { registerWasmKernels, wasmKernelTuning } from './wasm-kernels.ts';
import { defaultWasmThreads, MAX_WASM_THREADS, registerThreadedWasm } from './wasm-threads.ts';
import { describeWebGpuAdapter, installWebGpu, mayHaveHardwareGpu, probeWebGpu, webGpuAdapter } from './webgpu.ts';

export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

/** Loads the native binding if it is installed; returns false when it is not. */
async function loadNativeBinding(): Promise<boolean> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return true;
    } catch {
      // Not installed (its install needs a download this machine cannot make): try the next.
    }
  }
  return false;
}

export interface BackendOptions {
  /**
   * Threads for the wasm backend's convolutions and matrix products (default: one per core, or
   * CYCLEGAN_WASM_THREADS). Fixed by the first wasm start in a process.
   */
  threads?: number;
  /**
   * Run the wasm backend's 3x3 and 4x4 stride-1 convolutions (forward, input and filter
   * gradients) through Winograd F(4x4, 3x3) and F(3x3, 4x4) (winograd.ts) rather than XNNPACK's
   * direct convolution: 2-5x faster on the ResNets' residual blocks and PatchGAN's 4x4 layers at
   * 256 px, within ~1e-5 of the direct result. A process-wide
   * setting, on at start; unset leaves it as it is.
   */
  winograd?: boolean;
}

/**
 * Makes `name` the active tfjs backend and returns the name actually running
 * ('tensorflow', 'webgpu', 'wasm' or 'cpu'). `auto` takes the native binding if installed, else
 * WebGPU on a hardware GPU, else wasm (a software WebGPU adapter is slower than wasm).
 */
export async function useBackend(name: BackendName = 'auto', options: BackendOptions = {}): Promise<string> {
  if (!BACKEND_NAMES.includes(name)) {
    throw new Error(`unknown backend '${name}' (expected one of ${BACKEND_NAMES.join(', ')})`);
  }
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1 || options.threads > MAX_WASM_THREADS)) {
    throw new Error(`threads must be an integer from 1 to ${MAX_WASM_THREADS}, got ${options.threads}`);
  }
  let target: string = name;
  if (name === 'tensorflow' || name === 'auto') {
    const native = await loadNativeBinding();
    if (native) target = 'tensorflow';
    else if (name === 'tensorflow') {
      throw new Error("backend 'tensorflow' needs @tensorflow/tfjs-node (npm install @tensorflow/tfjs-node); use --backend wasm");
    } else target = (await hardwareWebGpu()) ? 'webgpu' : 'wasm';
  }
  if (target === 'webgpu') await installWebGpu();
  if (target === 'wasm') {
    registerWasmKernels();
    await registerThreadedWasm(options.threads ?? defaultWasmThreads());
  }
  if (tf.getBackend() !== target) {
    const ok = await tf.setBackend(target);
    if (!ok) throw new Error(`backend '${target}' failed to initialise`);
  }
  await tf.ready();
  if (tf.getBackend() === 'wasm') {
    if (options.winograd !== undefined) wasmKernelTuning.winograd = options.winograd;
    trackWasmBuffers();
    const wasm = activeWasmBackend();
    if (wasm) await startNativeThreads(wasm, getThreadsCount());
    // The thread count is fixed when the wasm engine first starts in a process; a different
    // count asked for later would otherwise be silently ignored.
    const running = getThreadsCount();
    if (options.threads !== undefined && running !== options.threads) {
      throw new Error(
        `cannot use ${options.threads} wasm thread${options.threads === 1 ? '' : 's'}: the wasm engine already runs with ${running} in this process (the count is fixed when it first starts)`,
      );
    }
  }
  return tf.getBackend();
}

/** Whether `auto` should take WebGPU: only for a hardware adapter, and without loading Dawn when no GPU device exists. */
async function hardwareWebGpu(): Promise<boolean> {
  if (!mayHaveHardwareGpu()) return false;
  const adapter = await probeWebGpu();
  return adapter !== null && !adapter.software;
}

/** The running backend in words, e.g. "wasm (2 threads)" or "webgpu (llvmpipe, software)". */
export function describeBackend(): string {
  const name = tf.getBackend();
  const adapter = webGpuAdapter();
  if (name === 'webgpu' && adapter) return `webgpu (${describeWebGpuAdapter(adapter)})`;
  if (name !== 'wasm') return name;
  const threads = getThreadsCount();
  return `wasm (${threads} thread${threads === 1 ? '' : 's'})`;
}
