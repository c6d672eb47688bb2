// Writes the snapshot of a run (src/train/snapshot.ts) into a new folder; the run script tars it.
//
//   node --import tsx scripts/run-snapshot.ts RUN_FOLDER NEW_FOLDER
import { useBackend } from '../src/engine/backend.ts';
import { writeRunSnapshot } from '../src/train/snapshot.ts';

const [run, out] = process.argv.slice(2);
if (!run || !out) {
  console.error('usage: node --import tsx scripts/run-snapshot.ts RUN_FOLDER NEW_FOLDER');
  process.exit(2);
}
await useBackend('cpu');
const info = await writeRunSnapshot(run, out);
console.log(`snapshot of ${run}: ${info.checkpoint} (step ${info.globalStep}, epoch ${info.epoch}) in ${out}`);
