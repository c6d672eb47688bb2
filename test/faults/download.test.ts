/** Dataset zips: every entry's CRC-32 is checked, and unpacked size and entry count are capped. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { downloadDataset, extractZip } from '../../src/data/download.ts';
import { makeZip } from '../helpers/zip.ts';
import { scratch } from './helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
before(async () => {
  work = await scratch();
});
after(() => work.cleanup());

describe('dataset zip checks', () => {
  it('a corrupted byte in an entry fails its CRC-32 check (sizes alone pass)', async () => {
    const zip = await makeZip({ 'trainA/a.jpg': 'AAAAAAAAAAAAAAAA', 'trainB/b.jpg': 'BBBBBBBBBBBBBBBB' }, { compress: false });
    const at = zip.indexOf('BBBBBBBB');
    zip[at + 3] = 'X'.charCodeAt(0); // stored (not deflated), so the size stays right
    const path = join(work.dir, 'corrupt.zip');
    writeFileSync(path, zip);
    await assert.rejects(extractZip(path, join(work.dir, 'corrupt-out'), 'horse2zebra.zip'), (e: Error) => {
      assert.match(
        e.message,
        /^horse2zebra\.zip: 'trainB\/b\.jpg' failed its CRC-32 check \([0-9a-f]{8}, the zip says [0-9a-f]{8}\); the zip is corrupt: download it again$/,
      );
      return true;
    });
  });

  it('refuses a zip that would unpack past the size cap before writing anything', async () => {
    // A tiny deflated zip of a large run of zeros: what a zip bomb is.
    const zip = await makeZip({ 'trainA/a.jpg': Buffer.alloc(4 << 20), 'trainB/b.jpg': 'b' });
    assert.ok(zip.length < 20_000);
    const path = join(work.dir, 'bomb.zip');
    writeFileSync(path, zip);
    const out = join(work.dir, 'bomb-out');
    await assert.rejects(
      extractZip(path, out, 'bomb.zip', { maxUnpackedBytes: 1 << 20 }),
      /^DownloadError: bomb\.zip: would unpack to 4,194,305 bytes, over the limit of 1,048,576; refusing it \(a zip bomb\?\)$/,
    );
    assert.equal(existsSync(out), false);
  });

  it('refuses a zip with too many entries', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 30; i++) files[`trainA/${i}.jpg`] = 'x';
    files['trainB/b.jpg'] = 'b';
    const path = join(work.dir, 'many.zip');
    writeFileSync(path, await makeZip(files, { compress: false }));
    await assert.rejects(
      extractZip(path, join(work.dir, 'many-out'), 'many.zip', { maxEntries: 10 }),
      /many\.zip: has 31 entries, over the limit of 10/,
    );
    await extractZip(path, join(work.dir, 'many-ok'), 'many.zip', { maxEntries: 31 });
    assert.equal(readdirSync(join(work.dir, 'many-ok', 'trainA')).length, 30);
  });

  it('downloadDataset passes the caps on and leaves nothing behind on a refusal', async () => {
    const zip = await makeZip({ 'mini/trainA/a.jpg': Buffer.alloc(100_000), 'mini/trainB/b.jpg': 'b' });
    const fetchImpl = (async () =>
      new Response(new Uint8Array(zip), { headers: { 'content-length': String(zip.length) } })) as typeof fetch;
    const dir = join(work.dir, 'cache');
    await assert.rejects(
      downloadDataset('mini', { dir, fetchImpl, maxUnpackedBytes: 50_000 }),
      /mini\.zip: would unpack to 100,001 bytes, over the limit of 50,000/,
    );
    assert.deepEqual(readdirSync(dir), []);
    await assert.rejects(downloadDataset('mini', { dir, fetchImpl, maxEntries: 0 }), /maxEntries must be a positive integer, got 0/);
    const ok = await downloadDataset('mini', { dir, fetchImpl });
    assert.ok(existsSync(join(ok.path, 'trainA', 'a.jpg')));
  });
});
