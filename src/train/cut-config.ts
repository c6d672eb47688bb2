/**
 * The options CUT and FastCUT add to a training configuration, their presets and their checks.
 * Apart from cut.ts (which builds the model) so that config.ts can build TrainConfig on it; it
 * imports nothing of config.ts, which extends it (CutConfig is defined there).
 */

export type CutMethod = 'cut' | 'fastcut';
export const CUT_METHODS: readonly CutMethod[] = ['cut', 'fastcut'];

/** What CUT adds to a training configuration (cut_model.py's options). */
export interface CutOptions {
  method: CutMethod;
  /** λ_GAN: weight of G's adversarial loss. */
  lambdaGan: number;
  /** λ_NCE: weight of the PatchNCE loss. */
  lambdaNce: number;
  /** Also NCE(b, G(b)) (`--nce_idt`), averaged with NCE(a, G(a)). */
  nceIdentity: boolean;
  /** Flip the input batch horizontally with probability ½ per step (`--flip_equivariance`). */
  flipEquivariance: boolean;
  /** Patches sampled per tap and image (`--num_patches`). */
  ncePatches: number;
  /** Softmax temperature of PatchNCE (`--nce_T`). */
  nceTemperature: number;
}

/** The two modes of cut_model.py's modify_commandline_options. */
export const CUT_PRESETS: Record<CutMethod, CutOptions> = {
  cut: { method: 'cut', lambdaGan: 1, lambdaNce: 1, nceIdentity: true, flipEquivariance: false, ncePatches: 256, nceTemperature: 0.07 },
  fastcut: {
    method: 'fastcut',
    lambdaGan: 1,
    lambdaNce: 10,
    nceIdentity: false,
    flipEquivariance: true,
    ncePatches: 256,
    nceTemperature: 0.07,
  },
};

/**
 * The training options CUT's scripts use where they differ from, or must be, this project's paper
 * preset: no image pool (CUT sets pool_size 0), LSGAN, Adam 2e-4/0.5/0.999 with PyTorch's epsilon,
 * and the run lengths of its defaults (CUT: 200 + 200 epochs; FastCUT: 150 + 50).
 */
export interface CutTrainDefaults {
  poolSize: number;
  ganLoss: 'lsgan';
  lr: number;
  beta1: number;
  beta2: number;
  adamEpsilon: number;
  epochs: number;
  epochsDecay: number;
}

export const CUT_TRAIN_DEFAULTS: Record<CutMethod, CutTrainDefaults> = {
  cut: { poolSize: 0, ganLoss: 'lsgan', lr: 2e-4, beta1: 0.5, beta2: 0.999, adamEpsilon: 1e-8, epochs: 200, epochsDecay: 200 },
  fastcut: { poolSize: 0, ganLoss: 'lsgan', lr: 2e-4, beta1: 0.5, beta2: 0.999, adamEpsilon: 1e-8, epochs: 150, epochsDecay: 50 },
};

export const CUT_OPTION_KEYS: readonly (keyof CutOptions)[] = [
  'method',
  'lambdaGan',
  'lambdaNce',
  'nceIdentity',
  'flipEquivariance',
  'ncePatches',
  'nceTemperature',
];

/** Checks CUT's options, and the two training options CUT constrains. */
export function validateCutConfig(c: CutOptions & { generator: string; poolSize: number }): void {
  const fail = (what: string, value: unknown) => {
    throw new Error(`invalid CUT option ${what}: ${JSON.stringify(value)}`);
  };
  if (!CUT_METHODS.includes(c.method)) fail('method', c.method);
  if (c.generator === 'unet') {
    throw new Error(
      `--method ${c.method} needs the ResNet generator (--generator resnet9 or resnet6): PatchNCE contrasts the features of its encoder, which the U-Net does not have in that form`,
    );
  }
  if (c.poolSize !== 0)
    throw new Error(`--method ${c.method} trains without an image pool (CUT's pool_size is 0); got --pool-size ${c.poolSize}`);
  for (const key of ['lambdaGan', 'lambdaNce'] as const) if (!(Number.isFinite(c[key]) && c[key] >= 0)) fail(key, c[key]);
  for (const key of ['nceIdentity', 'flipEquivariance'] as const) if (typeof c[key] !== 'boolean') fail(key, c[key]);
  if (!(Number.isInteger(c.ncePatches) && c.ncePatches >= 1)) fail('ncePatches', c.ncePatches);
  if (!(Number.isFinite(c.nceTemperature) && c.nceTemperature > 0)) fail('nceTemperature', c.nceTemperature);
}
