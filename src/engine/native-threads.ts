/**
 * More threads for the engine's own compiled kernels (native.ts). tfjs-wasm's pthread pool runs
 * XNNPACK only and JavaScript cannot reach it, so these are Node worker threads of our own: each
 * instantiates the same modules on the backend's shared memory, and a call is split into
 * contiguous ranges of the kernel's unit (tiles, positions, element groups), the calling thread
 * taking the first. Workers and caller meet on a small SharedArrayBuffer with Atomics: the caller
 * blocks until every part is done, so a kernel stays a synchronous call, as tfjs expects.
 *
 * Each unit is computed by the same instructions whoever takes it, so results do not depend on
 * the thread count (the kernels' files say why for each).
 */
import { Worker } from 'node:worker_threads';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { compiledNativeModule, nativeModule, NATIVE_MODULES, type NativeModuleName } from './native.ts';
import { wasmMemory } from './tfjs-internals.ts';

// Control block. Int32Array: generation, parts done, failures, function index; from byte 64 the
// first failure's message (UTF-16, MESSAGE_CHARS). Float64Array from byte 256: the argument count,
// up to MAX_ARGS - 1 values, the index of the scratch argument (-1 for none), then per worker its
// [begin, end) and its scratch offset, then the polling time (nativeThreadsTuning).
const GENERATION = 0;
const DONE = 1;
const FAILED = 2;
const FUNCTION = 3;
const INTS = 4;
const MESSAGE_AT = 64 / 2;
const MESSAGE_CHARS = (256 - 64) / 2;
const MAX_WORKERS = 7;
const ARGS = 256 / 8;
const MAX_ARGS = 24;
const RANGES = ARGS + 1 + MAX_ARGS;
const SPIN = RANGES + 3 * MAX_WORKERS;
const CONTROL_BYTES = (SPIN + 1) * 8;

export const nativeThreadsTuning = {
  /**
   * How long a thread polls for the next call (a worker) or for the others' parts (the caller)
   * before it sleeps on a futex. A futex wake-up took ~0.16 ms on average here, and a ResNet-6
   * ngf 32 step at 128 px makes ~1000 split calls, most of them back to back: without polling the
   * caller spent 39 % as long waiting for the workers as on its own parts (timing run() by hand
   * over `npm run bench -- train --one resnet6,128,wasm,32,32,cyclegan,1 --steps 3`). Steps with
   * 200 µs of polling against none, alternated in one process (by hand, no command here): medians
   * of six 1.72 s against 1.86, and 1.91 against 1.98; 1000 µs gave no more (1.37 against 1.35).
   */
  spinMicroseconds: 200,
};

/** The worker: a plain script (eval'd), so it needs no loader and no file next to the bundle. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { memory, modules, control, index, functions } = workerData;
const instances = {};
for (const [name, module] of Object.entries(modules)) instances[name] = new WebAssembly.Instance(module, { env: { memory } }).exports;
const calls = functions.map((qualified) => { const [m, f] = qualified.split('.'); return instances[m][f]; });
const ints = new Int32Array(control, 0, ${INTS});
const nums = new Float64Array(control);
// The generation is read before saying ready: a call started after the caller hears it must be seen as new.
let seen = Atomics.load(ints, ${GENERATION});
parentPort.postMessage('ready');
for (;;) {
  // Poll a while before sleeping: calls come in bursts, and a wake-up from the futex is slow.
  const until = performance.now() + nums[${SPIN}] / 1000;
  while (Atomics.load(ints, ${GENERATION}) === seen && performance.now() < until);
  Atomics.wait(ints, ${GENERATION}, seen);
  seen = Atomics.load(ints, ${GENERATION});
  try {
    const count = nums[${ARGS}];
    const args = [];
    for (let i = 0; i < count; i++) args.push(nums[${ARGS} + 1 + i]);
    const at = ${RANGES} + 3 * index;
    const scratchArg = nums[${ARGS} + ${MAX_ARGS}];
    if (scratchArg >= 0) args[scratchArg] = nums[at + 2];
    if (nums[at + 1] > nums[at]) calls[ints[${FUNCTION}]](...args, nums[at], nums[at + 1]);
  } catch (error) {
    if (Atomics.add(ints, ${FAILED}, 1) === 0) {
      const text = String(error && error.message ? error.message : error).slice(0, ${MESSAGE_CHARS} - 1);
      const chars = new Uint16Array(control, ${MESSAGE_AT} * 2, ${MESSAGE_CHARS});
      for (let i = 0; i < text.length; i++) chars[i] = text.charCodeAt(i);
      chars[text.length] = 0;
    }
  }
  Atomics.add(ints, ${DONE}, 1);
  Atomics.notify(ints, ${DONE});
}
`;

/** A part of a call that needs scratch of its own: which argument holds it and how far apart the parts' are. */
export interface Scratch {
  argument: number;
  /** Bytes between one part's scratch and the next (the caller's part uses the argument as given). */
  stride: number;
}

class NativeThreads {
  private readonly ints: Int32Array;
  private readonly nums: Float64Array;
  private readonly functions: string[];

