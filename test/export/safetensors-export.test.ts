/**
 * `export --format safetensors`: an official generator, ResNet or U-Net (imported here from the
 * golden fixtures), comes back out as exactly the state_dict it went in as, under the official file
 * names; a tutorial-style generator, which PyTorch's cannot hold, is refused by name, and so is a
 * file at one of the names that this exporter did not write.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { importOfficial } from '../../src/export/official-import.ts';
import { exportSafetensors, officialArchitecture } from '../../src/export/safetensors-export.ts';
import { buildUnetGenerator } from '../../src/models/generators.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/models/safetensors.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const FIXTURE = new URL('../fixtures/official/resnet_6blocks-ngf4.safetensors', import.meta.url);

let work: string;
before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-safetensors-'));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('export --format safetensors', () => {
  it('writes the official state_dicts an imported model came from, bit for bit', async () => {
    const { tensors } = parseSafetensors(readFileSync(FIXTURE), FIXTURE.pathname);
    const stateDict = new Map([...tensors].filter(([key]) => key !== 'input' && key !== 'output'));
    const file = join(work, 'latest_net_G_A.safetensors');
    await writeFile(file, serializeSafetensors(stateDict));
    const model = join(work, 'imported');
    await importOfficial({ files: [file], out: model });
    const out = join(work, 'torch');
    const written = await exportSafetensors(model, out);
    assert.deepEqual(written, [{ direction: 'AtoB', file: join(out, 'latest_net_G_A.safetensors') }]);
    const back = parseSafetensors(await readFile(written[0]!.file), written[0]!.file);
    assert.deepEqual([...back.tensors.keys()].sort(), [...stateDict.keys()].sort());
    for (const [key, { values, shape }] of stateDict) {
      assert.deepEqual(back.tensors.get(key)!.shape, shape, key);
      assert.deepEqual(back.tensors.get(key)!.values, values, key);
    }
    assert.equal(back.metadata.net, 'resnet_6blocks');
    assert.equal(back.metadata.ngf, '4');
    await exportSafetensors(model, out); // its own file is replaced
  });

  it('writes an imported official U-Net back as its state_dict, bit for bit, with its net in the metadata', async () => {
    const url = new URL('../fixtures/official/unet_32-ngf2.safetensors', import.meta.url);
    const { tensors } = parseSafetensors(readFileSync(url), url.pathname);
    const stateDict = new Map([...tensors].filter(([key]) => key !== 'input' && key !== 'output'));
    const file = join(work, 'unet_net_G_B.safetensors');
    await writeFile(file, serializeSafetensors(stateDict));
    const model = join(work, 'unet-imported');
    await importOfficial({ files: [file], out: model });
    const out = join(work, 'unet-torch');
    const written = await exportSafetensors(model, out);
    assert.deepEqual(written, [{ direction: 'BtoA', file: join(out, 'latest_net_G_B.safetensors') }]);
    const back = parseSafetensors(await readFile(written[0]!.file), written[0]!.file);
    assert.deepEqual([...back.tensors.keys()].sort(), [...stateDict.keys()].sort());
    for (const [key, { values, shape }] of stateDict) {
      assert.deepEqual(back.tensors.get(key)!.shape, shape, key);
      assert.deepEqual(back.tensors.get(key)!.values, values, key);
    }
    assert.deepEqual([back.metadata.net, back.metadata.ngf, back.metadata.norm], ['unet_32', '2', 'instance']);
    // And back in: the export is a checkpoint import reads.
    const again = await importOfficial({ files: [written[0]!.file], out: join(work, 'unet-again') });
    assert.deepEqual(
      again.map((g) => [g.net, g.ngf, g.direction]),
      [['unet_32', 2, 'BtoA']],
    );
  });

  it("refuses the tutorial's U-Net (no PyTorch padding, affine norm) by name", () => {
    const unet = buildUnetGenerator({ size: 32, ngf: 2 });
    try {
      assert.throws(() => officialArchitecture(unet, 'G/model.json'), /G\/model\.json: built with the tutorial's layers/);
    } finally {
      unet.dispose();
    }
  });

  it('refuses a tutorial-style generator and a foreign file, in one line each', async () => {
    const { run } = await trainTinyRun(join(work, 'tiny'));
    await assert.rejects(exportSafetensors(run, join(work, 'x')), /built with the tutorial's layers .* train with --networks official/);
    const foreign = join(work, 'foreign');
    await mkdir(foreign);
    await writeFile(join(foreign, 'latest_net_G_A.safetensors'), 'my own weights');
    await assert.rejects(
      exportSafetensors(join(work, 'imported'), foreign),
      /latest_net_G_A\.safetensors: exists and was not written by an export/,
    );
    assert.equal(await readFile(join(foreign, 'latest_net_G_A.safetensors'), 'utf8'), 'my own weights');
  });
});
