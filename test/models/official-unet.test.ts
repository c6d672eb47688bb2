/**
 * The official PyTorch U-Net in our layers: its state_dict key map is exactly PyTorch's (every key
 * once, for unet_256 and unet_128 as listed by bench/reference/golden_forward.py and for the golden
 * fixture), the layer shapes are PyTorch's in our layouts, the golden fixture's weights give
 * PyTorch's output within float32 rounding, and a missing or extra key is refused by name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { loadOfficialWeights, officialStateDict } from '../../src/models/official.ts';
import { buildOfficialUnet, officialUnetKeys, officialUnetName, unetNumDowns } from '../../src/models/official-unet.ts';
import { parseSafetensors, type NamedArray } from '../../src/models/safetensors.ts';
import * as tf from '@tensorflow/tfjs';

const GOLDEN = new URL('../fixtures/official/unet_32-ngf2.safetensors', import.meta.url);
const LISTED = JSON.parse(readFileSync(new URL('../fixtures/official/unet-state-dicts.json', import.meta.url), 'utf8')) as {
  ngf: number;
  nets: Record<string, Record<string, number[]>>;
};

function golden(): { stateDict: Map<string, NamedArray>; input: NamedArray; output: NamedArray } {
  const { tensors } = parseSafetensors(readFileSync(GOLDEN), GOLDEN.pathname);
  const stateDict = new Map([...tensors].filter(([key]) => key !== 'input' && key !== 'output'));
  return { stateDict, input: tensors.get('input')!, output: tensors.get('output')! };
}

/** The state_dict keys a key map covers, each as often as the map names it. */
const mappedKeys = (numDowns: number) => officialUnetKeys(numDowns).flatMap(({ prefix }) => [`${prefix}.weight`, `${prefix}.bias`]);

/** NCHW [1, c, h, w] ↔ NHWC [1, h, w, c]. */
const toNhwc = ({ values, shape }: NamedArray) =>
  tf.transpose(tf.tensor4d(values, shape as [number, number, number, number]), [0, 2, 3, 1]);

before(async () => {
  await useBackend('wasm');
});

describe('official U-Net key map', () => {
  for (const [net, numDowns] of [
    ['unet_256', 8],
    ['unet_128', 7],
  ] as const) {
    it(`${net}: the keys and shapes of PyTorch's UnetGenerator(3, 3, ${numDowns}, ngf ${LISTED.ngf}), every key once`, () => {
      const torchShapes = LISTED.nets[net]!;
      const mapped = mappedKeys(numDowns);
      assert.equal(new Set(mapped).size, mapped.length, 'a key mapped twice');
      assert.deepEqual([...mapped].sort(), Object.keys(torchShapes).sort());
      assert.equal(unetNumDowns(net), numDowns);
      assert.equal(officialUnetName(numDowns), net);
      const model = buildOfficialUnet({ numDowns, ngf: LISTED.ngf });
      try {
        assert.deepEqual(model.inputs[0]!.shape, [null, 2 ** numDowns, 2 ** numDowns, 3]);
        for (const [key, { shape }] of officialStateDict(model, officialUnetKeys(numDowns))) assert.deepEqual(shape, torchShapes[key], key);
      } finally {
        model.dispose();
      }
    });
  }

  it("the golden fixture's state_dict (num_downs 5) is the key map, every key once", () => {
    const mapped = mappedKeys(5);
    assert.equal(new Set(mapped).size, mapped.length);
    assert.deepEqual([...mapped].sort(), [...golden().stateDict.keys()].sort());
  });

  it('refuses a depth the official code does not build and a size it cannot halve, quoting the value', () => {
    assert.throws(() => officialUnetKeys(4), /num_downs must be an integer from 5 to 16, got 4/);
    assert.throws(() => buildOfficialUnet({ numDowns: 5, ngf: 2, size: 48 }), /size must be a positive multiple of 2\^5 = 32, got 48/);
    assert.throws(() => buildOfficialUnet({ numDowns: 5, ngf: 0 }), /ngf must be a positive integer, got 0/);
    assert.equal(unetNumDowns('unet_100'), null);
    assert.equal(unetNumDowns('unet_16'), null);
  });
});

describe('official U-Net forward', () => {
  it("gives PyTorch's output for the golden weights within float32 rounding", (t) => {
    const { stateDict, input, output } = golden();
    const model = buildOfficialUnet({ numDowns: 5, ngf: 2 });
    try {
      loadOfficialWeights(model, officialUnetKeys(5), stateDict, GOLDEN.pathname);
      const ours = tf.tidy(() => model.predict(toNhwc(input)) as tf.Tensor);
      const expected = toNhwc(output);
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(ours, expected))).dataSync()[0]!);
      const range = tf.tidy(() => tf.sub(tf.max(expected), tf.min(expected)).dataSync()[0]!);
      tf.dispose([ours, expected]);
      t.diagnostic(`largest difference from PyTorch ${diff.toExponential(2)} (output range ${range.toFixed(3)})`);
      assert.ok(range > 0.5, `the fixture's output spans ${range}: too flat to show a wrong mapping`);
      assert.ok(diff <= 1e-5 * range, `largest difference from PyTorch ${diff}`);
    } finally {
      model.dispose();
    }
  });

  it('a missing key and an extra key are refused, naming the key and the file', () => {
    const model = buildOfficialUnet({ numDowns: 5, ngf: 2 });
    try {
      const missing = golden().stateDict;
      missing.delete('model.model.1.model.3.model.3.model.5.bias');
      assert.throws(
        () => loadOfficialWeights(model, officialUnetKeys(5), missing, 'G.pth'),
        /^Error: G\.pth: missing model\.model\.1\.model\.3\.model\.3\.model\.5\.bias$/,
      );
      const extra = golden().stateDict;
      extra.set('model.model.1.model.3.model.3.model.3.model.3.model.1.weight', { shape: [1], values: new Float32Array(1), dtype: 'F32' });
      assert.throws(
        () => loadOfficialWeights(model, officialUnetKeys(5), extra, 'G.pth'),
        /G\.pth: keys this network does not have \(model\.model\.1\.model\.3\.model\.3\.model\.3\.model\.3\.model\.1\.weight\)/,
      );
    } finally {
      model.dispose();
    }
  });
});
