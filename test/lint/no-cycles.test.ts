// `npm run lint` refuses an import cycle anywhere under src/: the dependency check that lint runs
// is run on a scratch copy of src/, first as it is (it passes), then with cycles added (it fails
// and names them). The cycles go through the imports easiest to overlook: type-only and dynamic.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** The dependency-cruiser command of `npm run lint`, as its words. */
function lintDepcruise(): string[] {
  const lint = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.lint!;
  const command = lint
    .split('&&')
    .map((part) => part.trim())
    .find((part) => part.startsWith('depcruise '));
  assert.ok(command, `npm run lint has no depcruise step: ${lint}`);
  return command.split(/\s+/);
}

function depcruise(cwd: string): { status: number | null; output: string } {
  const [bin, ...args] = lintDepcruise();
  const r = spawnSync(join(ROOT, 'node_modules', '.bin', bin!), args, { cwd, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the dependency check of npm run lint', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'cyclegan-cycles-'));
    for (const path of ['src', 'package.json', 'tsconfig.json', '.dependency-cruiser.cjs'])
      cpSync(join(ROOT, path), join(dir, path), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passes on src/ as it is', () => {
    const r = depcruise(dir);
    assert.equal(r.status, 0, r.output);
  });

  it('fails on a cycle through a type-only import and on one through a dynamic import, naming both', () => {
    // server.ts imports build.ts; build.ts takes a type back.
    appendFileSync(join(dir, 'src/serve/build.ts'), "\nimport type { ServeOptions as _Cycle } from './server.ts';\n");
    appendFileSync(join(dir, 'src/cli/errors.ts'), "\nexport const _cycle = () => import('./progress.ts');\n");
    appendFileSync(join(dir, 'src/cli/progress.ts'), "\nimport type { UserError as _Cycle } from './errors.ts';\n");
    const r = depcruise(dir);
    assert.notEqual(r.status, 0, r.output);
    const errors = r.output.split('\n').filter((line) => /^\s*error /.test(line));
    assert.ok(errors.length > 0 && errors.every((line) => line.includes('no-circular')), r.output);
    for (const file of ['src/serve/build.ts', 'src/serve/server.ts', 'src/cli/errors.ts', 'src/cli/progress.ts']) {
      assert.match(r.output, new RegExp(file.replace(/[./]/g, '\\$&')), `${file} is not named:\n${r.output}`);
    }
  });
});
