// A process that takes a run folder's lock (as a trainer does), says so on stdout, holds it for
// HOLD_MS (forever when absent) and exits: run-lock.test.ts's other process.
import { acquireRunLock } from '../../src/train/run-lock.ts';

const [dir, hold] = process.argv.slice(2) as [string, string | undefined];
try {
  const lock = acquireRunLock(dir);
  console.log(`locked ${process.pid}`);
  setTimeout(() => lock.release(), hold === undefined ? 2 ** 31 - 1 : Number(hold));
} catch (error) {
  console.log(`refused ${(error as Error).message}`);
}
