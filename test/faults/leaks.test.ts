/**
 * Error paths free what they allocated: after a failing gradient, kernel, translate or export
 * call, the tensor count and the wasm live-buffer bytes are what they were before.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { useBackend } from '../../src/engine/backend.ts';
import { wasmKernelTuning } from '../../src/engine/wasm-kernels.ts';
import { generatorToOnnx } from '../../src/export/onnx.ts';
import { writeTestReport } from '../../src/infer/report.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { saveLayersModel } from '../../src/models/io.ts';
import { variableGradsFrugal } from '../../src/train/gradients.ts';
import { makeDataset, makeImage } from '../data/helpers.ts';
import { memorySnapshot, saveTinyGenerator, scratch } from './helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  work = await scratch();
});
after(() => work.cleanup());

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`variableGradsFrugal on ${backend}`, () => {
    it('frees the tensors saved for backprop when the forward pass throws', async () => {
      await useBackend(backend);
      const w = tf.variable(tf.ones([8, 8]), true, `w_${backend}`);
      try {
        const before = memorySnapshot();
        const forward = () => {
          // Allocates (and saves for backprop) like a real forward pass, then runs out of memory.
          const h = tf.relu(tf.matMul(w, w));
          tf.sigmoid(h.mul(2));
          throw new Error('out of memory (injected)');
        };
        assert.throws(() => variableGradsFrugal(forward as () => tf.Scalar, [w]), /out of memory \(injected\)/);
        assert.deepEqual(memorySnapshot(), before);
        // The engine is usable afterwards, and a normal call still leaves only its results.
        const { value, grads } = variableGradsFrugal(() => tf.sum(tf.matMul(w, w)) as tf.Scalar, [w]);
        assert.equal(value.dataSync()[0], 8 * 8 * 8);
        tf.dispose([value, ...Object.values(grads)]);
        assert.deepEqual(memorySnapshot(), before);
      } finally {
        w.dispose();
      }
    });
  });
}

describe('wasm kernels when the heap is full', () => {
  /** Makes the n-th buffer allocation from now on fail, as a full wasm heap does. */
  function failAllocation(backend: BackendWasm, n: number): () => void {
    const real = backend.makeOutput;
    let calls = 0;
    backend.makeOutput = function (this: BackendWasm, ...args: Parameters<BackendWasm['makeOutput']>) {
      if (++calls === n) throw new Error('Out of memory (injected)');
      return real.apply(this, args);
    } as BackendWasm['makeOutput'];
    return () => {
      backend.makeOutput = real;
    };
  }

  for (const [path, gemm] of [
    ['GEMM', Infinity],
    ['phase', 0],
  ] as const) {
    it(`convolution gradients (${path} path) free every buffer when an allocation fails`, async () => {
      await useBackend('wasm');
      const backend = tf.backend() as BackendWasm;
      const saved = { ...wasmKernelTuning };
      wasmKernelTuning.gemmMaxDyPixels = gemm;
      wasmKernelTuning.convGemmMaxOutPixels = gemm;
      const x = tf.variable(tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 1), true, `x_${path}`);
      const f = tf.variable(tf.randomUniform([3, 3, 3, 4], -1, 1, 'float32', 2), true, `f_${path}`);
      try {
        const loss = () => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 2, 'same')) as tf.Scalar;
        const gradients = () => {
          const { value, grads } = variableGradsFrugal(loss, [x, f]);
          value.dispose();
          return [grads[x.name]!, grads[f.name]!];
        };
        const reference = gradients();
        const expected = reference.map((g) => Array.from(g.dataSync()));
        tf.dispose(reference);
        let failures = 0;
        for (let n = 1; ; n++) {
          const before = memorySnapshot();
          const restore = failAllocation(backend, n);
          let grads: tf.Tensor[] | null = null;
          try {
            grads = gradients();
          } catch (error) {
            assert.match((error as Error).message, /Out of memory \(injected\)/);
            failures++;
          } finally {
            restore();
          }
          if (grads) {
            assert.deepEqual(
              grads.map((g) => Array.from(g.dataSync())),
              expected,
            );
            tf.dispose(grads);
            assert.deepEqual(memorySnapshot(), before);
            break;
          }
          assert.deepEqual(memorySnapshot(), before, `after a failed allocation number ${n}`);
        }
        assert.ok(failures >= 4, `exercised ${failures} failing allocations`);
      } finally {
        Object.assign(wasmKernelTuning, saved);
        tf.dispose([x, f]);
      }
    });
  }
});

describe('translate, report and export failures', () => {
  it('a corrupt model file, a failing translation and a failing ONNX conversion leave nothing behind', async () => {
    await useBackend('wasm');
    const good = await saveTinyGenerator(join(work.dir, 'good'));
    const corrupt = join(work.dir, 'corrupt');
    mkdirSync(corrupt);
    writeFileSync(join(corrupt, 'model.json'), readFileSync(join(good, 'model.json')));
    writeFileSync(join(corrupt, 'weights.bin'), readFileSync(join(good, 'weights.bin')).subarray(0, 10));
    const nan = await saveTinyGenerator(join(work.dir, 'nan'), Number.NaN);
    // A dense layer: no ONNX conversion, and no image geometry.
    const dense = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [3] })] });
    await saveLayersModel(dense, join(work.dir, 'dense'));
    dense.dispose();

    const before = memorySnapshot();
    await assert.rejects(loadTranslator(corrupt));
    assert.deepEqual(memorySnapshot(), before, 'corrupt weights');
    await assert.rejects(loadTranslator(join(work.dir, 'dense')));
    assert.deepEqual(memorySnapshot(), before, 'not an image model (tfjs)');
    await assert.rejects(
      loadTranslator(join(work.dir, 'dense'), { engine: 'onnx', toOnnx: generatorToOnnx }),
      /Dense|not an image|unsupported|supported/i,
    );
    assert.deepEqual(memorySnapshot(), before, 'not an image model (onnx)');
    const translator = await loadTranslator(nan);
    const loaded = memorySnapshot();
    await assert.rejects(translator.translate({ width: 9, height: 7, data: new Uint8Array(9 * 7 * 3) }), /produced NaN/);
    assert.deepEqual(memorySnapshot(), loaded, 'failed translation');
    translator.dispose();
    assert.deepEqual(memorySnapshot(), before);
  });

  it('the test report frees the first generator when the second fails to load', async () => {
    await useBackend('wasm');
    const model = join(work.dir, 'half-export');
    await saveTinyGenerator(join(model, 'AtoB'));
    mkdirSync(join(model, 'BtoA'));
    writeFileSync(join(model, 'BtoA', 'model.json'), '{ not json');
    writeFileSync(
      join(model, 'cyclegan.json'),
      JSON.stringify({ format: 'cyclegan-generators', version: 1, directions: { AtoB: 'AtoB/model.json', BtoA: 'BtoA/model.json' } }),
    );
    const data = join(work.dir, 'ds');
    await makeDataset(data, 1, 1, 12);
    mkdirSync(join(data, 'testA'));
    await makeImage(join(data, 'testA', 'a.png'), 12, 12, 3);
    const before = memorySnapshot();
    await assert.rejects(writeTestReport({ model, data, out: join(work.dir, 'report') }), /BtoA/);
    assert.deepEqual(memorySnapshot(), before);
  });
});
