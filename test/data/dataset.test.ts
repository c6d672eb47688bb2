import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError, openDataset } from '../../src/data/dataset.ts';
import { makeImage, tempDir } from './helpers.ts';

let dir: string;
let cleanup: () => void;
before(() => ({ dir, cleanup } = tempDir()));
after(() => cleanup());

test('lists images per split, sorted, case-insensitive extensions; skips others with one warning', async () => {
  const root = join(dir, 'ds');
  for (const s of ['trainA', 'trainB', 'testA']) mkdirSync(join(root, s), { recursive: true });
  await makeImage(join(root, 'trainA', 'b.JPG'), 8, 8);
  await makeImage(join(root, 'trainA', 'a.png'), 8, 8);
  await makeImage(join(root, 'trainA', 'c.webp'), 8, 8);
  writeFileSync(join(root, 'trainA', 'notes.txt'), 'x');
  writeFileSync(join(root, 'trainA', 'list.csv'), 'x');
  writeFileSync(join(root, 'trainA', '.DS_Store'), 'x');
  mkdirSync(join(root, 'trainA', 'sub'));
  await makeImage(join(root, 'trainB', 'z.TIFF'), 8, 8);
  await makeImage(join(root, 'trainB', 'y.gif'), 8, 8);
  await makeImage(join(root, 'trainB', 'x.jpeg'), 8, 8);
  const warnings: string[] = [];
  const ds = await openDataset(root, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(
    ds.trainA,
    ['a.png', 'b.JPG', 'c.webp'].map((n) => join(root, 'trainA', n)),
  );
  assert.deepEqual(
    ds.trainB,
    ['x.jpeg', 'y.gif', 'z.TIFF'].map((n) => join(root, 'trainB', n)),
  );
  assert.deepEqual(ds.testA, []);
  assert.equal(ds.testB, undefined);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /trainA: skipped 2 non-image files \(list\.csv, notes\.txt\)/);
});

test('clear errors naming the folder', async () => {
  await assert.rejects(openDataset(join(dir, 'missing')), (e: unknown) => {
    assert.ok(e instanceof DatasetError);
    assert.match(e.message, /dataset folder not found: .*missing/);
    return true;
  });
  const root = join(dir, 'half');
  mkdirSync(join(root, 'trainA'), { recursive: true });
  await assert.rejects(openDataset(root), /half: missing folder trainB\//);
  mkdirSync(join(root, 'trainB'));
  await makeImage(join(root, 'trainB', 'x.png'), 4, 4);
  await assert.rejects(openDataset(root), /half\/trainA: no images found/);
  writeFileSync(join(dir, 'file'), 'x');
  await assert.rejects(openDataset(join(dir, 'file')), /not a folder/);
});
