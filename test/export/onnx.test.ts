import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../../src/engine/backend.ts';
import { buildResnetGenerator, buildUnetGenerator } from '../../src/models/index.ts';
import { InstanceNormalization } from '../../src/models/layers/instance-norm.ts';
import { ReflectionPadding2D } from '../../src/models/layers/reflection-padding.ts';
import { SeededDropout } from '../../src/models/layers/seeded-dropout.ts';
import { generatorToOnnx, loadOnnxSchema } from '../../src/export/onnx.ts';
import { ONNX_PROTO_URL } from '../../src/export/onnx-schema.ts';
import { OnnxGenerator } from '../../src/infer/onnx-engine.ts';

await useBackend('cpu');
const { ModelProto } = await loadOnnxSchema();

interface DecodedValueInfo {
  name: string;
  type: { tensor_type: { shape: { dim: { dim_value?: number; dim_param?: string }[] } } };
}
/** The fields of a decoded ModelProto these tests read (onnx.proto names). */
interface DecodedModel {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  metadata_props: { key: string; value: string }[];
  graph: {
    node: { op_type: string; output: string[] }[];
    initializer: { name: string; dims?: number[]; data_type: number; raw_data: Uint8Array }[];
    input: DecodedValueInfo[];
    output: DecodedValueInfo[];
  };
}
const decode = (bytes: Uint8Array) => ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: false }) as DecodedModel;

const root = await mkdtemp(join(tmpdir(), 'cyclegan-onnx-test-'));
test.after(() => rm(root, { recursive: true, force: true }));

const TOLERANCE = 1e-4;

/** Exports `model`, runs it in ONNX Runtime and in tfjs on random h×w images; returns the max |diff|. */
async function compare(model: tf.LayersModel, sizes: [number, number][], opset?: number): Promise<number> {
  const bytes = await generatorToOnnx(model, opset === undefined ? {} : { opset });
  const session = await OnnxGenerator.load(bytes);
  let worst = 0;
  try {
    for (const [i, [h, w]] of sizes.entries()) {
      const x = tf.randomUniform([1, h, w, 3], -1, 1, 'float32', 11 + i);
      const ref = tf.tidy(() => model.predict(x) as tf.Tensor);
      const expected = ref.dataSync() as Float32Array;
      const got = await session.run(x.dataSync() as Float32Array, h, w);
      assert.equal(got.length, expected.length, `output size for ${h}x${w} (tfjs shape ${ref.shape})`);
      for (let j = 0; j < got.length; j++) worst = Math.max(worst, Math.abs(got[j]! - expected[j]!));
      // Not trivially equal: the outputs vary.
      assert.ok(Math.max(...expected) - Math.min(...expected) > 1e-3, 'output is not constant');
      x.dispose();
      ref.dispose();
    }
  } finally {
    await session.dispose();
  }
  return worst;
}

async function check(label: string, model: tf.LayersModel, sizes: [number, number][], opset?: number): Promise<void> {
  try {
    const diff = await compare(model, sizes, opset);
    console.log(`# ${label}: max |onnx - tfjs| = ${diff.toExponential(2)}`);
    assert.ok(diff <= TOLERANCE, `${label}: max abs diff ${diff} > ${TOLERANCE}`);
  } finally {
    model.dispose();
  }
}

test('tiny U-Net (size 32, ngf 4) matches tfjs', async () => {
  await check('U-Net 32 ngf 4', buildUnetGenerator({ size: 32, ngf: 4, seed: 1 }), [[32, 32]]);
});

test('tiny ResNet-6 (ngf 4) matches tfjs at 36x28 and 16x40', async () => {
  await check('ResNet-6 ngf 4', buildResnetGenerator({ ngf: 4, nBlocks: 6, seed: 2 }), [
    [36, 28],
    [16, 40],
  ]);
});

test('full-width generators (ngf 64) at small sizes match tfjs', async () => {
  await check('U-Net 16 ngf 64', buildUnetGenerator({ size: 16, ngf: 64, seed: 3 }), [[16, 16]]);
  await check('ResNet-9 ngf 64', buildResnetGenerator({ ngf: 64, nBlocks: 9, seed: 4 }), [[20, 24]]);
});

test('affine=false instance norm and innermostNorm=false export', async () => {
  await check('ResNet-2 no-affine', buildResnetGenerator({ ngf: 4, nBlocks: 2, norm: 'instance-no-affine', seed: 5 }), [[24, 20]]);
  await check('U-Net no-affine', buildUnetGenerator({ size: 16, ngf: 4, norm: 'instance-no-affine', innermostNorm: false, seed: 6 }), [
    [16, 16],
  ]);
});

