// A one-step ResNet-6 run (ngf/ndf 4) on 32-px synthetic images: the cheapest real model there is,
// for tests of what happens to a model after training (export, install, embedding).
import { join } from 'node:path';
import { writeSyntheticDataset, type SyntheticOptions } from '../../src/data/synthetic.ts';
import { train } from '../../src/train/loop.ts';

export async function trainTinyRun(work: string, images: Partial<SyntheticOptions> = {}): Promise<{ data: string; run: string }> {
  const data = await writeSyntheticDataset(join(work, 'data'), { size: 32, trainA: 2, trainB: 2, testA: 1, testB: 1, ...images });
  const run = join(work, 'run');
  await train({
    data,
    out: run,
    config: { preset: 'paper', generator: 'resnet6', ngf: 4, ndf: 4, cropSize: 32, loadSize: 32 },
    maxSteps: 1,
  });
  return { data, run };
}
