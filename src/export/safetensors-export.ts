/**
 * `cyclegan export --format safetensors`: generators as the official PyTorch CycleGAN's
 * state_dicts, so that a model trained or imported here continues in PyTorch:
 *
 *   OUT/latest_net_G_A.safetensors   OUT/latest_net_G_B.safetensors
 *
 * Official key names, float32, the architecture in the metadata (`net`, `ngf`). In PyTorch:
 *   G = ResnetGenerator(3, 3, ngf, norm_layer=get_norm_layer('instance'), n_blocks=6)
 *   (a U-Net, net unet_256: UnetGenerator(3, 3, 8, ngf, norm_layer=get_norm_layer('instance')))
 *   G.load_state_dict(safetensors.torch.load_file('OUT/latest_net_G_A.safetensors'))
 * The same folder is what `train --networks official --init-from OUT` and `import` read.
 *
 * Only a generator that computes what the official one computes exports: one built with
 * `--networks official` or imported. The tutorial-style layers (affine instance norm, Keras'
 * stride padding) have no official counterpart, and that is said by name.
 */
import type * as tf from '@tensorflow/tfjs';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Direction } from '../infer/manifest.ts';
import { locateGenerator, modelDirectionsOf } from '../infer/model-folder.ts';
import { loadLayersModel } from '../models/io.ts';
import { officialStateDict } from '../models/official.ts';
import { officialGeneratorKeys, type OfficialGenerator } from '../models/official-generators.ts';
import { officialUnetName } from '../models/official-unet.ts';
import { serializeSafetensors } from '../models/safetensors.ts';
import { ensureDir, writeFileAtomic } from '../util/atomic.ts';
import { refuseOutput, statOrNull } from '../util/out-folder.ts';

/** The official file name of each direction's generator. */
export const SAFETENSORS_FILES: Record<Direction, string> = { AtoB: 'latest_net_G_A.safetensors', BtoA: 'latest_net_G_B.safetensors' };
/** Written into every file's metadata: how a later export recognises a file of its own. */
const PRODUCER = 'cyclegan export --format safetensors';

/** The official generator `model` is (ResNet or U-Net), or one line saying why it is none. */
export function officialArchitecture(model: tf.LayersModel, source: string): { net: OfficialGenerator; ngf: number } {
  const names = new Set(model.layers.map((l) => l.name));
  const affine = model.layers.some((l) => l.getClassName() === 'InstanceNormalization' && l.getWeights().length > 0);
  const tutorial = new Error(
    `${source}: built with the tutorial's layers (affine instance norm, Keras stride padding), which the official PyTorch generator cannot hold; train with --networks official (or import an official model) to export safetensors`,
  );
  if (!names.has('stem_conv') && names.has('down1_conv')) {
    // A U-Net: the official one pads before every down conv (PyTorch's padding=1), the tutorial's does not.
    if (affine || !names.has('down1_pad') || !names.has('up1_crop')) throw tutorial;
    const numDowns = model.layers.filter((l) => /^down\d+_conv$/.test(l.name)).length;
    return { net: officialUnetName(numDowns), ngf: model.getLayer('down1_conv').getWeights()[0]!.shape[3]! };
  }
  const blocks = model.layers.filter((l) => /^res\d+_conv1$/.test(l.name)).length;
  if (!names.has('stem_conv') || (blocks !== 6 && blocks !== 9)) {
    throw new Error(`${source}: not a ResNet-6, ResNet-9 or U-Net generator; only those have an official PyTorch counterpart`);
  }
  if (affine || !names.has('up1_crop')) throw tutorial;
  const ngf = model.getLayer('stem_conv').getWeights()[0]!.shape[3]!;
  return { net: blocks === 9 ? 'resnet_9blocks' : 'resnet_6blocks', ngf };
}

/** Refuses a file at `path` that this exporter did not write (its metadata names the producer). */
function claimFile(path: string): void {
  const found = statOrNull(path);
  if (!found) return;
  let header = '';
  if (found.isFile()) {
    const fd = openSync(path, 'r');
    try {
      const bytes = Buffer.alloc(Math.min(found.size, 4096));
      readSync(fd, bytes, 0, bytes.length, 0);
      header = bytes.toString('latin1');
    } finally {
      closeSync(fd);
    }
  }
  if (!header.includes(PRODUCER)) throw refuseOutput(path, 'exists and was not written by an export');
}

/** Exports the generators of `model` (any model the other commands accept) into the folder `out`. */
export async function exportSafetensors(
  model: string,
  out: string,
  directions?: Direction[],
): Promise<{ direction: Direction; file: string }[]> {
  const chosen = directions ?? (await modelDirectionsOf(model)) ?? ['AtoB', 'BtoA'];
  for (const direction of chosen) claimFile(join(out, SAFETENSORS_FILES[direction]));
  await ensureDir(out);
  const written: { direction: Direction; file: string }[] = [];
  for (const direction of chosen) {
    const source = await locateGenerator(model, direction);
    const generator = await loadLayersModel(source.replace(/model\.json$/, ''));
    let bytes: Uint8Array;
    try {
      const { net, ngf } = officialArchitecture(generator, source);
      const state = officialStateDict(generator, officialGeneratorKeys(net));
      bytes = serializeSafetensors(state, { producer: PRODUCER, net, ngf: String(ngf), norm: 'instance', direction });
    } finally {
      generator.dispose();
    }
    const file = join(out, SAFETENSORS_FILES[direction]);
    await writeFileAtomic(file, bytes);
    written.push({ direction, file });
  }
  return written;
}
