/** `cyclegan serve` right after `npm start` on a fresh clone: the page is built on demand. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { webBuildNeeded } from '../../src/serve/build.ts';
import { startServer } from '../../src/serve/server.ts';
import { saveTinyGenerator, scratch } from './helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
let model: string;
before(async () => {
  await useBackend('cpu');
  work = await scratch();
  model = join(work.dir, 'export');
  await saveTinyGenerator(join(model, 'AtoB'));
  writeFileSync(
    join(model, 'cyclegan.json'),
    JSON.stringify({ format: 'cyclegan-generators', version: 1, directions: { AtoB: 'AtoB/model.json' } }),
  );
});
after(() => work.cleanup());

describe('serve on a fresh clone', () => {
  it(
    'without a build the library still says so; with build: true the page is built, served, and not rebuilt',
    { timeout: 240_000 },
    async () => {
      // A web root that does not exist stands for the fresh clone's missing web/dist (the real
      // web/dist is shared by other tests and left alone).
      const webRoot = join(work.dir, 'dist');
      await assert.rejects(startServer({ modelDir: model, port: 0, webRoot }), /the web app is not built/);
      assert.equal(webBuildNeeded(webRoot), `${join(webRoot, 'index.html')} is missing`);

      const lines: string[] = [];
      const server = await startServer({ modelDir: model, port: 0, webRoot, build: true, log: (l) => lines.push(l) });
      try {
        assert.match(lines.join('\n'), /building the web page .*is missing[\s\S]*built the web page into/);
        const page = await fetch(server.url);
        assert.equal(page.status, 200);
        const html = await page.text();
        const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
        assert.ok(script, `the built page loads a script: ${html.slice(0, 300)}`);
        const js = await fetch(new URL(script, server.url));
        assert.equal(js.status, 200);
        assert.ok((await js.arrayBuffer()).byteLength > 10_000);
        assert.equal((await fetch(new URL('model/cyclegan.json', server.url))).status, 200);
      } finally {
        await server.close();
      }
      assert.deepEqual(
        readdirSync(work.dir).filter((n) => n.startsWith('.dist')),
        [],
        'no temporary build folder left',
      );

      // Built and up to date: no second build.
      const index = join(webRoot, 'index.html');
      utimesSync(index, new Date(), new Date(Date.now() + 60_000));
      assert.equal(webBuildNeeded(webRoot), null);
      const again: string[] = [];
      const second = await startServer({ modelDir: model, port: 0, webRoot, build: true, log: (l) => again.push(l) });
      await second.close();
      assert.deepEqual(again, []);
      assert.ok(existsSync(index));
    },
  );

  it('a bad model is reported before any build', async () => {
    const empty = join(work.dir, 'not-a-model');
    mkdirSync(empty);
    await assert.rejects(
      startServer({ modelDir: empty, port: 0, webRoot: join(work.dir, 'never-built'), build: true }),
      /not a model folder/,
    );
    assert.equal(existsSync(join(work.dir, 'never-built')), false);
  });
});
