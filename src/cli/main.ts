/**
 * The `cyclegan` command line: a thin shell over the library. Each command's module is loaded only
 * when that command runs, so `--help` is instant and a missing optional engine breaks nothing else.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES } from '../engine/backend.ts';
import { OFFICIAL_RESNETS } from '../models/official.ts';
import { OFFICIAL_UNETS } from '../models/official-unet.ts';
import {
  OptionValueError,
  parseIntegerText,
  parseNumberText,
  TRAIN_OPTION_KEYS,
  TRAIN_OPTIONS,
  type TrainOption,
} from '../train/options.ts';
import { describeError } from './errors.ts';
import type { Action, GlobalOptions } from './options.ts';

/** A library text parser as a commander argument parser: its OptionValueError becomes commander's usage error. */
function argParser<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof OptionValueError) throw new InvalidArgumentError(error.message);
      throw error;
    }
  };
}

export function parseInteger(name: string, min = 0) {
  return argParser(parseIntegerText(name, min));
}

export function parseNumber(name: string, min = 0) {
  return argParser(parseNumberText(name, min));
}

/**
 * The commander options of one entry of the training options table (two for a --x/--no-x pair).
 * The first one's long flag is the entry's `flag`, so its attribute is `new Option(spec.flag).attributeName()`.
 */
export function trainCommanderOptions(spec: TrainOption): Option[] {
  switch (spec.kind) {
    case 'int':
      return [new Option(`${spec.flag} ${spec.placeholder}`, spec.description).argParser(parseInteger(spec.flag, spec.min))];
    case 'float':
      return [new Option(`${spec.flag} ${spec.placeholder}`, spec.description).argParser(parseNumber(spec.flag, spec.min))];
    case 'choice':
      return [new Option(`${spec.flag} ${spec.placeholder}`, spec.description).choices(spec.choices)];
    case 'string':
    case 'path':
    case 'split':
      return [new Option(`${spec.flag} ${spec.placeholder}`, spec.description)];
    case 'toggle':
      return [new Option(spec.flag, spec.description), new Option(`--no-${spec.flag.slice(2)}`, spec.negatedDescription)];
    case 'negation':
      return [new Option(spec.flag, spec.description)];
  }
}

/**
 * The command modules, each loaded only when its command runs. Literal specifiers (not a template)
 * so that tsc's rewriteRelativeImportExtensions rewrites them when the CLI is compiled.
 */
const COMMANDS = {
  download: () => import('./commands/download.ts'),
  preview: () => import('./commands/preview.ts'),
  train: () => import('./commands/train.ts'),
  translate: () => import('./commands/translate.ts'),
  test: () => import('./commands/test.ts'),
  eval: () => import('./commands/eval.ts'),
  export: () => import('./commands/export.ts'),
  import: () => import('./commands/import.ts'),
  serve: () => import('./commands/serve.ts'),
  models: () => import('./commands/models.ts'),
  demo: () => import('./commands/demo.ts'),
} satisfies Record<string, () => Promise<{ run: Action }>>;

type CommandName = keyof typeof COMMANDS;

/** Loads a command module and runs its `run` export. */
function lazy(name: CommandName): Action {
  return async (opts, globals, args) => {
    const mod = await COMMANDS[name]();
    return mod.run(opts, globals, args);
  };
}

