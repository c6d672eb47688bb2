/**
 * `--networks official` and `--init-from` an official PyTorch checkpoint: a run built with the
 * official layers starts from exactly the weights of `<epoch>_net_{G_A,G_B,D_A,D_B}.safetensors`
 * (the parity fixture's initial weights here), trains, checkpoints and resumes; what does not fit
 * is refused with one line naming the file and the problem.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { officialPatchGanKeys, officialResnetKeys, officialStateDict } from '../../src/models/official.ts';
import { parseSafetensors, serializeSafetensors } from '../../src/models/safetensors.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { train } from '../../src/train/loop.ts';
import { warmStart } from '../../src/train/warm-start.ts';
import { Rng } from '../../src/util/rng.ts';

const FIXTURE = new URL('../fixtures/parity/resnet6-ngf4.safetensors', import.meta.url);
const fixture = parseSafetensors(readFileSync(FIXTURE), FIXTURE.pathname);
const TINY = {
  preset: 'paper',
  generator: 'resnet6',
  networks: 'official',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 32,
  poolSize: 2,
} as const;
const OURS = { G_A: 'genAtoB', G_B: 'genBtoA', D_A: 'discB', D_B: 'discA' } as const;

/** One official network's initial weights from the fixture, as torch.save'd state_dict keys. */
function stateDict(net: string, drop: (key: string) => boolean = () => false): Map<string, { shape: number[]; values: Float32Array }> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const [key, t] of fixture.tensors) {
    const prefix = `init.${net}.`;
    if (key.startsWith(prefix) && !drop(key.slice(prefix.length))) out.set(key.slice(prefix.length), t);
  }
  return out;
}

let work: string;
let official: string;

before(async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-official-'));
  official = join(work, 'torch');
  await mkdir(official);
  for (const net of Object.keys(OURS)) await writeFile(join(official, `init_net_${net}.safetensors`), serializeSafetensors(stateDict(net)));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('--networks official', () => {
  it('loads an official checkpoint folder, all four networks, weight for weight', async () => {
    const gan = new CycleGan(resolveConfig(TINY), new Rng(1));
    try {
      await warmStart(gan, official);
      for (const [net, ours] of Object.entries(OURS)) {
        const keys = net.startsWith('G') ? officialResnetKeys(6) : officialPatchGanKeys(3);
        for (const [key, { values }] of officialStateDict(gan.networks()[ours], keys)) {
          assert.deepEqual(values, fixture.tensors.get(`init.${net}.${key}`)!.values, `${ours} ${key}`);
        }
      }
    } finally {
      gan.dispose();
    }
  });

  it('trains from it, checkpoints and resumes', async () => {
    const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2 });
    const run = join(work, 'run');
    await train({
      data,
      out: run,
      config: { ...TINY, epochs: 2, epochsDecay: 0, initFrom: join(official, 'init_net_G_A.safetensors') },
      maxSteps: 1,
    });
    await train({ out: run, resume: true, maxSteps: 2 });
    const ckpt = await loadCheckpoint(run);
    try {
      assert.equal(ckpt.meta.position.globalStep, 2);
      assert.equal(ckpt.meta.config.networks, 'official');
      assert.ok(
        ckpt.models.genAtoB!.layers.some((l) => l.getClassName() === 'Crop2D'),
        'the official up-sampling crop is in the saved model',
      );
    } finally {
      for (const m of Object.values(ckpt.models)) m.dispose();
    }
  });

  it('refuses what does not fit, naming the file and the problem', async () => {
    const gan = new CycleGan(resolveConfig({ ...TINY, networks: 'tutorial' }), new Rng(1));
    try {
      await assert.rejects(warmStart(gan, official), /needs --networks official \(this run's networks are 'tutorial'\)/);
    } finally {
      gan.dispose();
    }
    const partial = join(work, 'partial');
    await mkdir(partial);
    await writeFile(join(partial, 'latest_net_G_A.safetensors'), serializeSafetensors(stateDict('G_A')));
    const wide = new CycleGan(resolveConfig(TINY), new Rng(1));
    try {
      await assert.rejects(warmStart(wide, partial), /no G_B generator \(.*latest_net_G_B\.pth or \.safetensors\)/);
      await writeFile(join(partial, 'latest_net_G_B.safetensors'), serializeSafetensors(stateDict('G_B', (k) => k === 'model.4.weight')));
      await assert.rejects(warmStart(wide, partial), /latest_net_G_B\.safetensors: missing model\.4\.weight/);
      const extra = stateDict('G_B');
      extra.set('model.99.weight', { shape: [1], values: new Float32Array(1) });
      await writeFile(join(partial, 'latest_net_G_B.safetensors'), serializeSafetensors(extra));
      await assert.rejects(warmStart(wide, partial), /keys this network does not have \(model\.99\.weight\)/);
    } finally {
      wide.dispose();
    }
    assert.throws(() => resolveConfig({ ...TINY, generator: 'unet' }), /does not apply to the U-Net/);
  });
});
