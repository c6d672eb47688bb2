/** The table of training options: one entry per config key, the CLI built from it, the same parse and messages as before. */
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { CommanderError, type Command } from 'commander';
import { buildProgram, main } from '../../src/cli/main.ts';
import { configFromOptions } from '../../src/cli/commands/train.ts';
import { PRESETS, resolveConfig, type TrainConfig } from '../../src/train/config.ts';
import { CUT_OPTION_KEYS } from '../../src/train/cut-config.ts';
import {
  CUT_ONLY_OPTIONS,
  FEATURE_ONLY_OPTIONS,
  NOT_OPTIONS,
  OptionValueError,
  optionFlags,
  TRAIN_OPTION_KEYS,
  TRAIN_OPTIONS,
  trainConfigFromValues,
} from '../../src/train/options.ts';

/** The options of `cyclegan train` that are not config: where data and run are, and train()'s maxSteps. */
const RUN_FLAGS = ['--data', '--out', '--resume', '--max-steps'];

function trainCommand(program: Command): Command {
  const train = program.commands.find((c) => c.name() === 'train');
  assert.ok(train);
  return train;
}

/** Parses `cyclegan train ARGV` with commander (no training) and maps it as the train command does. */
async function parseTrain(argv: string[]): Promise<{ config: Partial<TrainConfig>; opts: Record<string, unknown> }> {
  const program = buildProgram();
  let opts: Record<string, unknown> = {};
  trainCommand(program).action((_o: unknown, cmd: Command) => {
    opts = cmd.opts();
  });
  await program.parseAsync(['node', 'cyclegan', 'train', ...argv]);
  return { config: configFromOptions(opts), opts };
}

