/** Winograd's transforms and products are split over the compiled kernels' threads: results must not depend on the thread count. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const child = fileURLToPath(new URL('./winograd-threads.child.ts', import.meta.url));

function runWith(threads: string): { backend: string; nativeThreads: number; hash: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
    encoding: 'utf8',
    env: { ...process.env, CYCLEGAN_WASM_THREADS: threads },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child with ${threads} thread(s) failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; nativeThreads: number; hash: string };
}

test('the compiled kernels (Winograd, filter-grad.c, conv-narrow.c, adam.c, elementwise.c) are bit for bit the same with 1, 2 and 3 threads', () => {
  const one = runWith('1');
  const two = runWith('2');
  const three = runWith('3');
  assert.equal(two.backend, 'wasm (2 threads)');
  assert.deepEqual(
    [one.nativeThreads, two.nativeThreads, three.nativeThreads],
    [1, 2, 3],
    'the compiled kernels did not run on that many threads',
  );
  assert.equal(two.hash, one.hash, 'two threads gave other values than one');
  assert.equal(three.hash, one.hash, 'three threads gave other values than one');
});
