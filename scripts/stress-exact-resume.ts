// Exact resume under stress: the exact-resume test's two wasm cases (the tutorial U-Net, the
// paper ResNet-6 with its per-term backward pass), each trained straight and stopped-and-resumed
// at the same cuts, ROUNDS times in one process, every final state compared bit for bit with the
// first straight run's. Run it beside a CPU hog and with several thread counts, e.g.
//
//   for t in 1 2 3; do CYCLEGAN_WASM_THREADS=$t node --import tsx scripts/stress-exact-resume.ts 20; done
//
// Prints one line per round and exits 1 at the first state that differs, naming it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticDataset } from '../src/data/synthetic.ts';
import { describeBackend, useBackend } from '../src/engine/backend.ts';
import { train } from '../src/train/loop.ts';
import { CUTS, RESNET, RESNET_MAX_STEPS, RESUME_DATA, UNET } from '../test/faults/resume-cases.ts';
import { runState } from '../test/faults/run-state.ts';

const rounds = Number(process.argv[2] ?? 20);
const CASES = {
  unet: { config: UNET, maxSteps: undefined },
  resnet: { config: RESNET, maxSteps: RESNET_MAX_STEPS },
};

await useBackend('wasm');
console.log(`backend: ${describeBackend()}`);
const work = await mkdtemp(join(tmpdir(), 'cyclegan-stress-'));
try {
  const data = await writeSyntheticDataset(join(work, 'data'), RESUME_DATA);
  const reference = new Map<string, Map<string, Buffer | string>>();
  for (let round = 1; round <= rounds; round++) {
    const line: string[] = [];
    for (const [name, c] of Object.entries(CASES)) {
      for (const mode of ['straight', 'cut'] as const) {
        const out = join(work, `${name}-${mode}-${round}`);
        if (mode === 'straight') await train({ data, out, config: c.config, maxSteps: c.maxSteps });
        else {
          await train({ data, out, config: c.config, maxSteps: CUTS[0] });
          for (let i = 1; i <= CUTS.length; i++) await train({ out, resume: true, maxSteps: CUTS[i] ?? c.maxSteps });
        }
        const state = await runState(out);
        await rm(out, { recursive: true, force: true });
        const want = reference.get(name);
        if (!want) {
          reference.set(name, state);
          continue;
        }
        for (const [key, value] of want) {
          const got = state.get(key);
          if (typeof value === 'string' ? value !== got : !value.equals(got as Buffer)) {
            console.log(`round ${round}: ${name} ${mode} differs first in ${key}`);
            process.exitCode = 1;
            throw new Error('stop');
          }
        }
      }
      line.push(`${name} ok`);
    }
    console.log(`round ${round}: ${line.join(', ')}`);
  }
} catch (error) {
  if ((error as Error).message !== 'stop') throw error;
} finally {
  await rm(work, { recursive: true, force: true });
}
