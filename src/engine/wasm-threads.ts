/**
 * The multi-threaded wasm backend in Node.
 *
 * tfjs-backend-wasm ships a threaded+SIMD build whose workers are Emscripten pthreads, and that
 * build supports Node's worker_threads. tfjs 4.22 never starts it in Node, though: its loader hands
 * the worker script to `new Worker` as a `blob:` URL, which Node cannot load, so Node gets the
 * single-threaded build. Here the same build is started the way Emscripten expects in Node: the
 * worker script (shipped inside the package as a string) is written once to a file, the module
 * script is the package's own file, and the resulting module is wrapped in the package's
 * BackendWasm exactly as its own loader does. XNNPACK's convolutions and matrix products then run
 * on a pthreadpool; the element-wise kernels stay single-threaded.
 *
 * XNNPACK splits work by output tiles, each computed whole by one thread, so results are the same
 * bit for bit whatever the thread count (test/engine/wasm-threads.test.ts checks this).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { backendFromModule, withReportedCpuCount, type EmscriptenModule } from './tfjs-internals.ts';

const require = createRequire(import.meta.url);

type EmscriptenFactory = (config: Record<string, unknown>) => Promise<EmscriptenModule>;

/** The backend's pthread pool holds 8 workers, and its thread pool never uses more. */
export const MAX_WASM_THREADS = 8;

/** Threads the wasm backend will use in Node unless told otherwise: one per core (at most 8). */
export function defaultWasmThreads(): number {
  const fromEnv = process.env.CYCLEGAN_WASM_THREADS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isInteger(n) || n < 1) throw new Error(`CYCLEGAN_WASM_THREADS must be a positive integer, got '${fromEnv}'`);
    return n;
  }
  return Math.min(availableParallelism(), MAX_WASM_THREADS);
}

/**
 * The worker script as a file Node can start. It lives in a directory only this user can write
 * (a file another user planted would run inside our workers), and an existing copy is used only
 * when its content is exactly the script.
 */
async function workerScriptFile(contents: string): Promise<string> {
  const hash = createHash('sha256').update(contents).digest('hex').slice(0, 16);
  const uid = typeof process.getuid === 'function' ? process.getuid() : null;
  let dir = join(tmpdir(), `cyclegan-wasm-${uid ?? 'user'}`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info = await lstat(dir);
  if (!info.isDirectory() || (uid !== null && info.uid !== uid) || (info.mode & 0o077) !== 0) {
    dir = await mkdtemp(join(tmpdir(), 'cyclegan-wasm-')); // someone else's or shared: a fresh private one
  }
  const path = join(dir, `tfjs-backend-wasm-threaded-simd.worker.${hash}.js`);
  if (existsSync(path) && (await readFile(path, 'utf8')) === contents) return path;
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, contents, { mode: 0o600 });
  await rename(temporary, path);
  return path;
}

let registeredThreads: number | null = null;

/**
 * Replaces the 'wasm' backend's factory by one that starts the threaded build with `threads`
 * workers. Must run before the wasm backend is first initialised; returns false (and changes
 * nothing) when it already was or when `threads` is 1.
 */
export async function registerThreadedWasm(threads: number): Promise<boolean> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`wasm threads must be a positive integer, got ${threads}`);
  if (threads > MAX_WASM_THREADS) {
    throw new Error(`the wasm engine runs at most ${MAX_WASM_THREADS} threads, got ${threads}`);
  }
  if (registeredThreads !== null) return registeredThreads === threads;
  if (threads === 1) return false;
  if (tf.findBackend('wasm') != null) return false;
  if (typeof SharedArrayBuffer === 'undefined') return false;
  const modulePath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const factoryExport = require(modulePath) as EmscriptenFactory | { default: EmscriptenFactory };
  const factory = typeof factoryExport === 'function' ? factoryExport : factoryExport.default;
  const { wasmWorkerContents } = require('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js') as {
    wasmWorkerContents: string;
  };
  // The package stores the script in a template literal, which turned its "\n" escapes into
  // newlines inside string literals; tfjs's own loader escapes them back the same way.
  const workerPath = await workerScriptFile(wasmWorkerContents.replace(/\n/g, '\\n'));
  const wasmPath = join(dirname(modulePath), 'tfjs-backend-wasm-threaded-simd.wasm');

  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      // The backend caps its pool at half the logical cores, read once while the module starts
      // (it assumes two hyperthreads per core), which leaves a 2-core machine with 1 thread. For
      // that moment only, report as many logical cores as it needs to allow `threads`.
      const module = await withReportedCpuCount(2 * threads, () =>
        factory({
          locateFile: (file: string) => (file.endsWith('.worker.js') ? workerPath : file.endsWith('.wasm') ? wasmPath : file),
          // The workers import the module script by this path, then call its factory.
          mainScriptUrlOrBlob: modulePath,
        }),
      );
      const backend = backendFromModule(module, threads);
      // The pool's threads idle on a futex for the life of the process; Emscripten ref()s a
      // worker while its thread runs, which would keep Node alive after the program's last line.
      for (const worker of module.PThread?.runningWorkers ?? []) worker.unref();
      return backend;
    },
    2,
  );
  registeredThreads = threads;
  return true;
}
