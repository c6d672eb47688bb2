/**
 * Builds the browser page on demand, so `cyclegan serve` works on a fresh clone right after
 * `npm start` (web/dist is a build output, not in git). The build is Vite's, with the project's
 * own web/vite.config.ts, written to a temporary sibling folder and swapped in whole: an
 * interrupted build never leaves a half page that looks built.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDirAtomic } from '../util/atomic.ts';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VITE_CONFIG = join(PACKAGE_ROOT, 'web', 'vite.config.ts');
/** What the page is built from: a build older than any of these is rebuilt. */
// All of src/, not the modules cyclegan/web reaches today: a list would go stale as that entry grows.
const SOURCES = [join(PACKAGE_ROOT, 'web'), join(PACKAGE_ROOT, 'src')];

function newestChange(path: string, skip: string): number {
  if (path === skip || !existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestChange(join(path, name), skip)), stat.mtimeMs);
}

/** Why `outDir` needs a (re)build, or null when its page is there and newer than its sources. */
export function webBuildNeeded(outDir: string): string | null {
  const index = join(outDir, 'index.html');
  if (!existsSync(index)) return `${index} is missing`;
  // An installed package has the built page and none of its sources (nor Vite): what it has is
  // the build, whatever the timestamps its unpacking gave the folders.
  if (!existsSync(VITE_CONFIG) || !existsSync(join(PACKAGE_ROOT, 'src'))) return null;
  const built = statSync(index).mtimeMs;
  const changed = Math.max(...SOURCES.map((s) => newestChange(s, resolve(outDir))));
  return changed > built ? 'its sources changed since it was built' : null;
}

/**
 * Builds the page into `outDir` when it is missing or out of date; returns whether it built.
 * Needs Vite (a devDependency, there after `npm ci` in a clone).
 */
export async function ensureWebBuilt(outDir: string, log: (line: string) => void = console.log): Promise<boolean> {
  const why = webBuildNeeded(outDir);
  if (!why) return false;
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new Error(
      `the web app is not built (${why}) and Vite is not installed to build it: run \`npm install\` then \`npm run build:web\``,
    );
  }
  log(`building the web page (${why}) …`);
  const started = Date.now();
  await writeDirAtomic(outDir, async (tmp) => {
    await vite.build({ configFile: VITE_CONFIG, logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
  });
  log(`built the web page into ${outDir} in ${((Date.now() - started) / 1000).toFixed(0)}s`);
  return true;
}
