/**
 * Golden forward tests of `import`: an official ResNet or U-Net generator's state_dict (safetensors
 * or .pth, tiny width, weights large enough that every layer shows) becomes a model folder whose
 * translation of a fixed input (32×40, the U-Net's 32×32) is PyTorch's output within 1e-5, on cpu
 * and wasm and through ONNX Runtime, and through the CLI; the architecture is read off the keys.
 * What is not an official generator, or has batch norm, is refused by name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { importOfficial } from '../../src/export/official-import.ts';
import { generatorToOnnx } from '../../src/export/onnx.ts';
import { loadTranslator, type Engine } from '../../src/infer/translator.ts';
import { parseSafetensors, serializeSafetensors, type NamedArray } from '../../src/models/safetensors.ts';

const UNET_PTH = new URL('../fixtures/torch/unet_32-ngf2_net_G_A.pth', import.meta.url).pathname;
const FIXTURES = [
  { net: 'resnet_6blocks', ngf: 4, generator: 'resnet6', size: 256, inferred: 'resnet_6blocks' },
  { net: 'resnet_9blocks', ngf: 3, generator: 'resnet9', size: 256, inferred: 'resnet_9blocks' },
  { net: 'unet_32', ngf: 2, generator: 'unet_32', size: 32, inferred: 'unet_32 \\(num_downs 5, 32×32 input\\)' },
] as const;

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cyclegan-import-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

function load(net: string, ngf: number): { stateDict: Map<string, NamedArray>; input: NamedArray; output: NamedArray } {
  const url = new URL(`../fixtures/official/${net}-ngf${ngf}.safetensors`, import.meta.url);
  const { tensors } = parseSafetensors(readFileSync(url), url.pathname);
  const stateDict = new Map([...tensors].filter(([key]) => key !== 'input' && key !== 'output'));
  return { stateDict, input: tensors.get('input')!, output: tensors.get('output')! };
}

/** NCHW [1, 3, h, w] → HWC. */
function toHwc({ values, shape }: NamedArray): Float32Array {
  const [, c, h, w] = shape as [number, number, number, number];
  const out = new Float32Array(values.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(y * w + x) * c + k] = values[(k * h + y) * w + x]!;
  return out;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`import of official generators on ${backend}`, () => {
    before(async () => {
      await useBackend(backend);
    });

    for (const { net, ngf, generator, size, inferred } of FIXTURES) {
      it(`${net} ngf ${ngf}: the architecture read off the keys, PyTorch's output within 1e-5 (tfjs and ONNX)`, async (t) => {
        const { stateDict, input, output } = load(net, ngf);
        const file = join(work, `${backend}-${net}_net_G_A.safetensors`);
        await writeFile(file, serializeSafetensors(stateDict));
        const out = join(work, `${backend}-${net}`);
        const lines: string[] = [];
        const imported = await importOfficial({ files: [file], out, onInferred: (l) => lines.push(l) });
        assert.deepEqual(
          imported.map(({ net: n, ngf: w, direction }) => [n, w, direction]),
          [[net, ngf, 'AtoB']],
        );
        assert.match(lines[0]!, new RegExp(`${inferred}, ngf ${ngf}, instance norm without affine → A→B`));
        const manifest = JSON.parse(await readFile(join(out, 'cyclegan.json'), 'utf8'));
        assert.deepEqual([manifest.generator, manifest.size], [generator, size]);
        const [, , h, w] = input.shape as number[];
        const expected = toHwc(output);
        for (const engine of ['tfjs', 'onnx'] as Engine[]) {
          const translator = await loadTranslator(out, { engine, toOnnx: generatorToOnnx });
          try {
            const result = await translator.translatePixels({ data: toHwc(input), height: h!, width: w! });
            assert.deepEqual([result.height, result.width], [h, w]);
            const diff = maxDiff(result.data, expected);
            t.diagnostic(`${engine}: largest difference from PyTorch ${diff.toExponential(2)}`);
            assert.ok(diff <= 1e-5, `${engine}: largest difference from PyTorch ${diff}`);
          } finally {
            translator.dispose();
          }
        }
      });
    }
  });
}

