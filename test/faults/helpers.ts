/** Shared pieces of the fault tests: temp folders, tiny saved generators, leak counters. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { wasmHeapStats } from '../../src/engine/heap-stats.ts';
import { saveLayersModel } from '../../src/models/io.ts';

export async function scratch(prefix = 'cyclegan-faults-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A fully convolutional 1x1 "generator" saved as a bare tfjs model folder (what loadTranslator
 * accepts as a model.json folder). `fill` sets every weight, e.g. NaN for a diverged model.
 */
export async function saveTinyGenerator(dir: string, fill = 0.1): Promise<string> {
  const model = tf.sequential({
    layers: [tf.layers.conv2d({ filters: 3, kernelSize: 1, inputShape: [null, null, 3], activation: 'tanh' })],
  });
  try {
    const filled = model.getWeights().map((w) => tf.fill(w.shape, fill));
    model.setWeights(filled);
    tf.dispose(filled);
    await saveLayersModel(model, dir);
  } finally {
    model.dispose();
  }
  return dir;
}

/** Tensor count and wasm live bytes now; `assertSame` compares two of these. */
export function memorySnapshot(): { tensors: number; liveBytes: number | null } {
  return { tensors: tf.memory().numTensors, liveBytes: wasmHeapStats()?.liveBytes ?? null };
}