test('fully convolutional ResNet on sizes not divisible by 4 (odd stride-2 inputs) matches tfjs', async () => {
  // 38 → 19 → 10 → 20 → 40: the second downsampling sees an odd size, where TF 'same' pads 1/1.
  await check('ResNet-1 odd', buildResnetGenerator({ ngf: 4, nBlocks: 1, seed: 7 }), [
    [38, 30],
    [36, 28],
  ]);
});

/** Every supported layer kind with tfjs's default (glorot) weights, which are far from 0.02 std. */
function layerZoo(shape: [number | null, number | null]): tf.LayersModel {
  const input = tf.input({ shape: [...shape, 3] });
  const a = tf.layers
    .zeroPadding2d({
      padding: [
        [1, 2],
        [0, 1],
      ],
    })
    .apply(input) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', dilationRate: 2, activation: 'relu' }).apply(a);
  const c = tf.layers
    .conv2d({ filters: 6, kernelSize: [3, 5], strides: [2, 1], padding: 'same', biasInitializer: 'randomNormal' })
    .apply(b);
  const d = new InstanceNormalization({ epsilon: 1e-3 }).apply(c);
  const e = tf.layers.leakyReLU({ alpha: 0.2 }).apply(d);
  const f = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 4, strides: 2, padding: 'same', biasInitializer: 'randomNormal' }).apply(e);
  const g = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', useBias: false }).apply(e);
  const h = tf.layers.conv2dTranspose({ filters: 4, kernelSize: 1, strides: 2, padding: 'same' }).apply(e);
  const sum = tf.layers.add().apply([f, g, h] as tf.SymbolicTensor[]);
  const r = tf.layers.reLU({ maxValue: 0.5 }).apply(sum);
  const p = new ReflectionPadding2D({
    padding: [
      [2, 1],
      [1, 3],
    ],
  }).apply(r);
  const q = tf.layers.conv2d({ filters: 3, kernelSize: 4, padding: 'valid' }).apply(p);
  const cat = tf.layers.concatenate().apply([q, new SeededDropout({ rate: 0.5 }).apply(q)] as tf.SymbolicTensor[]);
  const v = tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'valid', activation: 'tanh' }).apply(cat);
  const t = tf.layers.dropout({ rate: 0.3 }).apply(v);
  const out = tf.layers.activation({ activation: 'sigmoid' }).apply(t) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'zoo' });
}

test('layer zoo: conv padding/stride/dilation variants, transposed convs 4x4/3x3/1x1 s2, pads, activations', async () => {
  await check('zoo fixed 13x11', layerZoo([13, 11]), [[13, 11]]);
  await check('zoo free size', layerZoo([null, null]), [
    [13, 11],
    [8, 12],
  ]);
  for (const opset of [13, 21]) await check(`zoo opset ${opset}`, layerZoo([10, 10]), [[10, 10]], opset);
});

test('exported model has the tfjs interface: NHWC input/output, symbolic sizes when fully convolutional', async () => {
  const unet = buildUnetGenerator({ size: 16, ngf: 4 });
  const resnet = buildResnetGenerator({ ngf: 4, nBlocks: 1 });
  try {
    const dims = (bytes: Uint8Array, which: 'input' | 'output') => {
      const m = decode(bytes);
      assert.equal(m.opset_import[0]!.version, 17);
      const info = m.graph[which][0]!;
      assert.equal(info.name, which);
      return info.type.tensor_type.shape.dim.map((d) => d.dim_value ?? d.dim_param);
    };
    const u = await generatorToOnnx(unet);
    assert.deepEqual(dims(u, 'input'), [1, 16, 16, 3]);
    assert.deepEqual(dims(u, 'output'), [1, 16, 16, 3]);
    const r = await generatorToOnnx(resnet);
    assert.deepEqual(dims(r, 'input'), [1, 'height', 'width', 3]);
    const su = await OnnxGenerator.load(u);
    const sr = await OnnxGenerator.load(r);
    assert.equal(su.fixedSize, 16);
    assert.equal(sr.fixedSize, null);
    await assert.rejects(su.run(new Float32Array(8 * 8 * 3), 8, 8), /takes 16x16 images, got 8x8/);
    await assert.rejects(sr.run(new Float32Array(10), 8, 8), /expected 8x8x3 = 192 values, got 10/);
    await su.dispose();
    await sr.dispose();
    await assert.rejects(su.run(new Float32Array(16 * 16 * 3), 16, 16), /disposed/);
  } finally {
    unet.dispose();
    resnet.dispose();
  }
});

