import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, it } from 'node:test';
import { openDataset } from '../../src/data/dataset.ts';
import { readImage } from '../../src/data/image-io.ts';
import { stripeEnergy, writeSyntheticDataset } from '../../src/data/synthetic.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { imageToPixels } from '../../src/data/pixels.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { train } from '../../src/train/loop.ts';

let work: string;
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it('a tiny run learns: the cycle loss falls and smooth images translate toward stripes', async () => {
  await useBackend('wasm');
  work = await mkdtemp(join(tmpdir(), 'cyclegan-learns-'));
  const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 16, trainB: 16, testA: 6, testB: 6, seed: 5 });
  const out = join(work, 'run');
  const steps: number[] = [];
  await train({
    data,
    out,
    config: {
      preset: 'paper',
      generator: 'resnet6',
      ngf: 8,
      ndf: 8,
      cropSize: 32,
      loadSize: 36,
      epochs: 16,
      epochsDecay: 0,
      saveEvery: 16,
      seed: 1,
    },
    onProgress: (p) => steps.push(p.losses.cycle ?? NaN),
  });
  assert.equal(steps.length, 256);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const early = mean(steps.slice(0, 16));
  const late = mean(steps.slice(-32));
  console.log(`cycle loss: first 16 steps ${early.toFixed(3)}, last 32 steps ${late.toFixed(3)}`);
  assert.ok(late < 0.9 * early, `cycle loss did not fall enough: ${early} → ${late}`);
  const log = (await readFile(join(out, 'log.jsonl'), 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(log.length, 16);

  // Stripe energy: smooth A images are low, striped B images high; A→B must move well toward B.
  const dataset = await openDataset(data);
  const energy = async (
    files: string[],
    translate?: (p: ReturnType<typeof imageToPixels>) => Promise<ReturnType<typeof imageToPixels>>,
  ) => {
    let sum = 0;
    for (const f of files) {
      let p = imageToPixels(await readImage(f));
      if (translate) p = await translate(p);
      sum += stripeEnergy(p.data, p.height, p.width);
    }
    return sum / files.length;
  };
  const translator = await loadTranslator(out, { direction: 'AtoB' });
  const a = await energy(dataset.testA!);
  const b = await energy(dataset.testB!);
  const ab = await energy(dataset.testA!, (p) => translator.translatePixels(p));
  translator.dispose();
  console.log(`stripe energy: A ${a.toFixed(3)}, B ${b.toFixed(3)}, A→B ${ab.toFixed(3)}`);
  assert.ok(b > 3 * a, 'the synthetic domains differ as designed');
  assert.ok(ab > a + 0.3 * (b - a), `translations did not move toward B: A ${a}, A→B ${ab}, B ${b}`);
});
