/**
 * Every output path fails with one clear line: a folder where a file is expected and the reverse,
 * a path under a file, a full or read-only disk. The tests run as root, so a full or read-only
 * disk is injected into the atomic writer's file-system calls (atomicFs) rather than staged.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { writeImage } from '../../src/data/image-io.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { translateFiles } from '../../src/infer/batch.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { loadCheckpoint, saveCheckpoint, type RunPosition } from '../../src/train/checkpoint.ts';
import { resolveConfig } from '../../src/train/config.ts';
import { CycleGan } from '../../src/train/cyclegan.ts';
import { atomicFs, writeDirAtomic, writeFileAtomic } from '../../src/util/atomic.ts';
import { Rng } from '../../src/util/rng.ts';
import { saveTinyGenerator, scratch } from './helpers.ts';

const realFs = { ...atomicFs };
afterEach(() => Object.assign(atomicFs, realFs));

/** From the (n+1)-th file opened on, writes stop halfway with `code`, as a disk filling up does. */
function failWritesAfter(n: number, code: 'ENOSPC' | 'EROFS'): void {
  let opened = 0;
  atomicFs.open = (async (...args: Parameters<typeof realFs.open>) => {
    const handle = await realFs.open(...args);
    if (++opened > n) {
      const write = handle.writeFile.bind(handle);
      handle.writeFile = (async (data: string | Uint8Array) => {
        await write(typeof data === 'string' ? data.slice(0, data.length >> 1) : data.subarray(0, data.length >> 1));
        throw Object.assign(new Error(`${code}: injected, write`), { code });
      }) as typeof handle.writeFile;
    }
    return handle;
  }) as typeof realFs.open;
}

const image = { width: 2, height: 2, data: new Uint8Array(12).fill(9) };
let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  await useBackend('cpu');
  work = await scratch();
});
after(() => work.cleanup());

describe('write errors', () => {
  it('a full disk keeps the previous file and leaves no temporary file', async () => {
    const dir = join(work.dir, 'full');
    mkdirSync(dir);
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'previous');
    failWritesAfter(0, 'ENOSPC');
    await assert.rejects(writeFileAtomic(file, 'new content'), (e: Error) => {
      assert.equal(e.message, `${file}: disk full, nothing was written`);
      return true;
    });
    assert.equal(readFileSync(file, 'utf8'), 'previous');
    assert.deepEqual(readdirSync(dir), ['a.txt']);
    await assert.rejects(
      writeImage(join(dir, 'b.png'), image),
      new RegExp(`b\\.png: cannot write image \\(disk full, nothing was written\\)$`),
    );
    assert.deepEqual(readdirSync(dir), ['a.txt']);
  });

  it('a read-only disk is named, for files and folders', async () => {
    const dir = join(work.dir, 'ro');
    mkdirSync(dir);
    atomicFs.mkdir = (async () => {
      throw Object.assign(new Error('EROFS: injected'), { code: 'EROFS' });
    }) as unknown as typeof realFs.mkdir;
    await assert.rejects(
      writeDirAtomic(join(dir, 'sub', 'x'), async () => {}),
      /sub: read-only file system, nothing was written$/,
    );
    Object.assign(atomicFs, realFs);
    failWritesAfter(0, 'EROFS');
    await assert.rejects(
      writeDirAtomic(join(dir, 'model'), async (tmp) => writeFileAtomic(join(tmp, 'w.bin'), 'x')),
      (e: Error) => {
        assert.equal(e.message, `${join(dir, 'model')}: read-only file system, nothing was written`);
        return true;
      },
    );
    assert.deepEqual(readdirSync(dir), []);
  });

  it('a folder where a file is expected, a file where a folder is, a path under a file', async () => {
    const folder = join(work.dir, 'existing-folder.png');
    mkdirSync(folder);
    await assert.rejects(writeImage(folder, image), /existing-folder\.png: cannot write image: a folder of that name exists/);
    const file = join(work.dir, 'plain-file');
    writeFileSync(file, 'x');
    await assert.rejects(
      writeImage(join(file, 'out.png'), image),
      /plain-file\/out\.png: cannot write image \(.*plain-file: is a file, expected a folder\)/,
    );
    await assert.rejects(
      writeFileAtomic(join(file, 'deeper', 'x.txt'), 'x'),
      /deeper: cannot be written: .*plain-file is a file, not a folder/,
    );

    const model = await saveTinyGenerator(join(work.dir, 'model'));
    const translator = await loadTranslator(model);
    try {
      await assert.rejects(translateFiles(translator, [], file), (e: Error) => {
        assert.equal(e.message, `${file}: is a file, expected a folder`);
        return true;
      });
    } finally {
      translator.dispose();
    }
    const cli = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', '--backend', 'cpu', 'translate', join(model, 'model.json'), '--model', model, '--out', file],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 1);
    assert.equal(cli.stderr.trim().split('\n').pop(), `cyclegan: ${file}: is a file, expected a folder`);
    assert.doesNotMatch(cli.stderr, /translate \|/, 'fails before the progress bar starts');
    const exp = spawnSync(
      process.execPath,
      ['bin/cyclegan.js', '--backend', 'cpu', 'export', '--model', model, '--format', 'onnx', '--out', join(file, 'onnx')],
      { encoding: 'utf8' },
    );
    assert.equal(exp.status, 1);
    assert.equal(
      exp.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('cyclegan:')).length,
      1,
      exp.stderr,
    );
    assert.match(exp.stderr, /plain-file is a file, not a folder|plain-file: is a file, expected a folder/);
  });
});

