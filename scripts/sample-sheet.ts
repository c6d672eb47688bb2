// The sample sheet of any model (a run, checkpoint, export or imported folder): the first 8
// validation horses beside their A→B translations, laid out as the sheets a run writes at each
// validation, so that a model trained elsewhere can be set beside a run's own sheets.
//
//   node --import tsx scripts/sample-sheet.ts MODEL VAL_A_FOLDER OUT.jpg [SIZE]
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { useBackend } from '../src/engine/backend.ts';
import { loadEvalImages } from '../src/eval/images.ts';
import { generatorFile, openModel } from '../src/infer/model-folder.ts';
import { loadLayersModel } from '../src/models/io.ts';
import { SHEET_IMAGES, writeSampleSheet } from '../src/train/validation.ts';

const [model, valA, out, size = '256'] = process.argv.slice(2);
if (!model || !valA || !out) {
  console.error('usage: node --import tsx scripts/sample-sheet.ts MODEL VAL_A_FOLDER OUT.jpg [SIZE]');
  process.exit(2);
}
await useBackend('wasm', { threads: 1 });
const names = (await readdir(valA)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
const images = await loadEvalImages(
  names.slice(0, SHEET_IMAGES).map((f) => join(valA, f)),
  Number(size),
);
const generator = await loadLayersModel(dirname(generatorFile(await openModel(model), 'AtoB')));
await writeSampleSheet((x) => generator.apply(x, { training: false }) as tf.Tensor4D, images, out);
console.log(`wrote ${out}`);
