/** A thread count the running wasm engine cannot honour is an error, not silently ignored. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';

const child = fileURLToPath(new URL('./threads.child.ts', import.meta.url));
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', child, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CYCLEGAN_WASM_THREADS: '' },
  });

describe('wasm threads', () => {
  it('asking for another count once wasm runs is an error naming both counts', () => {
    const r = run('2', '1');
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], 'wasm (2 threads)');
    assert.equal(
      lines[1],
      'error: cannot use 1 wasm thread: the wasm engine already runs with 2 in this process (the count is fixed when it first starts)',
    );
    assert.equal(lines[2], 'default ok', 'no count asked for: whatever runs is fine');
  });

  it('the same count again is fine', () => {
    const r = run('2', '2');
    assert.match(r.stdout, /^wasm \(2 threads\)\nno error\n/);
  });

  it('an out-of-range count is refused whatever the backend', async () => {
    await assert.rejects(useBackend('cpu', { threads: 0 }), /threads must be an integer from 1 to 8, got 0/);
    await assert.rejects(useBackend('cpu', { threads: 9 }), /got 9/);
  });
});
