import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { importOptional, isMissingModule, MissingOptionalModule } from '../../src/util/optional-module.ts';

describe('optional dependencies', () => {
  it('a package that is not installed gives one line naming it and the command that installs it', async () => {
    const missing = 'cyclegan-test-no-such-package';
    // A computed specifier: the import is resolved when it runs, as an absent optional package's is.
    const error = await importOptional(missing, 'the ONNX engine', () => import(missing)).then(
      () => assert.fail('the import should fail'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MissingOptionalModule);
    assert.equal(
      error.message,
      'the ONNX engine needs the npm package cyclegan-test-no-such-package, which is not installed: run `npm install cyclegan-test-no-such-package`',
    );
    assert.equal(error.specifier, missing);
  });

  it('CommonJS resolution failures are recognised too, for that package only', () => {
    const require = createRequire(import.meta.url);
    let error: unknown;
    try {
      require('cyclegan-test-no-such-package');
    } catch (e) {
      error = e;
    }
    assert.equal(isMissingModule(error, 'cyclegan-test-no-such-package'), true);
    // Another package's name in the same error is not "that package is not installed".
    assert.equal(isMissingModule(error, 'onnxruntime-node'), false);
    assert.equal(isMissingModule(new Error('boom'), 'cyclegan-test-no-such-package'), false);
  });

  it('a package that loads but fails inside is reported as it failed, not as missing', async () => {
    const inside = Object.assign(new Error("Cannot find module './binding.node'"), { code: 'MODULE_NOT_FOUND' });
    await assert.rejects(
      importOptional('onnxruntime-node', 'the ONNX engine', () => Promise.reject(inside)),
      (e: unknown) => e === inside,
    );
  });

  it('an installed package loads', async () => {
    const protobuf = await importOptional('protobufjs', 'the ONNX exporter', () => import('protobufjs'));
    assert.equal(typeof protobuf.default.Root, 'function');
  });
});
