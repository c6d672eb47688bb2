/**
 * Memory accounting for the wasm backend. `tf.memory().numBytes` counts every tensor's size even
 * when tensors share one buffer, and the wasm heap (a WebAssembly.Memory) only ever grows, so
 * neither says how much of the 4 GiB heap a training step really needs. This counts the bytes of
 * live tensor buffers as the backend stores and frees them, with their high-water mark.
 */
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmBackend, heapBytes, watchBufferTable, type StoredBuffer } from './tfjs-internals.ts';

export interface HeapStats {
  /** Bytes of tensor buffers alive now. */
  liveBytes: number;
  /** Highest `liveBytes` since tracking started or the last `resetPeakBuffers()`. */
  peakLiveBytes: number;
  /**
   * Size of the wasm heap. It never shrinks: it is the most the engine ever needed at once, with
   * XNNPACK's packed weights and allocator fragmentation on top of the tensor buffers.
   */
  heapBytes: number;
}

interface Tracker {
  live: number;
  peak: number;
  sizes: WeakMap<object, number>;
}

const trackers = new WeakMap<BackendWasm, Tracker>();

function bytesOf(data: StoredBuffer): number {
  if (data.dtype === 'string') return 0;
  const elements = data.shape.reduce((a, b) => a * b, 1);
  return elements * (data.dtype === 'bool' ? 1 : 4);
}

/**
 * Starts counting on the active wasm backend (idempotent); returns false on other backends.
 * Call it right after the backend starts: buffers created before are not counted.
 */
export function trackWasmBuffers(): boolean {
  const backend = activeWasmBackend();
  if (!backend) return false;
  if (trackers.has(backend)) return true;
  const tracker: Tracker = { live: 0, peak: 0, sizes: new WeakMap() };
  watchBufferTable(
    backend,
    (dataId, stored) => {
      const previous = tracker.sizes.get(dataId) ?? 0;
      const bytes = bytesOf(stored);
      tracker.sizes.set(dataId, bytes);
      tracker.live += bytes - previous;
      if (tracker.live > tracker.peak) tracker.peak = tracker.live;
    },
    (dataId) => {
      tracker.live -= tracker.sizes.get(dataId) ?? 0;
      tracker.sizes.delete(dataId);
    },
  );
  trackers.set(backend, tracker);
  return true;
}

/** Current counts, or null when the active backend is not a tracked wasm backend. */
export function wasmHeapStats(): HeapStats | null {
  const backend = activeWasmBackend();
  const tracker = backend && trackers.get(backend);
  if (!backend || !tracker) return null;
  return { liveBytes: tracker.live, peakLiveBytes: tracker.peak, heapBytes: heapBytes(backend) };
}

/** Starts a new high-water mark from the current live bytes. */
export function resetPeakBuffers(): void {
  const backend = activeWasmBackend();
  const tracker = backend && trackers.get(backend);
  if (tracker) tracker.peak = tracker.live;
}
