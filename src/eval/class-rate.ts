/**
 * The class rate: how often the classifier calls the images the target class (top-1), and how
 * sure it is on average (mean softmax probability of that class over all images, hits or not).
 */
import type { ImageStats } from './feature-net.ts';

export interface ClassRate {
  /** Share of images whose top-1 class is the target class, in [0, 1]. */
  rate: number;
  /** Mean probability of the target class, in [0, 1]. */
  meanProb: number;
}

export function classRate(stats: ImageStats, classIndex: number, rows?: ArrayLike<number>): ClassRate {
  const { probs, classes } = stats;
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classes) {
    throw new Error(`class index ${classIndex} is outside 0..${classes - 1}`);
  }
  const count = rows ? rows.length : stats.features.count;
  if (count === 0) throw new Error('class rate of no images');
  let hits = 0;
  let sum = 0;
  for (let r = 0; r < count; r++) {
    const row = (rows ? rows[r]! : r) * classes;
    const p = probs[row + classIndex]!;
    sum += p;
    // Top-1 with ties going to the lower index, as argmax does.
    let best = 0;
    for (let k = 1; k < classes; k++) if (probs[row + k]! > probs[row + best]!) best = k;
    if (best === classIndex) hits++;
  }
  return { rate: hits / count, meanProb: sum / count };
}
