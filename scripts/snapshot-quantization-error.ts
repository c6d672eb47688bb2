// What a snapshot's weight encoding costs: the run's latest checkpoint's G_AtoB and D_B saved in
// float16 and in uint8 (src/models/io.ts), loaded back, and run beside the float32 originals on
// the first N images of a folder at SIZE px; prints the mean and largest |difference| of the
// outputs (generator outputs are in [-1, 1]: 1/127.5 is one grey level).
//
//   node --import tsx scripts/snapshot-quantization-error.ts RUN_FOLDER IMAGE_FOLDER [N=6] [SIZE=128]
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { decodeToRgb } from '../src/data/image-io.ts';
import { imageToTensor } from '../src/data/pixels.ts';
import { useBackend } from '../src/engine/backend.ts';
import { loadLayersModel, saveLayersModel } from '../src/models/io.ts';
import { loadCheckpoint } from '../src/train/checkpoint.ts';

const [run, images, n = '6', size = '128'] = process.argv.slice(2);
if (!run || !images) {
  console.error('usage: node --import tsx scripts/snapshot-quantization-error.ts RUN_FOLDER IMAGE_FOLDER [N] [SIZE]');
  process.exit(2);
}
await useBackend('wasm', { threads: 1 });
const side = Number(size);
const files = (await readdir(images)).sort().slice(0, Number(n));
const inputs = await Promise.all(
  files.map(async (f) => {
    const path = join(images, f);
    return imageToTensor(await decodeToRgb(path, path, { resize: { width: side, height: side } })).expandDims(0);
  }),
);
const ckpt = await loadCheckpoint(run);
const work = await mkdtemp(join(tmpdir(), 'cyclegan-quantization-'));
try {
  console.log(`${ckpt.dir}, ${files.length} images at ${side} px`);
  for (const net of ['genAtoB', 'discB']) {
    const original = ckpt.models[net]!;
    for (const quantize of ['float16', 'uint8'] as const) {
      await saveLayersModel(original, join(work, `${net}-${quantize}`), { quantize });
      const encoded = await loadLayersModel(join(work, `${net}-${quantize}`));
      let largest = 0;
      let sum = 0;
      for (const x of inputs) {
        const d = tf.tidy(() => tf.abs(tf.sub(original.predict(x) as tf.Tensor, encoded.predict(x) as tf.Tensor)));
        largest = Math.max(largest, (await d.max().data())[0]!);
        sum += (await d.mean().data())[0]!;
        d.dispose();
      }
      encoded.dispose();
      console.log(`${net} ${quantize}: mean |difference| ${(sum / inputs.length).toFixed(5)}, largest ${largest.toFixed(4)}`);
    }
  }
} finally {
  tf.dispose(inputs);
  for (const m of Object.values(ckpt.models)) m.dispose();
  await rm(work, { recursive: true, force: true });
}
