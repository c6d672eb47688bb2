/**
 * The exact-resume cases, shared by test/faults/exact-resume.test.ts and the stress scripts
 * (scripts/stress-exact-resume.ts, scripts/stress-step-determinism.ts) that repeat them.
 */

// 4 A and 5 B images: the tutorial's 'min' epoch has 4 steps, the paper's 'max' epoch 5 (B's
// images, A cycling through a second permutation). Pool size 2 so that from step 3 on the pools
// swap images by the run's Rng.
export const RESUME_DATA = { size: 32, trainA: 4, trainB: 5, testA: 1, testB: 1 } as const;

export const UNET = {
  preset: 'tutorial',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  poolSize: 2,
  epochs: 2,
  saveEvery: 1,
  seed: 7,
} as const;
// One epoch at the full rate, then one of linear decay: the cuts at 6 and 7 resume into the decay.
export const RESNET = {
  preset: 'paper',
  generator: 'resnet6',
  ngf: 4,
  ndf: 4,
  cropSize: 32,
  loadSize: 36,
  poolSize: 2,
  epochs: 1,
  epochsDecay: 1,
  saveEvery: 1,
  seed: 7,
} as const;

/** Where the stopped runs stop: in the first epoch, at its end and into the second. */
export const CUTS = [1, 2, 3, 6, 7];
/** The ResNet runs stop 3 steps into the decay epoch: the final checkpoint then holds running sums over a cut. */
export const RESNET_MAX_STEPS = 8;
