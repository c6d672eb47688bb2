// Writes docs/images/horse2zebra.jpg, the README's picture: an example photo beside its
// translation by the embedded default model, translated at full size as `cyclegan translate`
// does and then scaled down for the page. Run it when the embedded model changes.
//
//   node --import tsx scripts/readme-figure.ts          (or: npm run docs:figure)
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { readImage } from '../src/data/image-io.ts';
import type { RgbImage } from '../src/data/pixels.ts';
import { EXAMPLES_DIR } from '../src/demo.ts';
import { useBackend } from '../src/engine/backend.ts';
import { defaultModel } from '../src/infer/embedded.ts';
import { loadTranslator } from '../src/infer/translator.ts';

const OUT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'images', 'horse2zebra.jpg');
/** CC0 (assets/examples/SOURCES.md), so the figure carries no licence terms of its own. */
const PHOTO = join(EXAMPLES_DIR, 'nokota-horses.webp');
const PANEL_WIDTH = 480;
const GAP = 8;

const raw = (img: RgbImage) => sharp(Buffer.from(img.data), { raw: { width: img.width, height: img.height, channels: 3 } });

const model = await defaultModel();
if (!model) throw new Error('no embedded default model (assets/models/DEFAULT)');
await useBackend('wasm', { winograd: true });
const photo = await readImage(PHOTO);
const translator = await loadTranslator(model.path, { direction: 'AtoB' });
const zebra = await translator.translate(photo);
translator.dispose();

const height = Math.round((photo.height * PANEL_WIDTH) / photo.width);
const panels = await Promise.all(
  [photo, zebra].map((img) => raw(img).resize(PANEL_WIDTH, height, { kernel: 'lanczos3' }).png().toBuffer()),
);
mkdirSync(dirname(OUT), { recursive: true });
await sharp({ create: { width: 2 * PANEL_WIDTH + GAP, height, channels: 3, background: '#ffffff' } })
  .composite(panels.map((input, i) => ({ input, left: i * (PANEL_WIDTH + GAP), top: 0 })))
  .jpeg({ quality: 88 })
  .toFile(OUT);
console.log(`wrote ${OUT} (${model.name}: ${PHOTO} and its translation)`);
