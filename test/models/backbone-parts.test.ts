/**
 * The pieces the feature backbones are built from: the data-module parser (nsfwjs's files are read,
 * never run), the depthwise convolution whose input gradient runs on wasm, and the Keras trunk
 * builder (batch norms folded, unknown layers refused).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { depthwiseInputGradient, frozenDepthwiseConv2d, samePadding } from '../../src/models/backbones/depthwise.ts';
import { bundledExport, parseJsLiteral } from '../../src/models/backbones/js-literal.ts';
import { buildKerasTrunk } from '../../src/models/backbones/keras-trunk.ts';

const maxAbs = (t: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(t)).dataSync()[0]!);

describe('JS literal parser', () => {
  it('reads what a minified data module holds: bare and quoted keys, !0/!1, numbers in every form, strings, null', () => {
    const { value, end } = parseJsLiteral(
      '{a:!0,"b c":!1,n:[.5,-.25e-2,2037040140552848e-20,3,-0],s:"x\\"y\\u00e9",z:null,o:{},l:[]} tail',
    );
    assert.deepEqual(value, { a: true, 'b c': false, n: [0.5, -0.0025, 2.037040140552848e-5, 3, -0], s: 'x"yé', z: null, o: {}, l: [] });
    assert.equal(end, '{a:!0,"b c":!1,n:[.5,-.25e-2,2037040140552848e-20,3,-0],s:"x\\"y\\u00e9",z:null,o:{},l:[]}'.length);
  });

  it('refuses anything that would be code, naming the offset', () => {
    assert.throws(() => parseJsLiteral('{a:f()}', 0, 'm.js'), /m\.js: expected a value at offset 3, found "f\(\)\}"/);
    assert.throws(() => parseJsLiteral('[1,2+3]'), /expected ',' or '\]' at offset 4/);
    assert.throws(() => parseJsLiteral('{a:`x`}'), /expected a value at offset 3/);
    assert.throws(() => parseJsLiteral('"open'), /expected a closed string at offset 0/);
    assert.throws(() => parseJsLiteral('['.repeat(100)), /at most 64 levels of nesting/);
  });

  it('a __proto__ key is an own property, never the prototype', () => {
    const { value } = parseJsLiteral('{__proto__:{polluted:!0}}');
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.deepEqual(Object.keys(value as object), ['__proto__']);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("takes a browserify bundle's one exported literal and refuses code after it", () => {
    const bundle = (body: string) =>
      `!function(e){module.exports=e()}(function(){return function e(){}({1:[function(e,a,n){${body}},{}]},{},[1])(1)});`;
    assert.deepEqual(bundledExport(bundle('a.exports={w:[1,2]}'), 'x.js'), { w: [1, 2] });
    assert.equal(bundledExport(bundle('a.exports="QUJD"'), 'x.js'), 'QUJD');
    assert.throws(() => bundledExport(bundle('a.exports={w:1};require("fs")'), 'x.js'), /x\.js: the exported literal is followed by code/);
    assert.throws(() => bundledExport('module.exports = {}', 'x.js'), /x\.js: not a one-module data bundle \(found 0 module bodies\)/);
  });
});

describe('frozen depthwise convolution', () => {
  it("its input gradient is tfjs's own on cpu (strides 1 and 2, sizes the stride does and does not divide, 3×3 and 2×2 kernels)", async () => {
    await useBackend('cpu');
    for (const [h, w, k, stride] of [
      [7, 6, 3, 1],
      [9, 9, 3, 2],
      [8, 7, 3, 2],
      [6, 5, 2, 2],
    ] as const) {
      const x = tf.randomNormal([2, h, w, 3], 0, 1, 'float32', h * w) as tf.Tensor4D;
      const filter = tf.randomNormal([k, k, 3, 1], 0, 1, 'float32', k) as tf.Tensor4D;
      const dy = tf.randomNormal(tf.depthwiseConv2d(x, filter, stride, 'valid').shape, 0, 1, 'float32', 5) as tf.Tensor4D;
      const ours = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(frozenDepthwiseConv2d(v as tf.Tensor4D, filter, stride), dy)))(x);
      const theirs = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.depthwiseConv2d(v as tf.Tensor4D, filter, stride, 'valid'), dy)))(x);
      assert.deepEqual(ours.shape, x.shape);
      assert.ok(maxAbs(theirs) > 0.5);
      assert.ok(
        maxAbs(tf.sub(ours, theirs)) < 1e-5 * maxAbs(theirs),
        `${h}×${w} k${k} s${stride}: differs by ${maxAbs(tf.sub(ours, theirs))}`,
      );
      // The forward value is tf.depthwiseConv2d's exactly.
      assert.equal(maxAbs(tf.sub(frozenDepthwiseConv2d(x, filter, stride), tf.depthwiseConv2d(x, filter, stride, 'valid'))), 0);
      tf.dispose([x, filter, dy, ours, theirs]);
    }
  });

  it('runs on wasm, which has no DepthwiseConv2dNativeBackpropInput kernel, and gives the cpu backend’s gradient', async () => {
    const run = async (backend: 'cpu' | 'wasm') => {
      await useBackend(backend);
      return tf.tidy(() => {
        const x = tf.randomNormal([1, 9, 8, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
        const filter = tf.randomNormal([3, 3, 5, 1], 0, 1, 'float32', 2) as tf.Tensor4D;
        return tf
          .grad((v: tf.Tensor) => tf.sum(tf.square(frozenDepthwiseConv2d(v as tf.Tensor4D, filter, 2))))(x)
          .dataSync()
          .slice();
      });
    };
    const [cpu, wasm] = [await run('cpu'), await run('wasm')];
    const largest = Math.max(...cpu.map(Math.abs));
    cpu.forEach((v, i) => assert.ok(Math.abs(v - wasm[i]!) <= 1e-5 * largest, `value ${i}: cpu ${v}, wasm ${wasm[i]}`));
    await useBackend('wasm');
    assert.throws(
      () =>
        tf.grad((v: tf.Tensor) => tf.sum(tf.depthwiseConv2d(v as tf.Tensor4D, tf.ones([3, 3, 1, 1]), 1, 'valid')))(tf.ones([1, 4, 4, 1])),
      /DepthwiseConv2dNativeBackpropInput/,
    );
  });

  it('checks its filter, and pads as TensorFlow does', async () => {
    await useBackend('cpu');
    assert.throws(
      () => frozenDepthwiseConv2d(tf.ones([1, 4, 4, 2]), tf.ones([3, 3, 2, 2]), 1),
      /depth multiplier 1, got filter \[3,3,2,2\]/,
    );
    assert.throws(
      () => frozenDepthwiseConv2d(tf.ones([1, 4, 4, 2]), tf.ones([3, 3, 3, 1]), 1),
      /filter \[3,3,3,1\] does not fit 2 input channels/,
    );
    assert.deepEqual(
      [samePadding(8, 3, 1), samePadding(8, 3, 2), samePadding(7, 3, 2), samePadding(8, 4, 1)],
      [
        [1, 1],
        [0, 1],
        [1, 1],
        [1, 2],
      ],
    );
    const dx = depthwiseInputGradient(tf.ones([1, 3, 3, 1]), tf.ones([3, 3, 1, 1]), 2, [1, 8, 8, 1]);
    assert.deepEqual(dx.shape, [1, 8, 8, 1], 'the row and column past the last window get zeros');
  });
});

describe('Keras trunk', () => {
  const layer = (name: string, className: string, config: Record<string, unknown>, inbound: string[]) => ({
    name,
    class_name: className,
    config: { name, ...config },
    inbound_nodes: inbound.length ? [inbound.map((i) => [i, 0, 0, {}])] : [],
  });
  const topology = (layers: unknown[]) => ({ model_config: { class_name: 'Model', config: { layers } } }) as never;
  const input = layer('in', 'InputLayer', { batch_input_shape: [null, 8, 8, 2] }, []);
  const conv = layer(
    'c',
    'Conv2D',
    { filters: 3, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'linear', use_bias: false },
    ['in'],
  );
  const bn = layer('bn', 'BatchNormalization', { axis: -1, epsilon: 1e-3, center: true, scale: true }, ['c']);
  const dw = layer(
    'dw',
    'DepthwiseConv2D',
    { kernel_size: [3, 3], strides: [1, 1], padding: 'same', activation: 'linear', use_bias: false },
    ['bn'],
  );
  const relu = layer('r', 'ReLU', { max_value: 6, negative_slope: 0, threshold: 0 }, ['dw']);
  const add = layer('add', 'Add', {}, ['bn', 'r']);
  const weights = () =>
    new Map<string, tf.Tensor>([
      ['c/kernel', tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 1)],
      ['bn/gamma', tf.tensor1d([1.5, 0.5, 2])],
      ['bn/beta', tf.tensor1d([0.1, -0.2, 0.3])],
      ['bn/moving_mean', tf.tensor1d([0.2, 0, -0.4])],
      ['bn/moving_variance', tf.tensor1d([2, 0.5, 1])],
      ['dw/depthwise_kernel', tf.randomNormal([3, 3, 3, 1], 0, 1, 'float32', 2)],
    ]);

  it('computes the layers op by op (batch norm folded into the conv), with each tap’s channels and stride', async () => {
    await useBackend('cpu');
    const w = weights();
    const trunk = buildKerasTrunk(topology([input, conv, bn, dw, relu, add]), w, ['bn', 'add'], 'toy');
    assert.deepEqual(
      [trunk.channels, trunk.strides],
      [
        [3, 3],
        [2, 2],
      ],
    );
    const x = tf.randomNormal([1, 8, 8, 2], 0, 1, 'float32', 3) as tf.Tensor4D;
    const [a, b] = trunk.run(x);
    const g = (n: string) => w.get(n)!;
    const expectedBn = tf.batchNorm(
      tf.conv2d(x, g('c/kernel') as tf.Tensor4D, 2, 'same'),
      g('bn/moving_mean'),
      g('bn/moving_variance'),
      g('bn/beta'),
      g('bn/gamma'),
      1e-3,
    );
    const expectedAdd = tf.add(
      expectedBn,
      tf.relu6(tf.depthwiseConv2d(expectedBn as tf.Tensor4D, g('dw/depthwise_kernel') as tf.Tensor4D, 1, 'same')),
    );
    assert.ok(maxAbs(tf.sub(a!, expectedBn)) < 1e-5, 'the folded conv is conv then batch norm');
    assert.ok(maxAbs(tf.sub(b!, expectedAdd)) < 1e-5);
    // The trunk copied what it needs: the caller's weights can go.
    tf.dispose([...w.values()]);
    assert.ok(maxAbs(tf.sub(trunk.run(x)[1]!, expectedAdd)) < 1e-5);
    tf.dispose(trunk.tensors);
  });

  it('a tapped conv keeps its own output: the batch norm after it is applied on its own, not folded in', async () => {
    await useBackend('cpu');
    const w = weights();
    const trunk = buildKerasTrunk(topology([input, conv, bn]), w, ['c', 'bn'], 'toy');
    const x = tf.randomNormal([1, 8, 8, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
    const [a, b] = trunk.run(x);
    const g = (n: string) => w.get(n)!;
    const expectedConv = tf.conv2d(x, g('c/kernel') as tf.Tensor4D, 2, 'same');
    const expectedBn = tf.batchNorm(expectedConv, g('bn/moving_mean'), g('bn/moving_variance'), g('bn/beta'), g('bn/gamma'), 1e-3);
    assert.ok(a && maxAbs(tf.sub(a, expectedConv)) < 1e-5, 'the conv tap is the conv');
    assert.ok(b && maxAbs(tf.sub(b, expectedBn)) < 1e-5, 'the batch norm tap is conv then batch norm');
    tf.dispose([...w.values(), ...trunk.tensors]);
  });

  it('refuses a layer kind it does not know, a missing weight and an unknown tap, by name', async () => {
    await useBackend('cpu');
    const w = weights();
    const pool = layer('p', 'MaxPooling2D', {}, ['bn']);
    assert.throws(
      () => buildKerasTrunk(topology([input, conv, bn, pool]), w, ['p'], 'toy'),
      /toy: layer p \(MaxPooling2D\): not a layer kind a trunk is built from/,
    );
    assert.throws(() => buildKerasTrunk(topology([input, conv, bn]), w, ['nope'], 'toy'), /toy: no layer 'nope' to tap/);
    w.delete('bn/gamma');
    assert.throws(() => buildKerasTrunk(topology([input, conv, bn]), w, ['bn'], 'toy'), /toy: no weight 'bn\/gamma'/);
    const sixSlope = layer('r', 'ReLU', { max_value: 6, negative_slope: 0.1, threshold: 0 }, ['c']);
    assert.throws(() => buildKerasTrunk(topology([input, conv, sixSlope]), w, ['r'], 'toy'), /layer r \(ReLU\): a slope or threshold/);
    tf.dispose([...w.values()]);
  });
});
