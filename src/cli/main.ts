/**
 * The `cyclegan` command line: a thin shell over the library. Each command's module is loaded only
 * when that command runs, so `--help` is instant and a missing optional engine breaks nothing else.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BACKEND_NAMES } from '../engine/backend.ts';
import { describeError } from './errors.ts';

export interface GlobalOptions {
  backend: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** wasm threads; undefined = one per core (or CYCLEGAN_WASM_THREADS). */
  threads?: number;
  verbose: boolean;
}

export function parseInteger(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got '${value}'`);
    return n;
  };
}

export function parseNumber(name: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}, got '${value}'`);
    return n;
  };
}

type Action = (opts: Record<string, unknown>, globals: GlobalOptions, args: string[]) => Promise<number | void>;

/** Loads a command module and runs its `run` export. */
function lazy(moduleName: string): Action {
  return async (opts, globals, args) => {
    const mod = (await import(`./commands/${moduleName}.ts`)) as { run: Action };
    return mod.run(opts, globals, args);
  };
}

export function buildProgram(): Command {
  const program = new Command('cyclegan')
    .description('Unpaired image-to-image translation with CycleGAN (horse <-> zebra), on TensorFlow.js')
    .addOption(new Option('--backend <name>', 'compute engine').choices(BACKEND_NAMES as string[]).default('auto'))
    .addOption(new Option('--threads <n>', 'threads for the wasm engine, 1-8 (default: one per core)').argParser(parseInteger('--threads', 1)))
    .option('--verbose', 'print stack traces and engine details', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();

  /** Commands that read a model: --model defaults to the embedded one (eval may run without any). */
  const readsModel: Record<string, 'required' | 'optional'> = { translate: 'required', test: 'required', export: 'required', serve: 'required', eval: 'optional' };
  const add = (name: string, description: string, moduleName: string) => {
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
      const code = await lazy(moduleName)(opts, globals, command.args);
      if (typeof code === 'number') process.exitCode = code;
    });
    return cmd;
  };

  add('download', 'download an official CycleGAN dataset (zip) into the cache', 'download')
    .argument('<name>', 'dataset name, e.g. horse2zebra')
    .option('--dir <dir>', 'cache folder (default: $XDG_CACHE_HOME/cyclegan or ~/.cache/cyclegan)');

  add('preview', 'write a PNG grid of samples before and after preprocessing', 'preview')
    .requiredOption('--data <root>', 'dataset folder with trainA/ and trainB/')
    .option('--out <file>', 'output PNG', 'preview.png')
    .option('--n <count>', 'samples per domain', parseInteger('--n', 1), 4)
    .option('--load-size <px>', 'resize before cropping', parseInteger('--load-size', 8), 286)
    .option('--crop-size <px>', 'random crop size', parseInteger('--crop-size', 8), 256)
    .option('--seed <n>', 'random seed', parseInteger('--seed'), 0)
    .option('--overwrite', 'replace an existing preview file', false);

  add('train', 'train a CycleGAN, CUT or FastCUT (resumable; Ctrl-C saves a checkpoint)', 'train')
    .option('--data <root-or-name>', 'dataset folder (trainA/, trainB/, testA/, testB/) or an official dataset name')
    .option('--out <run-dir>', 'run folder: checkpoints, samples, log.jsonl, losses.png')
    .option('--resume <run-dir>', 'continue the run in this folder exactly where it stopped')
    .addOption(new Option('--preset <name>', 'starting configuration').choices(['tutorial', 'paper']))
    .addOption(new Option('--method <name>', 'what to train: CycleGAN (both directions), CUT or FastCUT (A→B only, contrastive; ResNet generator)').choices(['cyclegan', 'cut', 'fastcut']))
    .option('--lambda-gan <x>', 'CUT: adversarial weight (default 1)', parseNumber('--lambda-gan'))
    .option('--lambda-nce <x>', 'CUT: PatchNCE weight (default CUT 1, FastCUT 10)', parseNumber('--lambda-nce'))
    .option('--nce-idt', 'CUT: also PatchNCE on G(B) against B (default on for CUT, off for FastCUT)')
    .option('--no-nce-idt', 'CUT: no identity PatchNCE')
    .option('--flip-equivariance', 'CUT: flip the inputs horizontally on half the steps (default off for CUT, on for FastCUT)')
    .option('--no-flip-equivariance', 'CUT: no flip-equivariance augmentation')
    .option('--nce-patches <n>', 'CUT: patches sampled per layer (default 256)', parseInteger('--nce-patches', 1))
    .option('--nce-temperature <x>', 'CUT: PatchNCE softmax temperature (default 0.07)', parseNumber('--nce-temperature'))
    .addOption(new Option('--generator <arch>', 'generator architecture').choices(['unet', 'resnet9', 'resnet6']))
    .option('--ngf <n>', 'generator width', parseInteger('--ngf', 1))
    .option('--ndf <n>', 'discriminator width', parseInteger('--ndf', 1))
    .option('--n-layers-d <n>', 'discriminator stride-2 layers', parseInteger('--n-layers-d', 1))
    .addOption(new Option('--gan-loss <kind>', 'adversarial loss').choices(['bce', 'lsgan']))
    .option('--lambda-cycle <x>', 'cycle-consistency weight', parseNumber('--lambda-cycle'))
    .option('--lambda-identity <x>', 'identity weight as a fraction of lambda-cycle (0 = off)', parseNumber('--lambda-identity'))
    .option('--pool-size <n>', 'image pool for the discriminators (0 = off)', parseInteger('--pool-size'))
    .option('--lr <x>', 'Adam learning rate', parseNumber('--lr'))
    .option('--beta1 <x>', 'Adam beta1', parseNumber('--beta1'))
    .option('--epochs <n>', 'epochs at the initial learning rate', parseInteger('--epochs', 0))
    .option('--epochs-decay <n>', 'epochs of linear decay to zero after --epochs', parseInteger('--epochs-decay', 0))
    .option('--load-size <px>', 'resize before cropping', parseInteger('--load-size', 8))
    .option('--crop-size <px>', 'training crop size', parseInteger('--crop-size', 8))
    .addOption(new Option('--resize <filter>', 'resize filter').choices(['nearest', 'bicubic']))
    .addOption(new Option('--epoch-length <rule>', 'steps per epoch: shorter (min) or longer (max) domain').choices(['min', 'max']))
    .option('--no-flip', 'no random horizontal flips')
    .option('--save-every <n>', 'checkpoint every N epochs', parseInteger('--save-every', 1))
    .option('--save-latest-every <n>', 'also checkpoint every N steps, replacing the previous step checkpoint (0 = off; default 250)', parseInteger('--save-latest-every', 0))
    .option('--keep <n>', 'keep the last N epoch checkpoints', parseInteger('--keep', 1))
    .option('--max-steps <n>', 'stop (with a checkpoint) after N steps in total', parseInteger('--max-steps', 1))
    .option('--val-split <name-or-file>', 'hold these images out of trainA/trainB for validation (built-in: horse2zebra); default valA/ and valB/ when present')
    .option('--eval-every <n>', 'evaluate on the validation images every N steps (KID; writes log.jsonl and keeps a best checkpoint; 0 = off)', parseInteger('--eval-every', 0))
    .option('--eval-size <px>', 'translate the validation images at this size (default 256)', parseInteger('--eval-size', 8))
    .option('--eval-class-a <label>', 'ImageNet class of domain A for the validation class rate, e.g. sorrel')
    .option('--eval-class-b <label>', 'ImageNet class of domain B for the validation class rate, e.g. zebra')
    .option('--init-from <model>', 'start a new run from the generators of this checkpoint, run or export (fresh discriminators and optimizer)')
    .option('--seed <n>', 'random seed (runs are reproducible on cpu and wasm)', parseInteger('--seed'));

  add('translate', 'translate images of any size with a trained generator', 'translate')
    .argument('<inputs...>', 'image files, folders or globs')
    .option('--model <path>', 'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)')
    .requiredOption('--out <dir>', 'output folder')
    .addOption(new Option('--direction <dir>', 'which generator').choices(['AtoB', 'BtoA']).default('AtoB'))
    .addOption(new Option('--engine <engine>', 'inference engine').choices(['tfjs', 'onnx']).default('tfjs'))
    .addOption(new Option('--format <ext>', 'output format (default: the input\'s)').choices(['png', 'jpg']))
    .option('--overwrite', 'replace outputs that already exist (inputs are never overwritten)', false)
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100 megapixels)', parseInteger('--max-pixels', 1));

  add('test', 'translate and reconstruct every test image; write an HTML report', 'test')
    .option('--model <path>', 'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)')
    .requiredOption('--data <root>', 'dataset folder with testA/ and testB/')
    .option('--out <dir>', 'report folder', 'report')
    .addOption(new Option('--engine <engine>', 'inference engine').choices(['tfjs', 'onnx']).default('tfjs'))
    .option('--overwrite', 'replace an existing report in --out', false)
    .option('--no-eval', 'no evaluation figures (KID, class rate) on the report page')
    .option('--target-class <label>', 'ImageNet class of domain B for the report\'s A→B class rate, e.g. zebra')
    .option('--source-class <label>', 'ImageNet class of domain A for the report\'s B→A class rate, e.g. sorrel')
    .option('--max-pixels <n>', 'refuse inputs with more pixels than this (default 100 megapixels)', parseInteger('--max-pixels', 1));

  add('eval', 'measure a model: KID against real target images and the ImageNet class rate, with floor and ceiling', 'eval')
    .option('--model <path>', 'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model); without any: the floors and ceilings alone')
    .requiredOption('--data <root>', 'dataset folder')
    .addOption(new Option('--split <split>', 'which images: val (valA/valB or --val-split), test (testA/testB) or train').choices(['val', 'test', 'train']).default('val'))
    .option('--val-split <name-or-file>', 'validation list held out of trainA/trainB (built-in: horse2zebra)')
    .addOption(new Option('--direction <dir>', 'evaluate one direction only').choices(['AtoB', 'BtoA']))
    .option('--target-class <label>', 'ImageNet class of domain B, e.g. zebra (for A→B)')
    .option('--source-class <label>', 'ImageNet class of domain A, e.g. sorrel (for B→A)')
    .option('--size <px>', 'translate at this size (images are resized to a square)', parseInteger('--size', 8), 256)
    .option('--subsets <n>', 'KID subsets', parseInteger('--subsets', 1), 100)
    .option('--seed <n>', 'seed of the KID subsets', parseInteger('--seed'), 0)
    .option('--json', 'print JSON instead of a table', false);

  add('export', 'export generators as a tfjs LayersModel folder or an ONNX file', 'export')
    .option('--model <path>', 'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)')
    .addOption(new Option('--format <format>', 'export format').choices(['tfjs', 'onnx']).default('tfjs'))
    .requiredOption('--out <path>', 'output folder (tfjs) or folder for the .onnx files')
    .addOption(new Option('--direction <dir>', 'export one direction only').choices(['AtoB', 'BtoA']))
    .addOption(new Option('--quantize <kind>', 'tfjs: store weights as float16 (half the size) or uint8 (a quarter)').choices(['float16', 'uint8']));

  add('serve', 'serve the web demo and a model on localhost', 'serve')
    .option('--model <path>', 'checkpoint, run folder (RUN:best: its best checkpoint), export folder or embedded model name (default: the embedded default model)')
    .option('--port <n>', 'port on 127.0.0.1', parseInteger('--port', 0), 8080);

  add('models', 'list the models embedded in the package (the default first), with their model cards', 'models')
    .option('--json', 'print the model cards as JSON', false);

  add('demo', 'offline: the example photos through the embedded model (or, without one, synthetic data, a short training run, a report)', 'demo')
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
