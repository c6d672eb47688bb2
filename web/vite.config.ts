import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const webDir = dirname(fileURLToPath(import.meta.url));

// The demo page: `npm run build:web` writes web/dist, which `cyclegan serve` serves with a model.
export default defineConfig({
  root: webDir,
  // Relative asset URLs, so the page works wherever it is mounted.
  base: './',
  build: {
    outDir: resolve(webDir, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    // The .wasm binaries must stay files (setWasmPaths points at them), never inlined.
    assetsInlineLimit: 0,
  },
  // The page imports the library's browser-safe entry by its package name, as a user's page would.
  resolve: { alias: { 'cyclegan/web': resolve(webDir, '..', 'src', 'web.ts') } },
  server: {
    // The page imports the shared model code from ../src.
    fs: { allow: [resolve(webDir, '..')] },
  },
});
