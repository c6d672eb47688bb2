/**
 * `--init-from`: a new run starts from another model's generators (a checkpoint, run or export),
 * with fresh discriminators and optimizers.
 */
import type * as tf from '@tensorflow/tfjs';
import { util } from '@tensorflow/tfjs';
import { dirname } from 'node:path';
import type { Direction } from '../infer/manifest.ts';
import { locateGenerator, modelDirectionsOf } from '../infer/model-folder.ts';
import { loadLayersModel } from '../models/io.ts';
import { hasBtoA, methodLabel, type TrainModel } from './model.ts';

/**
 * Copies the generators of a checkpoint, run or export into a new run's; A→B only for
 * CUT, which has no other. The architecture must match: the error names the first weight that
 * differs, so a user sees which option to change.
 */
export async function warmStart(gan: TrainModel, source: string): Promise<void> {
  const networks = gan.networks();
  const targets: [Direction, tf.LayersModel][] = [['AtoB', networks.genAtoB!]];
  if (hasBtoA(gan.config.method)) targets.push(['BtoA', networks.genBtoA!]);
  const has = await modelDirectionsOf(source);
  const lacking = has && targets.find(([d]) => !has.includes(d));
  if (lacking) {
    throw new Error(
      `--init-from ${source}: it has no ${lacking[0] === 'BtoA' ? 'B→A' : 'A→B'} generator, which this ${methodLabel(gan.config.method)} run needs (CUT models and one-direction exports have A→B only)`,
    );
  }
  for (const [direction, target] of targets) {
    const modelJson = await locateGenerator(source, direction);
    const loaded = await loadLayersModel(dirname(modelJson));
    try {
      const from = loaded.getWeights();
      const to = target.getWeights();
      const mismatch = to.findIndex((w, i) => from[i] === undefined || !util.arraysEqual(w.shape, from[i]!.shape));
      if (mismatch >= 0 || from.length !== to.length) {
        const i = mismatch >= 0 ? mismatch : to.length;
        throw new Error(
          `--init-from ${source}: its ${direction} generator does not fit this run's (${gan.config.generator} ngf ${gan.config.ngf}): weight ${i} has shape ${JSON.stringify(from[i]?.shape ?? null)}, this run needs ${JSON.stringify(to[i]?.shape ?? null)}`,
        );
      }
      target.setWeights(from);
    } finally {
      loaded.dispose();
    }
  }
}
