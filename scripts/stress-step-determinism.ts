// Is one training step deterministic on wasm? ROUNDS fresh CycleGANs (the exact-resume test's
// tutorial U-Net, or PRESET=paper for its ResNet-6 with the per-term pass), each trained
// STEPS steps (default 4) on the same two 32-px images, with no data pipeline, checkpoint or
// resume; every network's weights are hashed after each step and compared with the first round.
// This is what reproduced the exact-resume flake: with 3 threads on 2 cores and CPU hogs beside
// it, a round differed at step 2, e.g.
//
//   yes > /dev/null & yes > /dev/null &
//   CYCLEGAN_WASM_THREADS=3 node --import tsx scripts/stress-step-determinism.ts 80
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/engine/backend.ts';
import { resolveConfig } from '../src/train/config.ts';
import { CycleGan } from '../src/train/cyclegan.ts';
import { Rng } from '../src/util/rng.ts';
import { RESNET, UNET } from '../test/faults/resume-cases.ts';

const rounds = Number(process.argv[2] ?? 50);
const steps = Number(process.env.STEPS ?? 4);
const paper = process.env.PRESET === 'paper';
await useBackend('wasm');
// The exact-resume test's networks, without its epochs: this trains a fixed number of steps.
const { epochs: _e, saveEvery: _s, ...unet } = UNET;
const { epochs: _re, epochsDecay: _rd, saveEvery: _rs, ...resnet } = RESNET;
const config = resolveConfig(paper ? resnet : unet);
const inputs = new Rng(9);
const [realA, realB] = [inputs.seed(), inputs.seed()].map(
  (seed) => tf.randomUniform([1, 32, 32, 3], -1, 1, 'float32', seed) as tf.Tensor4D,
);
let reference = '';
let differing = 0;
for (let round = 0; round < rounds; round++) {
  const gan = new CycleGan(config, new Rng(1));
  const hashes: string[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      await gan.trainStep(realA!, realB!);
      const hash = createHash('sha1');
      for (const model of Object.values(gan.networks())) {
        for (const w of model.getWeights()) hash.update(Buffer.from((w.dataSync() as Float32Array).buffer));
      }
      hashes.push(hash.digest('hex').slice(0, 8));
    }
  } finally {
    gan.dispose();
  }
  const line = hashes.join(' ');
  reference ||= line;
  if (line !== reference) differing++;
  if (line !== reference || round % 10 === 0) console.log(`round ${round}: ${line}${line !== reference ? '  DIFFERS' : ''}`);
}
console.log(`reference ${reference}; ${differing} of ${rounds} rounds differ`);
process.exitCode = differing > 0 ? 1 : 0;