describe('a full disk while checkpointing', () => {
  it('keeps the previous checkpoint as latest and loadable, and leaves no temporary folders', async () => {
    const runDir = join(work.dir, 'run');
    const config = resolveConfig({
      preset: 'paper',
      generator: 'resnet6',
      ngf: 2,
      ndf: 2,
      cropSize: 20,
      loadSize: 20,
      poolSize: 0,
      seed: 1,
    });
    const gan = new CycleGan(config, new Rng(1));
    const position = (epoch: number) => ({ epoch, stepInEpoch: 0, globalStep: epoch }) as unknown as RunPosition;
    try {
      await saveCheckpoint(runDir, 'epoch-0001', gan, position(1));
      const root = join(runDir, 'checkpoints');
      // Fail at every write in turn: each network's files, state.bin, cyclegan.json, then `latest`.
      let opens = 0;
      for (let n = 0; ; n++) {
        failWritesAfter(n, 'ENOSPC');
        const counting = atomicFs.open;
        atomicFs.open = ((...args: Parameters<typeof realFs.open>) => {
          opens++;
          return counting(...args);
        }) as typeof realFs.open;
        opens = 0;
        const saved = await saveCheckpoint(runDir, 'epoch-0002', gan, position(2)).then(
          () => true,
          (e: Error) => {
            assert.match(e.message, /disk full, nothing was written$/);
            assert.doesNotMatch(e.message, /\.tmp-/, 'the error names the checkpoint, not a temporary folder');
            return false;
          },
        );
        Object.assign(atomicFs, realFs);
        if (saved) {
          assert.ok(n > 5, `failing from write ${n + 1} of ${opens} must fail the save`);
          break;
        }
        assert.equal(readFileSync(join(root, 'latest'), 'utf8').trim(), 'epoch-0001', `after a failure at write ${n + 1}`);
        assert.deepEqual(
          readdirSync(root).filter((name) => name.startsWith('.')),
          [],
          `no temporary folders after a failure at write ${n + 1}`,
        );
        const loaded = await loadCheckpoint(runDir);
        assert.equal(loaded.dir.endsWith('epoch-0001'), true);
        for (const m of Object.values(loaded.models)) m.dispose();
      }
    } finally {
      for (const m of [gan.genAtoB, gan.genBtoA, gan.discA, gan.discB]) m.dispose();
    }
  });
});
