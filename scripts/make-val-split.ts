// Draws a validation split once: node --import tsx scripts/make-val-split.ts ROOT NAME [COUNT] [SEED]
// The result is committed (src/data/splits/NAME.json); never re-draw a split that models were measured on.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { isImageFile } from '../src/data/dataset.ts';
import { drawSplit } from '../src/data/splits.ts';

const [root, name, count = '100', seed = '2026'] = process.argv.slice(2);
if (!root || !name) {
  console.error('usage: make-val-split.ts ROOT NAME [COUNT] [SEED]');
  process.exit(2);
}
const list = (d: string) => readdirSync(join(root, d)).filter(isImageFile);
const split = drawSplit(name, list('trainA'), list('trainB'), Number(count), Number(seed));
process.stdout.write(`${JSON.stringify(split, null, 1)}\n`);
