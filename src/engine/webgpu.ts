/**
 * WebGPU in Node through Dawn (the npm package `webgpu`, which ships prebuilt `dawn.node`
 * binaries). tfjs's WebGPU backend registers itself only if `navigator.gpu` exists when it is
 * imported, and Node has no WebGPU of its own (tensorflow/tfjs#7595), so Dawn is installed as
 * `navigator.gpu` first and the backend imported after. Dawn runs on Vulkan on Linux: a hardware
 * driver (NVIDIA, AMD's RADV) makes it a GPU engine; Mesa's lavapipe, a software Vulkan driver,
 * makes it a slow but exact one that CI uses to check the same code path.
 */
import { existsSync, readdirSync } from 'node:fs';
import { importOptional, MissingOptionalModule } from '../util/optional-module.ts';

export interface WebGpuAdapter {
  /** What the driver calls the device, e.g. "NVIDIA H100 80GB HBM3" or "llvmpipe (LLVM 15.0.6, 256 bits)". */
  name: string;
  vendor: string;
  architecture: string;
  /** A CPU rasteriser posing as a GPU (lavapipe/llvmpipe, SwiftShader, WARP). */
  software: boolean;
}

/** No WebGPU adapter could be created; the message says what to install. */
export class WebGpuUnavailableError extends Error {
  override name = 'WebGpuUnavailableError';
}

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|warp/i;

const INSTALL_HINT =
  process.platform === 'linux'
    ? "install the Vulkan loader and a Vulkan driver: your GPU vendor's (NVIDIA driver, or mesa-vulkan-drivers for AMD/Intel), or for a software GPU Mesa 25 lavapipe: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 (Debian 12's own Mesa 22 is refused by Dawn)"
    : "install your GPU vendor's current driver";

let probing: Promise<{ gpu: GPU; adapter: GPUAdapter | null }> | null = null;
let installing: Promise<WebGpuAdapter> | null = null;
let installed: WebGpuAdapter | null = null;

function describeAdapter(adapter: GPUAdapter): WebGpuAdapter {
  const info = adapter.info;
  const name = info.description || info.device || info.vendor || 'unknown adapter';
  const fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
  const software = fallback || info.architecture === 'software' || SOFTWARE_NAMES.test(`${info.description} ${info.device} ${info.vendor}`);
  // llvmpipe's description carries the Mesa build after a colon; the part before is the name.
  return { name: name.replace(/:\s.*$/, ''), vendor: info.vendor, architecture: info.architecture, software };
}

async function loadDawn(): Promise<DawnModule> {
  try {
    return (await importOptional('webgpu', "backend 'webgpu' in Node", () => import('webgpu'))) as unknown as DawnModule;
  } catch (error) {
    if (error instanceof MissingOptionalModule) throw new WebGpuUnavailableError(error.message);
    throw new WebGpuUnavailableError(
      `backend 'webgpu' could not load Dawn (npm package webgpu, ${process.platform}-${process.arch}): ${(error as Error).message.split('\n')[0]}`,
    );
  }
}

/** Loads Dawn and asks it for the high-performance adapter, once per process. Touches no globals. */
function probe(): Promise<{ gpu: GPU; adapter: GPUAdapter | null }> {
  probing ??= (async () => {
    const gpu = (await loadDawn()).create([]);
    let adapter: GPUAdapter | null = null;
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch {
      // Dawn rejects (rather than resolving null) on some machines without any Vulkan driver.
    }
    return { gpu, adapter };
  })();
  return probing;
}

/**
 * The adapter WebGPU would run on here, or null when there is none (or Dawn cannot load). Loads
 * Dawn but registers nothing.
 */
export async function probeWebGpu(): Promise<WebGpuAdapter | null> {
  try {
    const { adapter } = await probe();
    return adapter ? describeAdapter(adapter) : null;
  } catch {
    return null;
  }
}

/**
 * Installs Dawn as `navigator.gpu` and its constants (GPUBufferUsage, …) as globals, checks that
 * an adapter exists and registers tfjs's `webgpu` backend. Idempotent; returns the adapter.
 * Throws WebGpuUnavailableError (one line, saying what to install) when there is no adapter.
 */
export function installWebGpu(): Promise<WebGpuAdapter> {
  installing ??= (async () => {
    const [{ globals }, { gpu, adapter }] = await Promise.all([loadDawn(), probe()]);
    if (!adapter) {
      throw new WebGpuUnavailableError(
        `backend 'webgpu' found no WebGPU adapter (Dawn on ${process.platform === 'linux' ? 'Vulkan' : 'the native API'}): ${INSTALL_HINT}; or use --backend wasm`,
      );
    }
    for (const [key, value] of Object.entries(globals)) {
      if (!(key in globalThis)) Object.defineProperty(globalThis, key, { value, configurable: true, writable: true });
    }
    // Node 20 has no navigator; Node 21+ has one without gpu.
    const holder = globalThis as { navigator?: object };
    if (holder.navigator === undefined) {
      Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    }
    Object.defineProperty(holder.navigator!, 'gpu', { value: gpu, configurable: true, writable: true });
    // Only now: the backend decides when it is first imported whether to register itself.
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    nameSyncReads(WebGPUBackend.prototype as unknown as SyncReader);
    installed = describeAdapter(adapter);
    return installed;
  })();
  // A failure is kept too: a missing driver does not appear during a process's life.
  return installing;
}

interface SyncReader {
  readSync(dataId: object): unknown;
  tensorMap: { get(dataId: object): { values: unknown; dtype: string } | undefined };
}

/**
 * A synchronous read of a GPU tensor (dataSync, arraySync) cannot work in Node: tfjs does it in
 * browsers through an OffscreenCanvas, and Dawn's map callbacks only run when the event loop
 * turns, which a synchronous call never lets happen. Instead of "OffscreenCanvas is not
 * defined", say so; tensors whose values are on the CPU (uploads not yet used, small CPU-forwarded
 * results) still read synchronously.
 */
function nameSyncReads(proto: SyncReader): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  const original = proto.readSync;
  proto.readSync = function (this: SyncReader, dataId: object) {
    const data = this.tensorMap.get(dataId);
    if (data && data.values == null && data.dtype !== 'string' && data.dtype !== 'complex64') {
      throw new Error(
        'webgpu backend: a tensor on the GPU was read synchronously (dataSync/arraySync/getWeights().dataSync), which Node cannot do; this code path must read with await tensor.data()',
      );
    }
    return original.call(this, dataId);
  };
}

/** The adapter tfjs's webgpu backend runs on, or null before installWebGpu() succeeded. */
export function webGpuAdapter(): WebGpuAdapter | null {
  return installed;
}

/**
 * Whether a hardware GPU could be behind WebGPU here, judged without loading Dawn (21 MB and a
 * Vulkan instance, ~0.3 s): on Linux a GPU shows up as a device node (/dev/dri/renderD*, NVIDIA's
 * /dev/nvidia0, WSL's /dev/dxg); without one only a software driver can answer. Used by `auto`
 * so that machines without a GPU pay nothing for the WebGPU option.
 */
export function mayHaveHardwareGpu(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/nvidia0') || existsSync('/dev/dxg')) return true;
  try {
    return readdirSync('/dev/dri').some((name) => name.startsWith('renderD'));
  } catch {
    return false;
  }
}

/** The adapter in words for describeBackend(), e.g. "llvmpipe (LLVM 15.0.6, 256 bits), software". */
export function describeWebGpuAdapter(adapter: WebGpuAdapter): string {
  return adapter.software ? `${adapter.name}, software` : adapter.name;
}
