/**
 * Golden forward tests of `import`: an official ResNet generator's state_dict (safetensors or .pth, tiny
 * width, weights large enough that every layer shows) becomes a model folder whose translation of
 * a fixed 32×40 input is PyTorch's output within 1e-5, on cpu and wasm and through ONNX Runtime;
 * the architecture is read off the keys. What is not an official generator is refused by name.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { importOfficial } from '../../src/export/official-import.ts';
import { generatorToOnnx } from '../../src/export/onnx.ts';
import { loadTranslator, type Engine } from '../../src/infer/translator.ts';
import { parseSafetensors, serializeSafetensors, type NamedArray } from '../../src/models/safetensors.ts';

const FIXTURES = [
  { net: 'resnet_6blocks', ngf: 4 },
  { net: 'resnet_9blocks', ngf: 3 },
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

    for (const { net, ngf } of FIXTURES) {
      it(`${net} ngf ${ngf}: the architecture read off the keys, PyTorch's output within 1e-5 (tfjs and ONNX)`, async () => {
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
        assert.match(lines[0]!, new RegExp(`${net}, ngf ${ngf}, instance norm without affine → A→B`));
        const manifest = JSON.parse(await readFile(join(out, 'cyclegan.json'), 'utf8'));
        assert.equal(manifest.generator, net === 'resnet_9blocks' ? 'resnet9' : 'resnet6');
        const [, , h, w] = input.shape as number[];
        const expected = toHwc(output);
        for (const engine of ['tfjs', 'onnx'] as Engine[]) {
          const translator = await loadTranslator(out, { engine, toOnnx: generatorToOnnx });
          try {
            const result = await translator.translatePixels({ data: toHwc(input), height: h!, width: w! });
            assert.deepEqual([result.height, result.width], [h, w]);
            const diff = maxDiff(result.data, expected);
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

  it('refuses what is not an official ResNet generator, in one line naming the file', async () => {
    const legacy = new URL('../fixtures/torch/legacy.pth', import.meta.url).pathname;
    await assert.rejects(importOfficial({ files: [legacy], out: join(work, 'x') }), /legacy\.pth: not a torch\.save zip file/);
    const evil = new URL('../fixtures/torch/evil-reduce.pth', import.meta.url).pathname;
    await assert.rejects(
      importOfficial({ files: [evil], out: join(work, 'x') }),
      /evil-reduce\.pth: the pickle asks for the global (posix|os)\.system/,
    );
    const unet = join(work, 'unet.safetensors');
    await writeFile(unet, serializeSafetensors(new Map([['model.model.0.weight', { shape: [1], values: new Float32Array(1) }]])));
    await assert.rejects(importOfficial({ files: [unet], out: join(work, 'x') }), /unet\.safetensors: an official U-Net generator/);
    const other = join(work, 'other.safetensors');
    await writeFile(other, serializeSafetensors(new Map([['fc.weight', { shape: [2], values: new Float32Array(2) }]])));
    await assert.rejects(
      importOfficial({ files: [other], out: join(work, 'x') }),
      /other\.safetensors: not an official ResNet generator's state_dict \(no 7×7 stem conv model\.1\.weight; keys start fc\.weight\)/,
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
});
