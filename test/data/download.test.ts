import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readdirSync, readFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DownloadError, downloadDataset, resolveData, type DownloadProgress } from '../../src/data/download.ts';
import { tempDir } from './helpers.ts';
import { makeZip } from '../helpers/zip.ts';

let dir: string;
let cleanup: () => void;
let server: Server;
let base: string;
const zips = new Map<string, Buffer>();
/** Served with a Content-Length of the full zip but cut off halfway. */
const truncated = new Set<string>();

before(async () => {
  ({ dir, cleanup } = tempDir());
  // The official layout: NAME/trainA/... at the top of the zip.
  zips.set(
    'mini',
    await makeZip({ 'mini/trainA/a1.jpg': 'A1', 'mini/trainA/a2.jpg': 'A2', 'mini/trainB/b1.jpg': 'B1', 'mini/testA/': '' }),
  );
  // trainA at the top.
  zips.set('facades', await makeZip({ 'trainA/x.png': 'X', 'trainB/y.png': 'Y' }));
  zips.set('maps', await makeZip({ 'maps/trainA/x.png': 'X'.repeat(50000), 'maps/trainB/y.png': 'Y'.repeat(50000) }));
  truncated.add('maps');
  // zip-slip: yazl refuses '..', so write 'QQ/evil.txt' and patch the name bytes.
  const evil = await makeZip({ 'ae_photos/trainA/a.jpg': 'a', 'ae_photos/trainB/b.jpg': 'b', 'QQ/evil.txt': 'pwned' });
  const patched = Buffer.from(evil.toString('latin1').replaceAll('QQ/evil.txt', '../evil.txt'), 'latin1');
  zips.set('ae_photos', patched);
  zips.set('cityscapes', await makeZip({ 'cityscapes/readme.txt': 'no splits' }));

  server = createServer((req, res) => {
    const name = (req.url ?? '').replace(/^\/datasets\//, '').replace(/\.zip$/, '');
    const body = zips.get(name);
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': String(body.length) });
    if (truncated.has(name)) {
      res.write(body.subarray(0, body.length >> 1));
      setTimeout(() => res.destroy(), 20);
    } else res.end(body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/datasets/`;
});
after(async () => {
  await new Promise((ok) => server.close(ok));
  cleanup();
});

const leftovers = (d: string) => readdirSync(d).filter((n) => n.endsWith('.tmp'));

test('downloads, verifies, extracts atomically, records the SHA-256; second call is a no-op', async () => {
  const d = join(dir, 'ok');
  const progress: DownloadProgress[] = [];
  const r = await downloadDataset('mini', { dir: d, baseUrl: base, onProgress: (p) => progress.push(p) });
  assert.equal(r.path, join(d, 'mini'));
  assert.equal(r.downloaded, true);
  assert.deepEqual(readdirSync(join(d, 'mini', 'trainA')).sort(), ['a1.jpg', 'a2.jpg']);
  assert.equal(readFileSync(join(d, 'mini', 'trainB', 'b1.jpg'), 'utf8'), 'B1');
  assert.ok(existsSync(join(d, 'mini', 'testA')));
  const sha = createHash('sha256').update(zips.get('mini')!).digest('hex');
  assert.equal(r.sha256, sha);
  assert.equal(JSON.parse(readFileSync(join(d, 'mini', '.cyclegan-download.json'), 'utf8')).sha256, sha);
  assert.equal(progress.at(-1)!.received, zips.get('mini')!.length);
  assert.equal(progress.at(-1)!.total, zips.get('mini')!.length);
  assert.deepEqual(leftovers(d), []);
  const again = await downloadDataset('mini', { dir: d, baseUrl: base });
  assert.equal(again.downloaded, false);
  // Zip with trainA at its top; base URL from the environment.
  process.env.CYCLEGAN_DATASET_URL = base;
  try {
    const f = await downloadDataset('facades', { dir: d });
    assert.equal(readFileSync(join(f.path, 'trainA', 'x.png'), 'utf8'), 'X');
    assert.equal(await resolveData('facades', { dir: d }), f.path);
  } finally {
    delete process.env.CYCLEGAN_DATASET_URL;
  }
});

test('a known SHA-256 is checked', async () => {
  const d = join(dir, 'sha');
  await assert.rejects(downloadDataset('mini', { dir: d, baseUrl: base, sha256: '00'.repeat(32) }), /mini\.zip failed its checksum/);
  assert.ok(!existsSync(join(d, 'mini')));
  assert.deepEqual(leftovers(d), []);
});

test('unknown name lists the valid ones', async () => {
  await assert.rejects(downloadDataset('horse2zebr', { dir }), (e: unknown) => {
    assert.ok(e instanceof DownloadError);
    assert.match(e.message, /unknown dataset 'horse2zebr'.*apple2orange.*horse2zebra.*grumpifycat/);
    return true;
  });
  await assert.rejects(resolveData('no/such/thing'), /neither an existing folder nor a known dataset name/);
});

test('HTTP 404', async () => {
  const d = join(dir, '404');
  await assert.rejects(downloadDataset('monet2photo', { dir: d, baseUrl: base }), /monet2photo\.zip failed: HTTP 404/);
  assert.ok(!existsSync(join(d, 'monet2photo')));
  assert.deepEqual(leftovers(d), []);
});

test('truncated download', async () => {
  const d = join(dir, 'trunc');
  await assert.rejects(downloadDataset('maps', { dir: d, baseUrl: base }), /maps\.zip .*(truncated|cut off)/);
  assert.ok(!existsSync(join(d, 'maps')));
  assert.deepEqual(leftovers(d), []);
});

test('truncated zip without Content-Length check (bad archive)', async () => {
  const d = join(dir, 'badzip');
  const body = zips.get('mini')!;
  const fetchImpl = (async () => new Response(new Uint8Array(body.subarray(0, body.length - 30)))) as typeof fetch;
  await assert.rejects(
    downloadDataset('grumpifycat', { dir: d, baseUrl: base, fetchImpl }),
    /grumpifycat\.zip: not a valid zip, probably truncated or corrupt/,
  );
  assert.deepEqual(leftovers(d), []);
});

test('zip without trainA/trainB is refused', async () => {
  await assert.rejects(downloadDataset('cityscapes', { dir: join(dir, 'nosplit'), baseUrl: base }), /no trainA\/ and trainB\/ folders/);
});

test('offline: connection refused names the host', async () => {
  const closed = createServer();
  await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((ok) => closed.close(ok));
  await assert.rejects(
    downloadDataset('horse2zebra', { dir: join(dir, 'off'), baseUrl: `http://127.0.0.1:${port}/x/` }),
    new RegExp(`cannot reach 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\): offline\\? download it elsewhere and pass --data`),
  );
});

test('zip-slip entries are refused and nothing is written outside', async () => {
  const d = join(dir, 'slip', 'inner');
  mkdirSync(d, { recursive: true });
  await assert.rejects(downloadDataset('ae_photos', { dir: d, baseUrl: base }), /refusing an unsafe zip entry/);
  assert.ok(!existsSync(join(d, 'evil.txt')));
  assert.ok(!existsSync(join(dir, 'slip', 'evil.txt')));
  assert.ok(!existsSync(join(d, 'ae_photos')));
  assert.deepEqual(readdirSync(d), []);
});