/** commander's usage error for `cyclegan train ARGV` (what the CLI prints before "(run with --help for usage)"). */
async function usageError(argv: string[]): Promise<string> {
  const program = buildProgram();
  trainCommand(program).configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const error = await program.parseAsync(['node', 'cyclegan', 'train', ...argv]).then(
    () => assert.fail('no usage error'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CommanderError);
  return error.message;
}

describe('training options table', () => {
  it('covers every config key once: the table, plus the keys no flag sets', () => {
    const configKeys = Object.keys(PRESETS.paper).sort();
    const covered = [...TRAIN_OPTION_KEYS, ...NOT_OPTIONS].sort();
    assert.deepEqual(covered, configKeys);
    assert.equal(new Set(covered).size, covered.length, 'a key in both the table and NOT_OPTIONS');
    assert.deepEqual(Object.keys(PRESETS.tutorial).sort(), configKeys);
  });

  it('every flag of `cyclegan train` is one table entry (or a run option), each exactly once', () => {
    const train = trainCommand(buildProgram());
    const longs = train.options.map((o) => o.long ?? '');
    assert.equal(new Set(longs).size, longs.length, `duplicate flags: ${longs.join(' ')}`);
    const owner = new Map<string, string>();
    for (const key of TRAIN_OPTION_KEYS) {
      for (const flag of optionFlags(TRAIN_OPTIONS[key])) {
        assert.ok(!owner.has(flag), `${flag} in two entries`);
        owner.set(flag, key);
      }
    }
    const fromTable = longs.filter((flag) => !RUN_FLAGS.includes(flag));
    assert.deepEqual(longs.filter((flag) => RUN_FLAGS.includes(flag)).sort(), [...RUN_FLAGS].sort());
    assert.deepEqual(fromTable.sort(), [...owner.keys()].sort());
    // The help lists them in the table's order (--max-steps after --keep, as before).
    assert.deepEqual(
      longs.filter((flag) => owner.has(flag)).map((flag) => owner.get(flag)),
      TRAIN_OPTION_KEYS.flatMap((key) => optionFlags(TRAIN_OPTIONS[key]).map(() => key)),
    );
    assert.equal(longs[longs.indexOf('--keep') + 1], '--max-steps');
  });

  it("the CUT-only options are CUT's, in cut-config.ts's order", () => {
    assert.deepEqual(
      CUT_ONLY_OPTIONS,
      CUT_OPTION_KEYS.filter((k) => k !== 'method'),
    );
  });

  it("help texts quote the presets' defaults", () => {
    assert.equal(TRAIN_OPTIONS.lambdaNce.description, 'CUT: PatchNCE weight (default CUT 1, FastCUT 10)');
    assert.equal(TRAIN_OPTIONS.nceIdentity.description, 'CUT: also PatchNCE on G(B) against B (default on for CUT, off for FastCUT)');
    assert.equal(
      TRAIN_OPTIONS.saveLatestEvery.description,
      'also checkpoint every N steps, replacing the previous step checkpoint (0 = off; default 250)',
    );
  });

  it('a sample argv gives the config it always gave', async () => {
    // Flags and their values, split on spaces (no value here has one).
    const argv = [
      '--data horse2zebra --out runs/x --preset tutorial --ngf 4 --ndf 4 --crop-size 32 --load-size 36 --pool-size 0',
      '--epochs 3 --seed 11 --save-every 1 --save-latest-every 0 --max-steps 10 --method fastcut --generator resnet6',
      '--lambda-gan 2 --lambda-nce 5 --no-nce-idt --flip-equivariance --nce-patches 64 --nce-temperature 0.1',
      '--no-flip --gan-loss lsgan --lr 0.001 --beta1 0.9 --resize nearest --epoch-length min --keep 2',
      '--val-split my/list.json --eval-every 50 --eval-size 64 --eval-class-a sorrel --eval-class-b zebra',
      '--init-from runs/old',
    ]
      .join(' ')
      .split(' ');
    const { config, opts } = await parseTrain(argv);
    assert.deepEqual(config, {
      preset: 'tutorial',
      method: 'fastcut',
      lambdaGan: 2,
      lambdaNce: 5,
      nceIdentity: false,
      flipEquivariance: true,
      ncePatches: 64,
      nceTemperature: 0.1,
      generator: 'resnet6',
      ngf: 4,
      ndf: 4,
      ganLoss: 'lsgan',
      poolSize: 0,
      lr: 0.001,
      beta1: 0.9,
      epochs: 3,
      loadSize: 36,
      cropSize: 32,
      resize: 'nearest',
      epochLength: 'min',
      flip: false,
      saveEvery: 1,
      saveLatestEvery: 0,
      keep: 2,
      // A split file and --init-from are made absolute; a built-in split name is kept.
      valSplit: resolve('my/list.json'),
      evalEvery: 50,
      evalSize: 64,
      evalClassA: 'sorrel',
      evalClassB: 'zebra',
      initFrom: resolve('runs/old'),
      seed: 11,
    });
    assert.deepEqual([opts.data, opts.out, opts.maxSteps], ['horse2zebra', 'runs/x', 10]);
    assert.doesNotThrow(() => resolveConfig(config));
  });

  it('options not given stay undefined, so the presets decide (--x/--no-x pairs and --no-flip included)', async () => {
    assert.deepEqual((await parseTrain([])).config, {});
    assert.deepEqual((await parseTrain(['--val-split', 'horse2zebra', '--nce-idt', '--no-flip-equivariance', '--method', 'cut'])).config, {
      method: 'cut',
      nceIdentity: true,
      flipEquivariance: false,
      valSplit: 'horse2zebra',
    });
  });

  it("the library function takes raw text too, with the CLI's checks", () => {
    assert.deepEqual(trainConfigFromValues({ ngf: '8', lr: '1e-3', method: 'cut', flip: true, nceIdentity: false }), {
      ngf: 8,
      lr: 0.001,
      method: 'cut',
      nceIdentity: false,
    });
    assert.throws(
      () => trainConfigFromValues({ ngf: 'abc' }),
      (e: unknown) => e instanceof OptionValueError && e.message === "--ngf must be an integer >= 1, got 'abc'",
    );
    assert.throws(() => trainConfigFromValues({ ngf: 2.5 }), /^OptionValueError: --ngf must be an integer >= 1, got '2\.5'$/);
    assert.throws(() => trainConfigFromValues({ generator: 'vgg' }), /--generator: "vgg" is not one of unet, resnet9, resnet6/);
  });

  it('a bad value is the same usage error as before', async () => {
    assert.equal(
      await usageError(['--out', 'x', '--ngf', 'abc']),
      "error: option '--ngf <n>' argument 'abc' is invalid. --ngf must be an integer >= 1, got 'abc'",
    );
    assert.equal(
      await usageError(['--out', 'x', '--lr', '-1']),
      "error: option '--lr <x>' argument '-1' is invalid. --lr must be a number >= 0, got '-1'",
    );
    assert.equal(
      await usageError(['--out', 'x', '--eval-every', '-1']),
      "error: option '--eval-every <n>' argument '-1' is invalid. --eval-every must be an integer >= 0, got '-1'",
    );
    assert.equal(
      await usageError(['--out', 'x', '--nce-patches', '0']),
      "error: option '--nce-patches <n>' argument '0' is invalid. --nce-patches must be an integer >= 1, got '0'",
    );
    assert.equal(
      await usageError(['--out', 'x', '--method', 'foo']),
      "error: option '--method <name>' argument 'foo' is invalid. Allowed choices are cyclegan, cut, fastcut.",
    );
  });

  it('CUT options on a CycleGAN run: the message test/train/cut-train.test.ts asserts', async () => {
    const lines: string[] = [];
    const error = console.error;
    console.error = (...xs: unknown[]) => void lines.push(xs.join(' '));
    try {
      const code = await main([
        'node',
        'cyclegan',
        '--backend',
        'cpu',
        'train',
        '--data',
        'nowhere',
        '--out',
        'nowhere',
        '--lambda-nce',
        '5',
        '--no-nce-idt',
      ]);
      assert.deepEqual(
        [code, lines.join('\n')],
        [1, 'cyclegan: --lambda-nce, --nce-idt: CUT options, for --method cut or fastcut (this run trains a CycleGAN)'],
      );
    } finally {
      console.error = error;
    }
  });

  it('the feature discriminator: --feature-disc mobilenetv2 with --lambda-feature and --feature-augment; those two alone are refused', async () => {
    assert.deepEqual(FEATURE_ONLY_OPTIONS, ['lambdaFeature', 'featureAugment']);
    assert.deepEqual((await parseTrain(['--feature-disc', 'mobilenetv2', '--lambda-feature', '0.5', '--feature-augment'])).config, {
      featureDisc: 'mobilenetv2',
      lambdaFeature: 0.5,
      featureAugment: true,
    });
    assert.deepEqual((await parseTrain(['--feature-disc', 'mobilenetv2', '--no-feature-augment'])).config, {
      featureDisc: 'mobilenetv2',
      featureAugment: false,
    });
    assert.deepEqual([PRESETS.paper.featureDisc, PRESETS.paper.lambdaFeature, PRESETS.paper.featureAugment], ['none', 1, false]);
    assert.equal(
      await usageError(['--out', 'x', '--feature-disc', 'vgg']),
      "error: option '--feature-disc <backbone>' argument 'vgg' is invalid. Allowed choices are none, mobilenetv2.",
    );
    const lines: string[] = [];
    const error = console.error;
    console.error = (...xs: unknown[]) => void lines.push(xs.join(' '));
    try {
      const argv = ['node', 'cyclegan', '--backend', 'cpu', 'train', '--data', 'nowhere', '--out', 'nowhere'];
      const code = await main([...argv, '--lambda-feature', '2', '--feature-augment']);
      assert.deepEqual(
        [code, lines.join('\n')],
        [
          1,
          'cyclegan: --lambda-feature, --feature-augment: options of the feature discriminator, for --feature-disc mobilenetv2 (this run has none)',
        ],
      );
    } finally {
      console.error = error;
    }
  });
});
