/**
 * Input pipeline throughput: `npm run bench -- data [--data DIR] [--pairs N]`.
 *
 * Measures images/s (2 images per pair) of the train pipeline at 256 (load 286, crop 256, random
 * flip) for several prefetch depths, the bare decode rate, and how long a training step would
 * wait in next() when the step itself takes a while (simulated by busy-waiting the JS thread).
 * Data: --data DIR or env CYCLEGAN_DATA (a ROOT with trainA/trainB), else synthetic 256x256
 * JPEGs made in a temp folder.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { Rng } from '../src/util/rng.ts';
import { openDataset } from '../src/data/dataset.ts';
import { readImage } from '../src/data/image-io.ts';
import { UnpairedPipeline, type ResizeMethod } from '../src/data/pipeline.ts';

/** What `npm run bench -- data --help` prints. */
export const usage = `npm run bench -- data [--data DIR] [--pairs N]
  Input pipeline throughput at 256 px (load 286, crop 256, flip) for several prefetch depths,
  the bare decode rate, and how long a step would wait for its images.
  --data DIR   a dataset root with trainA/ and trainB/ (default: env CYCLEGAN_DATA, else synthetic JPEGs)
  --pairs N    image pairs to read (default 200)`;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`${name}=`));
  return eq?.slice(name.length + 1);
}

async function makeSynthetic(root: string, perDomain: number): Promise<void> {
  const rng = new Rng(123);
  for (const split of ['trainA', 'trainB']) {
    mkdirSync(join(root, split), { recursive: true });
    for (let i = 0; i < perDomain; i++) {
      // Smoothed noise: closer to a photo's JPEG cost than raw noise.
      const small = Buffer.alloc(32 * 32 * 3);
      for (let k = 0; k < small.length; k++) small[k] = rng.int(256);
      const noise = Buffer.alloc(256 * 256 * 3);
      for (let k = 0; k < noise.length; k++) noise[k] = rng.int(32);
      const base = await sharp(small, { raw: { width: 32, height: 32, channels: 3 } })
        .resize(256, 256, { kernel: 'cubic' })
        .raw()
        .toBuffer();
      for (let k = 0; k < base.length; k++) base[k] = Math.min(255, base[k]! + noise[k]!);
      await sharp(base, { raw: { width: 256, height: 256, channels: 3 } })
        .jpeg({ quality: 90 })
        .toFile(join(root, split, `img_${String(i).padStart(4, '0')}.jpg`));
    }
  }
}

function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // simulated training step on the JS thread
  }
}

export async function run(args: string[]): Promise<void> {
  const pairs = Number(arg(args, '--pairs') ?? 200);
  let root = arg(args, '--data') ?? process.env.CYCLEGAN_DATA;
  let tmp: string | undefined;
  if (!root) {
    tmp = mkdtempSync(join(tmpdir(), 'cyclegan-bench-data-'));
    root = join(tmp, 'synthetic');
    process.stdout.write('making 2 x 100 synthetic 256x256 JPEGs ... ');
    await makeSynthetic(root, 100);
    console.log('done');
  }
  try {
    const ds = await openDataset(root);
    const files = { a: ds.trainA, b: ds.trainB };
    console.log(
      `data: ${root} (${files.a.length} A, ${files.b.length} B) | cores: ${availableParallelism()} | ` +
        `sharp threads: ${sharp.concurrency()} | UV_THREADPOOL_SIZE: ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
    );
    const rows: [string, string, string][] = [];

    // Bare decode (sequential, one at a time).
    {
      const list = [...files.a, ...files.b].slice(0, Math.min(2 * pairs, files.a.length + files.b.length));
      const t0 = performance.now();
      for (const f of list) await readImage(f);
      const s = (performance.now() - t0) / 1000;
      rows.push(['readImage, one at a time', `${list.length}`, (list.length / s).toFixed(1)]);
    }

    const measure = async (label: string, prefetch: number, resize: ResizeMethod, stepMs = 0) => {
      const p = new UnpairedPipeline(files, { loadSize: 286, cropSize: 256, resize, prefetch, seed: 1, epochLength: 'max' });
      for (let i = 0; i < 8; i++) await p.next(); // warm-up
      if (stepMs > 0) busyWait(stepMs);
      let waited = 0;
      const t0 = performance.now();
      for (let i = 0; i < pairs; i++) {
        const w0 = performance.now();
        await p.next();
        waited += performance.now() - w0;
        if (stepMs > 0) busyWait(stepMs);
      }
      const s = (performance.now() - t0) / 1000;
      p.close();
      const extra = stepMs > 0 ? ` | avg time in next(): ${(waited / pairs).toFixed(1)} ms` : '';
      rows.push([label + extra, `${2 * pairs}`, ((2 * pairs) / s).toFixed(1)]);
    };
    for (const prefetch of [0, 1, 4, 8]) await measure(`train 286->256 nearest, prefetch ${prefetch}`, prefetch, 'nearest');
    await measure('train 286->256 bicubic, prefetch 4', 4, 'bicubic');
    for (const prefetch of [0, 4]) await measure(`  with a 20 ms step, prefetch ${prefetch}`, prefetch, 'nearest', 20);

    const w = Math.max(...rows.map((r) => r[0].length));
    console.log(`\n${'case'.padEnd(w)} | ${'images'.padStart(6)} | ${'images/s'.padStart(8)}`);
    console.log(`${'-'.repeat(w)}-+-${'-'.repeat(6)}-+-${'-'.repeat(8)}`);
    for (const [c, n, r] of rows) console.log(`${c.padEnd(w)} | ${n.padStart(6)} | ${r.padStart(8)}`);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
