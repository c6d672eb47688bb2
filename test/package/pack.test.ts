// The package as a user gets it: `npm pack`, installed from the tarball into an empty project
// (no .npmrc, no tsx, no sources; the optional engines not installed), then the CLI, a translation, a plain-JavaScript import of both entry
// points and a TypeScript consumer checked against the published declarations.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readImage } from '../../src/data/image-io.ts';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { trainTinyRun } from '../helpers/tiny-run.ts';

const REPO = resolve(import.meta.dirname, '..', '..');
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
let work: string;
let project: string;
let model: string;
let images: string;

function run(command: string, args: string[], options: SpawnSyncOptions = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', cwd: project, timeout: 300_000, ...options });
  return { code: r.status, out: String(r.stdout ?? ''), err: String(r.stderr ?? '') };
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'cyclegan-pack-'));
  // prepack builds dist/ and web/dist/ first; the tarball holds only what `files` names.
  const packed = run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: REPO });
  assert.equal(packed.code, 0, packed.err);
  const tarball = (await readdir(work)).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `npm pack left no tarball in ${work}: ${packed.out}`);

  project = join(work, 'consumer');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // As a user installs it: no .npmrc of ours (the optional engines must not need one).
  const installed = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball)]);
  assert.equal(installed.code, 0, installed.err);

  // A tiny two-direction model and a photo to translate, made with the repository's own code.
  await useBackend('cpu');
  const { data, run: runDir } = await trainTinyRun(work);
  model = join(work, 'model');
  await exportTfjs(runDir, model, ['AtoB', 'BtoA']);
  images = join(data, 'testA');
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package, installed into an empty project', () => {
  it('carries compiled code, declarations and the built page, not sources, tests or tsx', () => {
    const pkg = join(project, 'node_modules', 'cyclegan');
    for (const file of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/web.js',
      'dist/web.d.ts',
      'dist/cli/main.js',
      'web/dist/index.html',
      'bin/cyclegan.js',
      'LICENSE',
    ]) {
      assert.ok(existsSync(join(pkg, file)), `${file} is missing from the package`);
    }
    for (const dir of ['src', 'test', 'bench', 'web/src']) assert.ok(!existsSync(join(pkg, dir)), `${dir}/ should not be in the package`);
    assert.ok(!existsSync(join(project, 'node_modules', 'tsx')), 'tsx is a development dependency only');
  });

  it('leaves the optional engines out (nothing downloads at install), and says what to install when one is asked for', async (t) => {
    for (const optional of ['onnxruntime-node', 'webgpu']) {
      assert.ok(
        !existsSync(join(project, 'node_modules', optional)),
        `${optional} is an optional peer dependency, not installed by default`,
      );
    }
    const r = run('npx', [
      '--no-install',
      'cyclegan',
      'translate',
      images,
      '--model',
      model,
      '--engine',
      'onnx',
      '--out',
      join(work, 'onnx-out'),
    ]);
    assert.notEqual(r.code, 0);
    assert.match(
      r.err,
      /^cyclegan: the ONNX engine needs the npm package onnxruntime-node, which is not installed: run `npm install onnxruntime-node`$/m,
    );
    const du = spawnSync('du', ['-sm', join(project, 'node_modules')], { encoding: 'utf8' });
    if (du.status === 0) t.diagnostic(`installed size: ${du.stdout.split('\t')[0]} MB of node_modules`);
  });

  it('npx cyclegan --help prints the commands', () => {
    const r = run('npx', ['--no-install', 'cyclegan', '--help']);
    assert.equal(r.code, 0, r.err);
    for (const command of ['translate', 'train', 'export', 'serve']) assert.match(r.out, new RegExp(`\\b${command}\\b`));
  });

  it('the embedded models come with the package', async () => {
    const named = existsSync(join(REPO, 'assets', 'models', 'DEFAULT'))
      ? (await readFile(join(REPO, 'assets', 'models', 'DEFAULT'), 'utf8')).trim()
      : null;
    const r = run('npx', ['--no-install', 'cyclegan', 'models']);
    assert.equal(r.code, 0, r.err);
    if (named) assert.match(r.out, new RegExp(`^${named} \\(default\\)`, 'm'));
    else assert.match(r.out, /no embedded model/i);
  });

  it('npx cyclegan translate runs a tiny model on a photo (the default wasm engine)', async () => {
    const out = join(work, 'translated');
    const r = run('npx', ['--no-install', 'cyclegan', 'translate', images, '--model', model, '--out', out]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /backend: wasm/);
    const files = await readdir(out);
    assert.equal(files.length, 1, `one translation expected, got ${files.join(', ')}`);
    const image = await readImage(join(out, files[0]!));
    assert.deepEqual([image.height, image.width, image.data.length], [32, 32, 32 * 32 * 3]);
  });

  it('cyclegan serve serves the built page and the model from the install', async () => {
    const server = spawn(
      process.execPath,
      [join(project, 'node_modules', 'cyclegan', 'bin', 'cyclegan.js'), 'serve', '--model', model, '--port', '0'],
      { cwd: project },
    );
    try {
      const url = await new Promise<string>((resolveUrl, reject) => {
        let out = '';
        server.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const m = /at (http:\/\/\S+)/.exec(out);
          if (m) resolveUrl(m[1]!.replace(/\/$/, ''));
        });
        server.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const page = await fetch(`${url}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<script type="module"/);
      const manifest = (await (await fetch(`${url}/model/cyclegan.json`)).json()) as { directions: Record<string, string> };
      assert.deepEqual(Object.keys(manifest.directions).sort(), ['AtoB', 'BtoA']);
    } finally {
      server.kill();
    }
  });

  it('plain JavaScript imports both entry points', () => {
    const script = [
      "const lib = await import('cyclegan');",
      "const web = await import('cyclegan/web');",
      "for (const [name, mod] of [['cyclegan', lib], ['cyclegan/web', web]])",
      "  if (typeof mod.translateImage !== 'function') throw new Error(name + ' has no translateImage');",
      "if (typeof lib.train !== 'function' || typeof lib.exportTfjs !== 'function') throw new Error('library API missing');",
      "if ('train' in web) throw new Error('cyclegan/web must not carry training');",
      "console.log('ok', Object.keys(lib).length, Object.keys(web).length);",
    ].join('\n');
    const r = run(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^ok \d+ \d+/);
  });

  it('a TypeScript consumer type-checks against the published declarations, and a wrong use fails', async () => {
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: [],
        },
        include: ['*.ts'],
      }),
    );
    const good = [
      "import { train, exportTfjs, type TrainOptions } from 'cyclegan';",
      "import { translateImage, parseModelManifest } from 'cyclegan/web';",
      "const options: TrainOptions = { data: 'data', out: 'run', maxSteps: 1 };",
      'export const uses = [train, exportTfjs, translateImage, parseModelManifest, options];',
    ].join('\n');
    await writeFile(join(project, 'consumer.ts'), good);
    const ok = run(process.execPath, [TSC, '-p', 'tsconfig.json']);
    assert.equal(ok.code, 0, ok.out + ok.err);

    // The declarations are real types, not `any`: a number where the options want a path fails.
    await writeFile(join(project, 'consumer.ts'), `${good}\nexport const wrong: TrainOptions = { data: 42, out: 'run' };\n`);
    const bad = run(process.execPath, [TSC, '-p', 'tsconfig.json']);
    assert.notEqual(bad.code, 0, 'a wrong type should not compile');
    assert.match(bad.out, /consumer\.ts\(\d+,\d+\): error TS2322/);
  });
});
