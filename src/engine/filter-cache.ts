/**
 * Filters derived from a filter buffer (a transposed convolution's phase sub-filters), kept until
 * that buffer is freed.
 *
 * A layer's forward pass hands the kernel its variable directly, and (with the buffer-sharing
 * Identity) backprop hands it the variable's buffer too, so inference and every use of a network
 * within a training step reuse them, and XNNPACK keeps its packed copy (keyed by the derived
 * buffer's id) too: on a 4x4 1024->512 filter that is ~6 ms per phase instead of ~30.
 * `Variable.assign` moves the variable onto a new buffer and frees the old one, which evicts its
 * entries, so stale values cannot be served; buffers are never written after creation.
 */
import type { DataId, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { byteSize } from './kernel-common.ts';
import { onBufferRelease } from './tfjs-internals.ts';

/** Budgets per kind of derived filter (XNNPACK packs a copy of each on top). */
export const DERIVED_FILTER_BUDGETS = { subFilter: 192 * 2 ** 20 };
export type DerivedKind = keyof typeof DERIVED_FILTER_BUDGETS;

interface Entry {
  kind: DerivedKind;
  infos: TensorInfo[];
}
const derivedFilters = new Map<DataId, Map<string, Entry>>();
const derivedBytes: Record<DerivedKind, number> = { subFilter: 0 };
const watchedBackends = new WeakSet<BackendWasm>();

/**
 * Frees what was derived from a released buffer, and anything derived from that in turn: those
 * go through the backend's own release, unhooked.
 */
function evict(dataId: DataId, disposeData: (dataId: DataId) => void): void {
  const entries = derivedFilters.get(dataId);
  if (!entries) return;
  derivedFilters.delete(dataId);
  for (const { kind, infos } of entries.values()) {
    for (const info of infos) {
      derivedBytes[kind] -= byteSize(info);
      disposeData(info.dataId);
      evict(info.dataId, disposeData);
    }
  }
}

/** Hooks the backend's buffer release so entries die with the filter buffer they came from. */
function evictWithFilterBuffers(backend: BackendWasm): void {
  if (watchedBackends.has(backend)) return;
  watchedBackends.add(backend);
  onBufferRelease(backend, evict);
}

/** Entries are keyed by the buffer and by the shape it is seen with (reshapes share buffers). */
export function cachedDerived(filter: TensorInfo, key: string): TensorInfo[] | undefined {
  return derivedFilters.get(filter.dataId)?.get(`${filter.shape}|${key}`)?.infos;
}

/** Keeps `derived` until `filter`'s buffer is freed; false (the caller frees them) when over budget. */
export function cacheDerived(backend: BackendWasm, kind: DerivedKind, filter: TensorInfo, key: string, derived: TensorInfo[]): boolean {
  const bytes = derived.reduce((sum, info) => sum + byteSize(info), 0);
  if (derivedBytes[kind] + bytes > DERIVED_FILTER_BUDGETS[kind]) return false;
  evictWithFilterBuffers(backend);
  let entries = derivedFilters.get(filter.dataId);
  if (!entries) {
    entries = new Map();
    derivedFilters.set(filter.dataId, entries);
  }
  entries.set(`${filter.shape}|${key}`, { kind, infos: derived });
  derivedBytes[kind] += bytes;
  return true;
}