describe('import', () => {
  it('makes one two-direction folder of G_A and G_B (saved under DataParallel: keys under module.)', async () => {
    await useBackend('wasm');
    const stateDict = new Map([...load('resnet_6blocks', 4).stateDict].map(([k, v]) => [`module.${k}`, v]));
    const files = ['latest_net_G_B.safetensors', 'latest_net_G_A.safetensors'].map((f) => join(work, f));
    for (const f of files) await writeFile(f, serializeSafetensors(stateDict));
    const out = join(work, 'both');
    const imported = await importOfficial({ files, out });
    assert.deepEqual(
      imported.map((g) => g.direction),
      ['BtoA', 'AtoB'],
    );
    const manifest = JSON.parse(await readFile(join(out, 'cyclegan.json'), 'utf8'));
    assert.deepEqual(manifest.directions, { BtoA: 'BtoA/model.json', AtoB: 'AtoB/model.json' });
  });

  it('reads a torch.save .pth as well: the same translation as PyTorch', async () => {
    await useBackend('wasm');
    const pth = new URL('../fixtures/torch/resnet_6blocks-ngf4_net_G_A.pth', import.meta.url).pathname;
    const out = join(work, 'from-pth');
    const imported = await importOfficial({ files: [pth], out });
    assert.deepEqual(
      imported.map((g) => [g.net, g.ngf, g.direction]),
      [['resnet_6blocks', 4, 'AtoB']],
    );
    const { input, output } = load('resnet_6blocks', 4);
    const translator = await loadTranslator(out);
    try {
      const [, , h, w] = input.shape as number[];
      const result = await translator.translatePixels({ data: toHwc(input), height: h!, width: w! });
      assert.ok(maxDiff(result.data, toHwc(output)) <= 1e-5);
    } finally {
      translator.dispose();
    }
  });

  it('refuses what is not an official generator, in one line naming the file', async () => {
    const legacy = new URL('../fixtures/torch/legacy.pth', import.meta.url).pathname;
    await assert.rejects(importOfficial({ files: [legacy], out: join(work, 'x') }), /legacy\.pth: not a torch\.save zip file/);
    const evil = new URL('../fixtures/torch/evil-reduce.pth', import.meta.url).pathname;
    await assert.rejects(
      importOfficial({ files: [evil], out: join(work, 'x') }),
      /evil-reduce\.pth: the pickle asks for the global (posix|os)\.system/,
    );
    const unet = join(work, 'unet.safetensors');
    await writeFile(unet, serializeSafetensors(new Map([['model.model.0.weight', { shape: [1], values: new Float32Array(1) }]])));
    await assert.rejects(
      importOfficial({ files: [unet], out: join(work, 'x') }),
      /unet\.safetensors: not an official U-Net generator's state_dict \(no 4×4 outermost conv model\.model\.0\.weight; keys start model\.model\.0\.weight\)/,
    );
    const other = join(work, 'other.safetensors');
    await writeFile(other, serializeSafetensors(new Map([['fc.weight', { shape: [2], values: new Float32Array(2) }]])));
    await assert.rejects(
      importOfficial({ files: [other], out: join(work, 'x') }),
      /other\.safetensors: not an official generator's state_dict \(neither a ResNet's 7×7 stem conv model\.1\.weight nor a U-Net's model\.model\.0\.weight; keys start fc\.weight\)/,
    );
    const garbage = join(work, 'garbage.safetensors');
    await writeFile(garbage, Buffer.from([1, 2, 3]));
    await assert.rejects(importOfficial({ files: [garbage], out: join(work, 'x') }), /garbage\.safetensors: not a valid safetensors file/);
    const { stateDict } = load('resnet_6blocks', 4);
    stateDict.set('model.4.weight', { ...stateDict.get('model.4.weight')!, shape: [8, 4, 3, 3, 1] });
    const bad = join(work, 'bad_G_A.safetensors');
    await writeFile(bad, serializeSafetensors(stateDict));
    await assert.rejects(
      importOfficial({ files: [bad], out: join(work, 'x') }),
      /bad_G_A\.safetensors: model\.4\.weight has shape \[8,4,3,3,1\]/,
    );
  });

  it('reads a torch.save U-Net .pth: the same translation as PyTorch', async () => {
    await useBackend('wasm');
    const out = join(work, 'unet-from-pth');
    const imported = await importOfficial({ files: [UNET_PTH], out });
    assert.deepEqual(
      imported.map((g) => [g.net, g.ngf, g.direction]),
      [['unet_32', 2, 'AtoB']],
    );
    const { input, output } = load('unet_32', 2);
    const translator = await loadTranslator(out);
    try {
      const result = await translator.translatePixels({ data: toHwc(input), height: 32, width: 32 });
      assert.ok(maxDiff(result.data, toHwc(output)) <= 1e-5);
    } finally {
      translator.dispose();
    }
  });

  it('refuses batch norm (the official --norm batch) and the bias-less --norm none, naming the file', async () => {
    const batch = new URL('../fixtures/torch/unet_32-batchnorm_net_G_A.pth', import.meta.url).pathname;
    await assert.rejects(
      importOfficial({ files: [batch], out: join(work, 'x') }),
      /unet_32-batchnorm_net_G_A\.pth: a generator with batch norm \(model\.model\.1\.model\.2\.weight is a norm layer's scale: the official --norm batch\); batch norm is not supported, only --norm instance/,
    );
    // A ResNet with batch norm: its convs lose their biases, each norm gains a scale and an offset.
    const resnet = new Map([...load('resnet_6blocks', 4).stateDict].filter(([k]) => !k.endsWith('.bias') || k === 'model.26.bias'));
    resnet.set('model.2.weight', { shape: [4], values: new Float32Array(4).fill(1), dtype: 'F32' });
    resnet.set('model.2.bias', { shape: [4], values: new Float32Array(4), dtype: 'F32' });
    resnet.set('model.2.running_var', { shape: [4], values: new Float32Array(4).fill(1), dtype: 'F32' });
    const resnetFile = join(work, 'resnet-batch_G_A.safetensors');
    await writeFile(resnetFile, serializeSafetensors(resnet));
    await assert.rejects(
      importOfficial({ files: [resnetFile], out: join(work, 'x') }),
      /resnet-batch_G_A\.safetensors: a generator with batch norm \(model\.2\.weight is a norm layer's scale/,
    );
    const none = new Map([...load('unet_32', 2).stateDict].filter(([k]) => !k.endsWith('.bias') || k === 'model.model.3.bias'));
    const noneFile = join(work, 'unet-none_G_A.safetensors');
    await writeFile(noneFile, serializeSafetensors(none));
    await assert.rejects(
      importOfficial({ files: [noneFile], out: join(work, 'x') }),
      /unet-none_G_A\.safetensors: model\.model\.0 has no bias, as with the official --norm none or batch; only --norm instance/,
    );
  });
});

describe('cyclegan import (CLI)', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, ['bin/cyclegan.js', '--backend', 'wasm', 'import', ...args], { encoding: 'utf8' });

  it('imports a U-Net .pth into a folder that translates as PyTorch; --net that does not fit and batch norm are refused', async () => {
    const out = join(work, 'cli-unet');
    const ok = cli([UNET_PTH, '--out', out]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /unet_32-ngf2_net_G_A\.pth: unet_32 \(num_downs 5, 32×32 input\), ngf 2, instance norm without affine → A→B/);
    assert.match(ok.stdout, /imported AtoB to /);
    const { input, output } = load('unet_32', 2);
    await useBackend('wasm');
    const translator = await loadTranslator(out);
    try {
      const result = await translator.translatePixels({ data: toHwc(input), height: 32, width: 32 });
      assert.ok(maxDiff(result.data, toHwc(output)) <= 1e-5);
    } finally {
      translator.dispose();
    }
    const wrongNet = cli([UNET_PTH, '--net', 'unet_128', '--out', join(work, 'cli-x')]);
    assert.notEqual(wrongNet.status, 0);
    assert.match(
      wrongNet.stderr,
      /unet_32-ngf2_net_G_A\.pth: keys this network does not have \(model\.model\.1\.model\.3\.model\.3\.model\.3\.model\.3\.weight/,
    );
    const batch = cli([new URL('../fixtures/torch/unet_32-batchnorm_net_G_A.pth', import.meta.url).pathname, '--out', join(work, 'cli-x')]);
    assert.notEqual(batch.status, 0);
    assert.match(batch.stderr, /unet_32-batchnorm_net_G_A\.pth: a generator with batch norm/);
  });
});
