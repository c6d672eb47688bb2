/**
 * The module holding every use of tfjs internals refuses a tfjs it was not written for, and the
 * version it was written for is the one package.json pins.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { assertTfjsVersion, TFJS_VERSION_WRITTEN_FOR } from '../../src/engine/tfjs-internals.ts';

test('the installed tfjs is the version the internals were written for', () => {
  assert.doesNotThrow(() => assertTfjsVersion());
});

test('another tfjs version fails with both versions named', () => {
  assert.throws(
    () => assertTfjsVersion('4.21.0'),
    (error: Error) =>
      error.message.includes('written for @tensorflow/tfjs 4.21.0') && error.message.includes(`${TFJS_VERSION_WRITTEN_FOR} is installed`),
  );
});

test('package.json pins the tfjs packages to exactly that version', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  const all = { ...pkg.devDependencies, ...pkg.dependencies };
  for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu']) {
    assert.equal(all[name], TFJS_VERSION_WRITTEN_FOR, `${name} is not pinned to ${TFJS_VERSION_WRITTEN_FOR}`);
  }
});
