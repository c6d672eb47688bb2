// The shell blocks of README.md and docs/*.md whose info string is `sh runnable` are run, so the
// commands the docs show cannot rot. Each page's blocks run in order in a fresh folder (a page's
// later block may use what its earlier one wrote), with `npx cyclegan` standing for this
// checkout's CLI and the cache in that folder. Blocks marked so must stay cheap: seconds each,
// on synthetic data.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';

const ROOT = resolve(import.meta.dirname, '..', '..');
const MARKER = /^```sh runnable\s*$/;

export interface RunnableBlock {
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  script: string;
}

/** The runnable blocks of a Markdown text, in order. */
export function runnableBlocks(file: string, text: string): RunnableBlock[] {
  const blocks: RunnableBlock[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!MARKER.test(lines[i]!)) continue;
    const end = lines.findIndex((l, j) => j > i && /^```\s*$/.test(l));
    assert.ok(end > i, `${file}:${i + 1}: a runnable block without its closing fence`);
    blocks.push({ file, line: i + 1, script: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

const pages = [
  join(ROOT, 'README.md'),
  ...readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f)),
];
const byPage = pages.map((path) => runnableBlocks(relative(ROOT, path), readFileSync(path, 'utf8'))).filter((blocks) => blocks.length > 0);

// `npx cyclegan …` in a checkout runs bin/cyclegan.js; the function saves npm's start-up per command.
const PRELUDE = `set -euo pipefail
npx() { if [ "\${1:-}" = cyclegan ]; then shift; node "$CYCLEGAN_BIN" "$@"; else command npx "$@"; fi; }
`;

it('the README has runnable blocks, and the marker is found', () => {
  assert.ok(
    byPage.some((blocks) => blocks[0]!.file === 'README.md'),
    'README.md has no ```sh runnable block',
  );
  assert.deepEqual(
    runnableBlocks('x.md', 'a\n```sh runnable\necho 1\n```\n```sh\necho 2\n```\n').map((b) => b.script),
    ['echo 1'],
  );
});

for (const blocks of byPage) {
  describe(blocks[0]!.file, () => {
    let dir = '';
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'cyclegan-docs-'));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));
    for (const block of blocks) {
      it(`${block.file}:${block.line} runs`, () => {
        const r = spawnSync('bash', ['-c', PRELUDE + block.script], {
          cwd: dir,
          encoding: 'utf8',
          timeout: 180_000,
          env: { ...process.env, CYCLEGAN_BIN: join(ROOT, 'bin', 'cyclegan.js'), XDG_CACHE_HOME: join(dir, '.cache') },
        });
        const output = `${r.stdout}${r.stderr}`.slice(-4000);
        assert.equal(
          r.status,
          0,
          `${block.file}:${block.line} failed (status ${r.status}, signal ${r.signal}):\n${block.script}\n--- output ---\n${output}`,
        );
      });
    }
  });
}
