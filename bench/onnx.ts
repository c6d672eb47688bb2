/**
 * Translate latency of the full-size generators on tfjs-wasm (`model.predict`) and on ONNX
 * Runtime (onnxruntime-node, CPU EP) at 256×256 and 512×512, with peak memory.
 *
 *   npm run bench -- onnx [--repeats N] [--sizes 256,512] [--models unet,resnet9] [--engines wasm,onnx] [--threads T]
 *
 * U-Net (ngf 64) is fixed-size, so 512 uses a U-Net built for 512 (one more down/up level);
 * ResNet-9 (ngf 64) is fully convolutional. Every case runs in its own Node process, so its peak
 * RSS is its own: 'peak RSS' is the largest process.memoryUsage().rss sampled (every 10 ms and
 * after each run), 'maxRSS' the kernel's high-water mark (process.resourceUsage().maxRSS, which on
 * Linux starts at the parent's, so it only counts above the parent's own peak). The ONNX case
 * loads an .onnx file exported beforehand by another child process (so no tfjs weights sit in its
 * memory); latency is the median of N runs after one warm-up, input in, output read.
 * Both engines get the same seeded input and their outputs are compared (max |diff|).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs';

/** What `npm run bench -- onnx --help` prints. */
export const usage = `npm run bench -- onnx [--repeats N] [--sizes 256,512] [--models unet,resnet9] [--engines wasm,onnx] [--threads T]
  Translate latency and peak memory of the full-size generators on tfjs-wasm and ONNX Runtime,
  each case in its own process (median of N after a warm-up).`;

type ModelKind = 'unet' | 'resnet9';
type EngineKind = 'wasm' | 'onnx';

interface Case {
  model: ModelKind;
  size: number;
  engine: EngineKind;
  repeats: number;
  threads: number;
  /** .onnx file (onnx engine) */
  onnxFile?: string;
  /** Where the child writes its output for the cross-engine check. */
  outFile: string;
}

interface CaseResult {
  loadMs: number;
  times: number[];
  peakRssMb: number;
  maxRssMb: number;
}

const SEED = 1234;

function listOption<T extends string>(args: string[], name: string, allowed: readonly T[], fallback: T[]): T[] {
  const index = args.indexOf(name);
  if (index < 0) return fallback;
  const values = (args[index + 1] ?? '').split(',').filter(Boolean);
  for (const v of values) {
    if (!allowed.includes(v as T)) throw new Error(`${name}: unknown value '${v}' (expected ${allowed.join(', ')})`);
  }
  if (values.length === 0) throw new Error(`${name} needs a comma-separated list`);
  return values as T[];
}

