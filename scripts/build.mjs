// `npm run build`: the library and CLI compiled to dist/ (tsc with tsconfig.build.json, plus the
// data files src/ reads at run time), and the browser page built to web/dist/ (Vite), which
// `cyclegan serve` serves from an installed package. Runs before `npm pack` (prepack).
import { cpSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));

function run(bin, args) {
  const result = spawnSync(process.execPath, [require.resolve(bin), ...args], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
}

/**
 * Every file under src/ that is not source (split lists, schemas, compiled wasm kernels) is copied
 * beside the code that reads it; TypeScript is compiled and C sources stay behind (the .wasm built
 * from them is what runs).
 */
function copyData(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) copyData(path);
    else if (!name.endsWith('.ts') && !name.endsWith('.c')) cpSync(path, join(root, 'dist', relative(join(root, 'src'), path)));
  }
}

rmSync(join(root, 'dist'), { recursive: true, force: true });
run('typescript/bin/tsc', ['-p', 'tsconfig.build.json']);
copyData(join(root, 'src'));
const vite = await import('vite');
await vite.build({ configFile: join(root, 'web', 'vite.config.ts'), logLevel: 'warn' });
console.log('built dist/ and web/dist/');
