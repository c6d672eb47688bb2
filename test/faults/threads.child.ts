// Child for threads.test.ts: starts wasm with one thread count, then asks for another.
import { describeBackend, useBackend } from '../../src/engine/backend.ts';

const [first, second] = process.argv.slice(2).map(Number);
await useBackend('wasm', { threads: first });
console.log(describeBackend());
try {
  await useBackend('wasm', { threads: second });
  console.log('no error');
} catch (error) {
  console.log(`error: ${(error as Error).message}`);
}
await useBackend('wasm');
console.log('default ok');