function numberOption(args: string[], name: string, fallback: number): number {
  const index = args.indexOf(name);
  if (index < 0) return fallback;
  const value = Number(args[index + 1]);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive integer, got '${args[index + 1]}'`);
  return value;
}

async function buildModel(kind: ModelKind, size: number) {
  const { buildResnetGenerator, buildUnetGenerator } = await import('../src/models/generators.ts');
  return kind === 'unet' ? buildUnetGenerator({ size, ngf: 64, seed: SEED }) : buildResnetGenerator({ ngf: 64, nBlocks: 9, seed: SEED });
}

/** The same input in every process: a deterministic pattern in [-1, 1]. */
function makeInput(size: number): Float32Array {
  const data = new Float32Array(size * size * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.0137) * 0.9;
  return data;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Child process: times one case and prints its result as JSON on the last line. */
async function runCase(c: Case): Promise<CaseResult> {
  let peak = process.memoryUsage().rss;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 10);
  const input = makeInput(c.size);
  const times: number[] = [];
  let output: Float32Array;
  const t0 = performance.now();
  if (c.engine === 'onnx') {
    const { OnnxGenerator } = await import('../src/infer/onnx-engine.ts');
    const gen = await OnnxGenerator.load(c.onnxFile!, { intraOpNumThreads: c.threads });
    const loadMs = performance.now() - t0;
    output = await gen.run(input, c.size, c.size);
    sample();
    for (let i = 0; i < c.repeats; i++) {
      const start = performance.now();
      output = await gen.run(input, c.size, c.size);
      times.push(performance.now() - start);
      sample();
    }
    await gen.dispose();
    clearInterval(timer);
    await writeFile(c.outFile, new Uint8Array(output.buffer, output.byteOffset, output.byteLength));
    return { loadMs, times, peakRssMb: peak / 2 ** 20, maxRssMb: process.resourceUsage().maxRSS / 1024 };
  }
  const tf = await import('@tensorflow/tfjs');
  const { useBackend } = await import('../src/engine/backend.ts');
  await useBackend('wasm');
  const model = await buildModel(c.model, c.size);
  const loadMs = performance.now() - t0;
  const predict = (): Float32Array => {
    const y = tf.tidy(() => model.predict(tf.tensor4d(input, [1, c.size, c.size, 3])) as Tensor);
    const data = y.dataSync() as Float32Array;
    y.dispose();
    return data;
  };
  output = predict();
  sample();
  for (let i = 0; i < c.repeats; i++) {
    const start = performance.now();
    output = predict();
    times.push(performance.now() - start);
    sample();
  }
  model.dispose();
  clearInterval(timer);
  await writeFile(c.outFile, new Uint8Array(output.buffer, output.byteOffset, output.byteLength));
  return { loadMs, times, peakRssMb: peak / 2 ** 20, maxRssMb: process.resourceUsage().maxRSS / 1024 };
}

/** Child process (export mode): writes the ONNX model of one generator; returns its byte size. */
async function exportCase(e: { model: ModelKind; size: number; file: string }): Promise<number> {
  const { useBackend } = await import('../src/engine/backend.ts');
  const { generatorToOnnx } = await import('../src/export/onnx.ts');
  await useBackend('cpu');
  const m = await buildModel(e.model, e.size);
  const bytes = await generatorToOnnx(m);
  m.dispose();
  await writeFile(e.file, bytes);
  return bytes.length;
}

/** Runs this file in a child process in `mode`; returns the JSON it prints on its last line. */
function spawnChild(mode: '--child' | '--export', arg: object): unknown {
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, ['--import', 'tsx', self, mode, JSON.stringify(arg)], {
    encoding: 'utf8',
    maxBuffer: 16 * 2 ** 20,
  });
  const lines = (child.stdout ?? '').trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  if (child.status !== 0 || !/^[{\d]/.test(last)) {
    throw new Error(`bench ${mode} ${JSON.stringify(arg)} failed (exit ${child.status}):\n${child.stderr}\n${child.stdout}`);
  }
  return JSON.parse(last);
}

export async function run(args: string[]): Promise<void> {
  const repeats = numberOption(args, '--repeats', 5);
  const threads = numberOption(args, '--threads', 2);
  const sizes = listOption(args, '--sizes', ['256', '512'] as const, ['256', '512']).map(Number);
  const models = listOption(args, '--models', ['unet', 'resnet9'] as const, ['unet', 'resnet9']);
  const engines = listOption(args, '--engines', ['wasm', 'onnx'] as const, ['wasm', 'onnx']);
  const ort = await import('onnxruntime-node');
  const tf = await import('@tensorflow/tfjs');
  console.log(
    `onnx bench: tfjs ${tf.version.tfjs} (wasm) vs onnxruntime-node ${ort.env.versions.node} (cpu EP, ${threads} intra-op threads); ` +
      `median of ${repeats} runs after 1 warm-up; each case in its own process`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'cyclegan-bench-onnx-'));
  try {
    // Export the ONNX models in a child process (cpu backend), so this parent stays small: a
    // child's maxRSS starts from its parent's high-water mark (Linux keeps it across fork+exec).
    // The wasm children build identical tfjs models from the same seed.
    const onnxFiles = new Map<string, string>();
    if (engines.includes('onnx')) {
      for (const model of models) {
        for (const size of model === 'unet' ? sizes : sizes.slice(0, 1)) {
          const file = join(dir, `${model}-${size}.onnx`);
          const bytes = spawnChild('--export', { model, size, file }) as number;
          for (const s of model === 'unet' ? [size] : sizes) onnxFiles.set(`${model}-${s}`, file);
          console.log(`exported ${model}${model === 'unet' ? ` (size ${size})` : ''}: ${(bytes / 2 ** 20).toFixed(1)} MiB`);
        }
      }
    }

    const rows: Record<string, string>[] = [];
    for (const model of models) {
      for (const size of sizes) {
        const outputs = new Map<EngineKind, Float32Array>();
        for (const engine of engines) {
          const c: Case = {
            model,
            size,
            engine,
            repeats,
            threads,
            outFile: join(dir, `${model}-${size}-${engine}.bin`),
          };
          if (engine === 'onnx') c.onnxFile = onnxFiles.get(`${model}-${size}`);
          const r = spawnChild('--child', c) as CaseResult;
          const buf = await readFile(c.outFile);
          outputs.set(engine, new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4));
          const row: Record<string, string> = {
            model: model === 'unet' ? `U-Net ngf64 (size ${size})` : 'ResNet-9 ngf64',
            input: `${size}x${size}`,
            engine: engine === 'wasm' ? 'tfjs-wasm' : 'onnxruntime',
            'median ms': median(r.times).toFixed(0),
            'min ms': Math.min(...r.times).toFixed(0),
            'load ms': r.loadMs.toFixed(0),
            'peak RSS MiB': r.peakRssMb.toFixed(0),
            'maxRSS MiB': r.maxRssMb.toFixed(0),
          };
          rows.push(row);
          console.log(Object.values(row).join(' | '));
        }
        const a = outputs.get('wasm');
        const b = outputs.get('onnx');
        if (a && b) {
          let diff = 0;
          for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
          for (const row of rows.slice(-2)) row['max |diff|'] = diff.toExponential(1);
        }
      }
    }
    console.table(rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const child = process.argv.indexOf('--child');
  const exporter = process.argv.indexOf('--export');
  if (child >= 0) {
    console.log(JSON.stringify(await runCase(JSON.parse(process.argv[child + 1]!) as Case)));
  } else if (exporter >= 0) {
    console.log(JSON.stringify(await exportCase(JSON.parse(process.argv[exporter + 1]!))));
  } else {
    await run(process.argv.slice(2));
  }
}