  constructor(
    private readonly backend: BackendWasm,
    private readonly workers: Worker[],
    private readonly control: SharedArrayBuffer,
    functions: string[],
  ) {
    this.ints = new Int32Array(control, 0, INTS);
    this.nums = new Float64Array(control);
    this.functions = functions;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  run(module: NativeModuleName, name: string, args: number[], units: number, scratch?: Scratch): void {
    // Checked whether or not this call is split, so a call that works on one core works on all.
    if (args.length > MAX_ARGS - 1)
      throw new Error(`${module}.${name}: ${args.length} arguments, the thread pool passes at most ${MAX_ARGS - 1}`);
    const call = nativeModule(this.backend, module)[name] as (...values: number[]) => void;
    const parts = Math.min(this.threads, units);
    if (parts <= 1) {
      call(...args, 0, units);
      return;
    }
    const index = this.functions.indexOf(`${module}.${name}`);
    const { ints, nums } = this;
    nums[ARGS] = args.length;
    args.forEach((value, i) => (nums[ARGS + 1 + i] = value));
    nums[ARGS + MAX_ARGS] = scratch ? scratch.argument : -1;
    const bound = (part: number) => Math.floor((units * part) / parts);
    for (let w = 0; w < this.workers.length; w++) {
      const at = RANGES + 3 * w;
      const part = w + 1;
      nums[at] = part < parts ? bound(part) : 0;
      nums[at + 1] = part < parts ? bound(part + 1) : 0;
      nums[at + 2] = scratch ? args[scratch.argument]! + part * scratch.stride : 0;
    }
    Atomics.store(ints, DONE, 0);
    Atomics.store(ints, FAILED, 0);
    Atomics.store(ints, FUNCTION, index);
    nums[SPIN] = nativeThreadsTuning.spinMicroseconds;
    Atomics.add(ints, GENERATION, 1);
    Atomics.notify(ints, GENERATION);
    try {
      call(...args, 0, bound(1));
    } finally {
      // Wait for every part even when ours failed: the workers are still writing into buffers the
      // caller is about to free. Polled first, as the workers poll for calls.
      const until = performance.now() + nativeThreadsTuning.spinMicroseconds / 1000;
      while (Atomics.load(ints, DONE) < this.workers.length && performance.now() < until);
      for (let done = Atomics.load(ints, DONE); done < this.workers.length; done = Atomics.load(ints, DONE)) {
        Atomics.wait(ints, DONE, done);
      }
    }
    if (Atomics.load(ints, FAILED) > 0) {
      const chars = new Uint16Array(this.control, MESSAGE_AT * 2, MESSAGE_CHARS);
      const end = chars.indexOf(0);
      throw new Error(
        `${module}.${name} failed in a worker thread: ${String.fromCharCode(...chars.subarray(0, end < 0 ? MESSAGE_CHARS : end))}`,
      );
    }
  }
}

const pools = new WeakMap<BackendWasm, NativeThreads>();
const starting = new WeakMap<BackendWasm, Promise<void>>();

/** Calls per `module.function` since the process started: how tests see which path a kernel took. */
export const nativeCallCounts = new Map<string, number>();

/**
 * Starts `threads - 1` workers for the compiled kernels on `backend` (whose memory must be
 * shared: tfjs-wasm's threaded build). No-op for one thread or an unshared memory.
 */
export async function startNativeThreads(backend: BackendWasm, threads: number): Promise<void> {
  if (pools.has(backend) || threads <= 1) return;
  // Two calls not awaited in turn share one start instead of making two pools.
  let start = starting.get(backend);
  if (!start) {
    start = startWorkers(backend, threads).finally(() => starting.delete(backend));
    starting.set(backend, start);
  }
  await start;
}

/**
 * The workers' start. They live as long as the process (unref'd, idle on a futex) and are never
 * terminated once started: a split call waits for every part, so a pool with a missing worker
 * would wait forever.
 */
async function startWorkers(backend: BackendWasm, threads: number): Promise<void> {
  const memory = wasmMemory(backend);
  if (!(memory.buffer instanceof SharedArrayBuffer)) return;
  const modules = Object.fromEntries(NATIVE_MODULES.map((name) => [name, compiledNativeModule(backend, name)]));
  const functions = NATIVE_MODULES.flatMap((name) =>
    WebAssembly.Module.exports(modules[name]!)
      .filter((e) => e.kind === 'function')
      .map((e) => `${name}.${e.name}`),
  );
  const control = new SharedArrayBuffer(CONTROL_BYTES);
  const count = Math.min(threads - 1, MAX_WORKERS);
  const workers: Worker[] = [];
  for (let index = 0; index < count; index++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, modules, control, index, functions } });
    worker.unref(); // idle workers must not keep the process alive
    workers.push(worker);
  }
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            worker.once('message', () => resolve());
            worker.once('error', reject);
            worker.once('exit', (code) => reject(new Error(`a compiled-kernel worker exited with code ${code} while starting`)));
          }),
      ),
    );
  } catch (error) {
    await Promise.all(workers.map((worker) => worker.terminate()));
    throw error;
  }
  pools.set(backend, new NativeThreads(backend, workers, control, functions));
}

/**
 * Runs `module.name(...args, begin, end)` over [0, units) on the pool's threads, or whole on this
 * thread when there is no pool. With `scratch`, each part gets its own scratch buffer.
 */
export function runNative(
  backend: BackendWasm,
  module: NativeModuleName,
  name: string,
  args: number[],
  units: number,
  scratch?: Scratch,
): void {
  const key = `${module}.${name}`;
  nativeCallCounts.set(key, (nativeCallCounts.get(key) ?? 0) + 1);
  const pool = pools.get(backend);
  if (pool) pool.run(module, name, args, units, scratch);
  else (nativeModule(backend, module)[name] as (...values: number[]) => void)(...args, 0, units);
}

/** How many threads runNative splits a call over on `backend` (1 without a pool). */
export function nativeThreads(backend: BackendWasm): number {
  return pools.get(backend)?.threads ?? 1;
}