export function buildProgram(): Command {
  const program = new Command('cyclegan')
    .description('Unpaired image-to-image translation with CycleGAN (horse <-> zebra), on TensorFlow.js')
    // Global options, not training config: the compute engine for every command.
    .addOption(new Option('--backend <name>', 'compute engine').choices(BACKEND_NAMES as string[]).default('auto'))
    .addOption(
      new Option('--threads <n>', 'threads for the wasm engine, 1-8 (default: one per core)').argParser(parseInteger('--threads', 1)),
    )
    .option('--verbose', 'print stack traces and engine details', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  /** Commands that read a model: --model defaults to the embedded one (eval may run without any). */
  const readsModel: Partial<Record<CommandName, 'required' | 'optional'>> = {
    translate: 'required',
    test: 'required',
    export: 'required',
    serve: 'required',
    eval: 'optional',
  };
  const add = (name: CommandName, description: string) => {
    const cmd = program.command(name).description(description).exitOverride();
    cmd.action(async (...actionArgs: unknown[]) => {
      const command = actionArgs[actionArgs.length - 1] as Command;
      const globals = program.opts() as GlobalOptions;
      const opts = command.opts();
      const need = readsModel[name];
      if (need) {
        const { resolveModelArg } = await import('./model-arg.ts');
        opts.model = await resolveModelArg(opts.model as string | undefined, need === 'optional');
      }
      const code = await lazy(name)(opts, globals, command.args);
      if (typeof code === 'number') process.exitCode = code;
    });
    return cmd;
  };

  add('download', 'download an official CycleGAN dataset (zip) into the cache')
    .argument('<name>', 'dataset name, e.g. horse2zebra')
    .option('--dir <dir>', 'cache folder (default: $XDG_CACHE_HOME/cyclegan or ~/.cache/cyclegan)');

  add('preview', 'write a PNG grid of samples before and after preprocessing')
    .requiredOption('--data <root>', 'dataset folder with trainA/ and trainB/')
    .option('--out <file>', 'output PNG', 'preview.png')
    .option('--n <count>', 'samples per domain', parseInteger('--n', 1), 4)
    .option('--load-size <px>', 'resize before cropping', parseInteger('--load-size', 8), 286)
    .option('--crop-size <px>', 'random crop size', parseInteger('--crop-size', 8), 256)
    .option('--seed <n>', 'random seed', parseInteger('--seed'), 0)
    .option('--overwrite', 'replace an existing preview file', false);

  const train = add('train', 'train a CycleGAN, CUT or FastCUT (resumable; Ctrl-C saves a checkpoint)')
    // Not config: where the data and the run are, and how long this process runs (train()'s own options).
    .option('--data <root-or-name>', 'dataset folder (trainA/, trainB/, testA/, testB/) or an official dataset name')
    .option('--out <run-dir>', 'run folder: checkpoints, samples, log.jsonl, losses.png')
    .option('--resume <run-dir>', 'continue the run in this folder exactly where it stopped');
  const maxSteps = new Option('--max-steps <n>', 'stop (with a checkpoint) after N steps in total').argParser(
    parseInteger('--max-steps', 1),
  );
  // Every config option comes from the table (src/train/options.ts); --max-steps keeps its place after --keep.
  for (const key of TRAIN_OPTION_KEYS) {
    for (const option of trainCommanderOptions(TRAIN_OPTIONS[key])) train.addOption(option);
    if (key === 'keep') train.addOption(maxSteps);
  }

  add('translate', 'translate images of any size with a trained generator')
    .argument('<inputs...>', 'image files, folders or globs')
    .option(
      '--model <path>',
      'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)',
    )
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--direction <dir>', 'which generator').choices(['AtoB', 'BtoA']).default('AtoB'))
    .addOption(new Option('--engine <engine>', 'inference engine (default: onnx for an ONNX model, else tfjs)').choices(['tfjs', 'onnx']))
    .addOption(new Option('--format <ext>', "output format (default: the input's)").choices(['png', 'jpg']))
    .option('--overwrite', 'replace outputs that already exist (inputs are never overwritten)', false)
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100 megapixels)', parseInteger('--max-pixels', 1));

  add('test', 'translate and reconstruct every test image; write an HTML report')
    .option(
      '--model <path>',
      'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)',
    )
    .requiredOption('--data <root>', 'dataset folder with testA/ and testB/')
    .option('--out <dir>', 'report folder', 'report')
    .addOption(new Option('--engine <engine>', 'inference engine (default: onnx for an ONNX model, else tfjs)').choices(['tfjs', 'onnx']))
    .option('--overwrite', 'replace an existing report in --out', false)
    .option('--no-eval', 'no evaluation figures (KID, class rate) on the report page')
    .option('--target-class <label>', "ImageNet class of domain B for the report's A→B class rate, e.g. zebra")
    .option('--source-class <label>', "ImageNet class of domain A for the report's B→A class rate, e.g. sorrel")
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100 megapixels)', parseInteger('--max-pixels', 1));

  add('eval', 'measure a model: KID against real target images and the ImageNet class rate, with floor and ceiling')
    .option(
      '--model <path>',
      'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model); without any: the floors and ceilings alone',
    )
    .requiredOption('--data <root>', 'dataset folder')
    .addOption(
      new Option('--split <split>', 'which images: val (valA/valB or --val-split), test (testA/testB) or train')
        .choices(['val', 'test', 'train'])
        .default('val'),
    )
    .option('--val-split <name-or-file>', 'validation list held out of trainA/trainB (built-in: horse2zebra)')
    .addOption(new Option('--direction <dir>', 'evaluate one direction only').choices(['AtoB', 'BtoA']))
    .option('--target-class <label>', 'ImageNet class of domain B, e.g. zebra (for A→B)')
    .option('--source-class <label>', 'ImageNet class of domain A, e.g. sorrel (for B→A)')
    .option('--size <px>', 'translate at this size (images are resized to a square)', parseInteger('--size', 8), 256)
    .option('--subsets <n>', 'KID subsets', parseInteger('--subsets', 1), 100)
    .option('--seed <n>', 'seed of the KID subsets', parseInteger('--seed'), 0)
    .option('--json', 'print JSON instead of a table', false);

  add('export', 'export generators as a tfjs LayersModel folder, ONNX files or official PyTorch state_dicts (safetensors)')
    .option(
      '--model <path>',
      'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)',
    )
    .addOption(new Option('--format <format>', 'export format').choices(['tfjs', 'onnx', 'safetensors']).default('tfjs'))
    .requiredOption('--out <path>', 'output folder (tfjs), folder for the .onnx files, or for latest_net_G_A/G_B.safetensors')
    .addOption(new Option('--direction <dir>', 'export one direction only').choices(['AtoB', 'BtoA']))
    .addOption(
      new Option('--quantize <kind>', 'tfjs: store weights as float16 (half the size) or uint8 (a quarter)').choices(['float16', 'uint8']),
    );

  add('import', 'import official PyTorch CycleGAN generators (a torch.save state_dict .pth, or .safetensors) as a model folder')
    .argument('<files...>', 'one generator, or two (G_A and G_B of one model)')
    .requiredOption('--out <dir>', 'model folder to write')
    .addOption(
      new Option('--net <name>', 'official --netG (default: read off the keys)').choices([
        ...Object.keys(OFFICIAL_RESNETS),
        ...Object.keys(OFFICIAL_UNETS),
      ]),
    )
    .option('--ngf <n>', 'official --ngf (default: read off the shapes)', parseInteger('--ngf', 1))
    .addOption(
      new Option('--direction <dir>', 'direction of a single file (default AtoB, or BtoA for a G_B file)').choices(['AtoB', 'BtoA']),
    );

  add('serve', 'serve the web demo and a model on localhost')
    .option(
      '--model <path>',
      'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)',
    )
    .option('--port <n>', 'port on 127.0.0.1', parseInteger('--port', 0), 8080);

  add('models', 'list the models embedded in the package (the default first), with their model cards').option(
    '--json',
    'print the model cards as JSON',
    false,
  );

  add('demo', 'offline: the example photos through the embedded model (or, without one, synthetic data, a short training run, a report)')
    .option('--out <dir>', 'where to write the demo run', 'runs/demo')
    .option('--steps <n>', 'training steps', parseInteger('--steps', 1))
    .option('--synthetic', 'the synthetic pipeline demo (training included) even when a default model is embedded', false)
    .option('--seed <n>', 'random seed', parseInteger('--seed'), 0);

  return program;
}

/** Runs the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed help or the usage error.
      return error.exitCode;
    }
    const verbose = argv.includes('--verbose');
    console.error(`cyclegan: ${describeError(error)}`);
    if (verbose && error instanceof Error && error.stack) console.error(error.stack);
    const code = (error as { exitCode?: unknown }).exitCode;
    return typeof code === 'number' && code !== 0 ? code : 1;
  }
}
