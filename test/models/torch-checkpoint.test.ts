/**
 * The torch.save reader: state_dicts written by PyTorch (bench/reference/torch_fixtures.py) come
 * back value for value, views and dtypes included; pickles that ask for anything a state_dict
 * does not need are refused by name and nothing in them runs.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseSafetensors } from '../../src/models/safetensors.ts';
import { parseTorchCheckpoint } from '../../src/models/torch-checkpoint.ts';

const fixture = (name: string) => {
  const url = new URL(`../fixtures/torch/${name}`, import.meta.url);
  return { bytes: readFileSync(url), file: url.pathname };
};
const MARKER = '/tmp/cyclegan-pickle-ran';

describe('torch.save reader', () => {
  it('reads a generator state_dict value for value, with the keys the official loader ignores', async () => {
    const { bytes, file } = fixture('resnet_6blocks-ngf4_net_G_A.pth');
    const tensors = await parseTorchCheckpoint(bytes, file);
    const golden = parseSafetensors(
      readFileSync(new URL('../fixtures/official/resnet_6blocks-ngf4.safetensors', import.meta.url)),
      'golden',
    ).tensors;
    for (const [key, t] of golden) {
      if (key === 'input' || key === 'output') continue;
      assert.deepEqual(tensors.get(key)?.shape, t.shape, key);
      assert.deepEqual(tensors.get(key)?.values, t.values, key);
    }
    assert.deepEqual(tensors.get('model.2.num_batches_tracked'), { shape: [], dtype: 'I64', values: Float32Array.of(7) });
    assert.equal(tensors.get('model.2.running_mean')?.values.length, 4);
  });

  it('reads views and dtypes: a transposed tensor in row-major order, float16, float64', async () => {
    const { bytes, file } = fixture('views.pth');
    const tensors = await parseTorchCheckpoint(bytes, file);
    assert.deepEqual(tensors.get('t'), { shape: [3, 2], dtype: 'F32', values: Float32Array.of(0, 3, 1, 4, 2, 5) });
    assert.deepEqual(tensors.get('h'), { shape: [2], dtype: 'F16', values: Float32Array.of(0.5, -2) });
    assert.deepEqual(tensors.get('d'), { shape: [1], dtype: 'F64', values: Float32Array.of(1.25) });
  });

  it('refuses a pickle that calls os.system, without running it', async () => {
    const { bytes, file } = fixture('evil-reduce.pth');
    await assert.rejects(
      parseTorchCheckpoint(bytes, file),
      /evil-reduce\.pth: the pickle asks for the global (posix|os)\.system, which a state_dict of tensors never needs; refused without running it/,
    );
    assert.equal(existsSync(MARKER), false, 'the command in the pickle ran');
  });

  it('refuses a whole pickled model, a pre-1.6 file and something else, in one line each', async () => {
    const whole = fixture('whole-model.pth');
    await assert.rejects(
      parseTorchCheckpoint(whole.bytes, whole.file),
      /whole-model\.pth: the pickle asks for the global [\w.]+, which a state_dict of tensors never needs/,
    );
    const legacy = fixture('legacy.pth');
    await assert.rejects(parseTorchCheckpoint(legacy.bytes, legacy.file), /legacy\.pth: not a torch\.save zip file \(PyTorch ≥ 1\.6\)/);
    await assert.rejects(parseTorchCheckpoint(Buffer.from('PK\x03\x04 nonsense'), 'x.pth'), /x\.pth: not a readable zip/);
  });
});
