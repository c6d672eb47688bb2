import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const child = fileURLToPath(new URL('./wasm-threads.child.ts', import.meta.url));

function runWith(threads: string): { backend: string; hash: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
    encoding: 'utf8',
    env: { ...process.env, CYCLEGAN_WASM_THREADS: threads },
    timeout: 120_000,
  });
  assert.equal(r.status, 0, `child with ${threads} thread(s) failed (it must also exit on its own):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; hash: string };
}

describe('multi-threaded wasm in Node', () => {
  it('starts the threaded build with the threads asked for, and trains bit for bit as one thread does', () => {
    const one = runWith('1');
    const two = runWith('2');
    const three = runWith('3');
    assert.equal(one.backend, 'wasm (1 thread)');
    assert.equal(two.backend, 'wasm (2 threads)');
    assert.equal(three.backend, 'wasm (3 threads)');
    assert.equal(two.hash, one.hash, 'two threads gave other weights than one');
    assert.equal(three.hash, one.hash, 'three threads gave other weights than one');
  });

  it('refuses more threads than the backend pool holds', async () => {
    const { registerThreadedWasm } = await import('../../src/engine/wasm-threads.ts');
    await assert.rejects(registerThreadedWasm(9), /at most 8 threads, got 9/);
    await assert.rejects(registerThreadedWasm(0), /positive integer, got 0/);
  });

  it('refuses a bad CYCLEGAN_WASM_THREADS', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', child], {
      encoding: 'utf8',
      env: { ...process.env, CYCLEGAN_WASM_THREADS: 'many' },
      timeout: 60_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /CYCLEGAN_WASM_THREADS must be a positive integer, got 'many'/);
  });
});
