/**
 * The demo server (`cyclegan serve`): content types, the /model/ mapping of exports and training
 * checkpoints, 404s, refusal of every path that leaves its roots, and loopback-only binding.
 * Uses a fake web root, so it needs neither a build nor a browser.
 */
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelManifest } from '../../src/infer/model-folder.ts';
import { startServer, type RunningServer } from '../../src/serve/server.ts';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path goes out exactly as written (no URL normalisation of `..`). */
function get(base: string, path: string, method = 'GET'): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

let work: string;
let web: string;
let exportDir: string;
let checkpointDir: string;
let server: RunningServer;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'cyclegan-serve-'));
  web = join(work, 'dist');
  mkdirSync(join(web, 'assets'), { recursive: true });
  mkdirSync(join(web, 'empty-dir'));
  writeFileSync(join(web, 'index.html'), '<!doctype html><title>demo</title>');
  writeFileSync(join(web, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(web, 'assets', 'app.css'), 'body{}');
  writeFileSync(join(web, 'assets', 'tfjs-backend-wasm.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d]));
  writeFileSync(join(work, 'secret.txt'), 'top secret');
  symlinkSync(join(work, 'secret.txt'), join(web, 'escape.txt'));

  exportDir = join(work, 'export');
  for (const d of ['AtoB', 'BtoA']) {
    mkdirSync(join(exportDir, d), { recursive: true });
    writeFileSync(join(exportDir, d, 'model.json'), JSON.stringify({ weightsManifest: [{ paths: ['weights.bin'] }] }));
    writeFileSync(join(exportDir, d, 'weights.bin'), Buffer.alloc(16));
  }
  writeFileSync(join(exportDir, 'notes.txt'), 'not part of the model');
  const manifest = {
    format: 'cyclegan-generators',
    version: 1,
    generator: 'unet',
    size: 256,
    domains: { A: 'horse', B: 'zebra' },
    directions: { AtoB: 'AtoB/model.json', BtoA: 'BtoA/model.json' },
  };
  writeFileSync(join(exportDir, 'cyclegan.json'), JSON.stringify(manifest));

  checkpointDir = join(work, 'checkpoint');
  for (const d of ['G_AtoB', 'G_BtoA', 'D_A']) {
    mkdirSync(join(checkpointDir, d), { recursive: true });
    writeFileSync(join(checkpointDir, d, 'model.json'), '{}');
    writeFileSync(join(checkpointDir, d, 'weights.bin'), Buffer.alloc(8));
  }
  writeFileSync(
    join(checkpointDir, 'cyclegan.json'),
    JSON.stringify({
      format: 'cyclegan-checkpoint',
      version: 1,
      generator: 'resnet9',
      size: 256,
      step: 1234,
      domains: { A: 'horse', B: 'zebra' },
      generators: { AtoB: 'G_AtoB/model.json', BtoA: 'G_BtoA/model.json' },
      discriminators: { A: 'D_A/model.json' },
    }),
  );

  server = await startServer({ modelDir: exportDir, port: 0, webRoot: web });
});

after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('content', () => {
  test('serves the page and assets with their content types', async () => {
    const cases: Array<[string, string]> = [
      ['/', 'text/html; charset=utf-8'],
      ['/index.html', 'text/html; charset=utf-8'],
      ['/assets/app.js', 'text/javascript; charset=utf-8'],
      ['/assets/app.css', 'text/css; charset=utf-8'],
      ['/assets/tfjs-backend-wasm.wasm', 'application/wasm'],
      ['/model/cyclegan.json', 'application/json; charset=utf-8'],
      ['/model/AtoB/model.json', 'application/json; charset=utf-8'],
      ['/model/BtoA/weights.bin', 'application/octet-stream'],
    ];
    for (const [path, type] of cases) {
      const reply = await get(server.url, path);
      assert.equal(reply.status, 200, path);
      assert.equal(reply.headers['content-type'], type, path);
      assert.equal(Number(reply.headers['content-length']), reply.body.length, path);
      assert.equal(reply.headers['x-content-type-options'], 'nosniff', path);
    }
    assert.equal((await get(server.url, '/')).body.toString(), '<!doctype html><title>demo</title>');
    assert.equal((await get(server.url, '/model/BtoA/weights.bin')).body.length, 16);
    assert.equal((await get(server.url, '/assets/app.js?v=1')).status, 200);
  });

  test('HEAD answers headers only; other methods are refused', async () => {
    const head = await get(server.url, '/assets/app.js', 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '14');
    assert.equal(head.body.length, 0);
    const post = await get(server.url, '/', 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  test('an export is served with its manifest', async () => {
    const manifest = JSON.parse((await get(server.url, '/model/cyclegan.json')).body.toString());
    assert.deepEqual(manifest, {
      format: 'cyclegan-generators',
      version: 1,
      generator: 'unet',
      size: 256,
      domains: { A: 'horse', B: 'zebra' },
      directions: { AtoB: 'AtoB/model.json', BtoA: 'BtoA/model.json' },
    });
  });

  test('a training checkpoint is served as the export it would become', async () => {
    const ckpt = await startServer({ modelDir: checkpointDir, port: 0, webRoot: web });
    try {
      const manifest = JSON.parse((await get(ckpt.url, '/model/cyclegan.json')).body.toString());
      assert.deepEqual(manifest, {
        format: 'cyclegan-generators',
        version: 1,
        generator: 'resnet9',
        size: 256,
        domains: { A: 'horse', B: 'zebra' },
        directions: { AtoB: 'G_AtoB/model.json', BtoA: 'G_BtoA/model.json' },
      });
      assert.equal((await get(ckpt.url, '/model/G_AtoB/model.json')).status, 200);
      assert.equal((await get(ckpt.url, '/model/G_BtoA/weights.bin')).status, 200);
      // Discriminators and other checkpoint files are not part of the export view.
      assert.equal((await get(ckpt.url, '/model/D_A/model.json')).status, 404);
    } finally {
      await ckpt.close();
    }
  });
});

describe('refusals', () => {
  test('missing files and directories answer 404, without listings', async () => {
    for (const path of [
      '/nope.html',
      '/assets/nope.js',
      '/empty-dir',
      '/empty-dir/',
      '/assets/',
      '/model/',
      '/model',
      '/model/AtoB/',
      '/model/AtoB/nope.bin',
      '/model/notes.txt',
    ]) {
      const reply = await get(server.url, path);
      assert.equal(reply.status, 404, path);
      assert.doesNotMatch(reply.body.toString(), /app\.js|model\.json|weights\.bin/, path);
    }
  });

  test('paths that leave the web root or the model folder are refused', async () => {
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/%2E%2E%2Fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/..%5csecret.txt',
      '/%252e%252e/secret.txt',
      '/model/../secret.txt',
      '/model/%2e%2e/secret.txt',
      '/model/AtoB/../../secret.txt',
      '/model/..%2f..%2fsecret.txt',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
      '/model//etc/passwd',
      '/escape.txt',
      '/index.html%00.js',
    ];
    for (const path of attempts) {
      const reply = await get(server.url, path);
      assert.ok([400, 403, 404].includes(reply.status), `${path} answered ${reply.status}`);
      assert.doesNotMatch(reply.body.toString(), /top secret|root:/, path);
    }
    assert.equal((await get(server.url, '/../secret.txt')).status, 403);
    assert.equal((await get(server.url, '/%2e%2e/secret.txt')).status, 403);
    assert.equal((await get(server.url, '/escape.txt')).status, 403);
    assert.equal((await get(server.url, '/%E0%A4%A')).status, 400);
    assert.equal((await get(server.url, 'http://example.com/')).status, 400);
  });
});

describe('startup', () => {
  test('binds to the loopback interface only', async () => {
    const url = new URL(server.url);
    assert.equal(url.hostname, '127.0.0.1');
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal);
    if (!external) return; // no other interface to try
    const reachable = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: external.address, port: Number(url.port) });
      socket.setTimeout(2000);
      socket.on('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
    assert.equal(reachable, false, `reachable on ${external.address}`);
  });

  test('a missing web build says to run npm run build:web', async () => {
    await assert.rejects(startServer({ modelDir: exportDir, port: 0, webRoot: join(work, 'no-dist') }), /npm run build:web/);
  });

  test('a folder that is not a model is rejected with a clear message', async () => {
    await assert.rejects(startServer({ modelDir: web, port: 0, webRoot: web }), /no cyclegan\.json/);
    const bad = join(work, 'bad-format');
    mkdirSync(bad);
    writeFileSync(join(bad, 'cyclegan.json'), JSON.stringify({ format: 'something-else' }));
    await assert.rejects(readModelManifest(bad), /unknown format "something-else"/);
    writeFileSync(join(bad, 'cyclegan.json'), '{not json');
    await assert.rejects(readModelManifest(bad), /not valid JSON/);
    writeFileSync(
      join(bad, 'cyclegan.json'),
      JSON.stringify({ format: 'cyclegan-generators', version: 1, directions: { AtoB: '../../etc/model.json' } }),
    );
    await assert.rejects(readModelManifest(bad), /relative path/);
  });

  test('a port in use is reported as such', async () => {
    const port = Number(new URL(server.url).port);
    await assert.rejects(startServer({ modelDir: exportDir, port, webRoot: web }), /already in use.*--port/);
  });

  test('close() stops listening', async () => {
    const other = await startServer({ modelDir: exportDir, port: 0, webRoot: web });
    assert.equal((await get(other.url, '/')).status, 200);
    await other.close();
    await assert.rejects(get(other.url, '/'));
  });
});