test('unsupported layers and options are refused with the layer class and name', async () => {
  const input = tf.input({ shape: [8, 8, 3] });
  const up = tf.layers.upSampling2d({ size: [2, 2], name: 'my_upsample' }).apply(input) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: up });
  await assert.rejects(generatorToOnnx(model), /UpSampling2D.*'my_upsample'/);
  const elu = tf.input({ shape: [8, 8, 3] });
  const eluOut = tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'elu', name: 'elu_conv' }).apply(elu) as tf.SymbolicTensor;
  await assert.rejects(generatorToOnnx(tf.model({ inputs: elu, outputs: eluOut })), /activation 'elu' of layer Conv2D 'elu_conv'/);
  const ok = buildUnetGenerator({ size: 8, ngf: 2 });
  await assert.rejects(generatorToOnnx(ok, { opset: 9 }), /opset must be an integer from 13/);
  await assert.rejects(generatorToOnnx(ok, { opset: 23 }), /opset must be an integer from 13 to 22, got 23/);
  ok.dispose();
});

test('the official onnx.proto encodes the model', async () => {
  // The vendored schema is upstream's whole file, not a subset.
  const proto = await readFile(ONNX_PROTO_URL, 'utf8');
  assert.match(proto, /SPDX-License-Identifier: Apache-2\.0/);
  assert.match(proto, /IR_VERSION = 0x0000000000000008;/);
  const { root } = await loadOnnxSchema();
  for (const type of ['onnx.TrainingInfoProto', 'onnx.FunctionProto', 'onnx.SparseTensorProto']) assert.ok(root.lookupType(type), type);
  assert.equal(await loadOnnxSchema(), await loadOnnxSchema(), 'parsed once');

  const model = buildUnetGenerator({ size: 8, ngf: 2, seed: 9 });
  try {
    const bytes = await generatorToOnnx(model, { opset: 21 });
    assert.ok(
      Buffer.from(bytes).equals(Buffer.from(await generatorToOnnx(model, { opset: 21 }))),
      'the same model encodes to the same bytes',
    );
    const m = decode(bytes);
    assert.equal(ModelProto.verify(m as unknown as Record<string, unknown>), null);
    assert.equal(m.ir_version, 10);
    assert.deepEqual(m.opset_import, [{ domain: '', version: 21 }]);
    assert.deepEqual(
      m.metadata_props.map((p) => p.key),
      ['source', 'model_name', 'layout'],
    );
    assert.equal(m.graph.node[0]!.op_type, 'Transpose');
    assert.equal(m.graph.node.at(-1)!.output[0], 'output');
    for (const t of m.graph.initializer) {
      const count = (t.dims ?? []).reduce((a, b) => a * b, 1);
      assert.equal(t.raw_data.length, count * (t.data_type === 1 ? 4 : 8), t.name);
    }
  } finally {
    model.dispose();
  }
});

test('corrupt or missing .onnx files are refused naming the file', async () => {
  const model = buildUnetGenerator({ size: 8, ngf: 2 });
  const bytes = await generatorToOnnx(model);
  model.dispose();
  const truncated = join(root, 'truncated.onnx');
  await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(OnnxGenerator.load(truncated), (err: Error) => err.message.includes(truncated) && /corrupt/.test(err.message));
  const garbage = join(root, 'garbage.onnx');
  await writeFile(garbage, 'this is not a protobuf\n'.repeat(10));
  await assert.rejects(OnnxGenerator.load(garbage), (err: Error) => err.message.includes(garbage));
  const missing = join(root, 'missing.onnx');
  await assert.rejects(OnnxGenerator.load(missing), (err: Error) => err.message.includes(missing) && /ENOENT/.test(err.message));
  await assert.rejects(OnnxGenerator.load(new Uint8Array([1, 2, 3, 4])), /cannot load ONNX model <4 bytes>/);
  // The intact file loads from disk.
  const good = join(root, 'good.onnx');
  await writeFile(good, bytes);
  const g = await OnnxGenerator.load(good);
  assert.equal(g.fixedSize, 8);
  await g.dispose();
});
