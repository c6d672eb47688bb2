/**
 * The official generators by their --netG name, ResNet or U-Net alike: what `import` builds and
 * `export --format safetensors` writes, one name for both.
 */
import type * as tf from '@tensorflow/tfjs';
import type { SeedSource } from './norm.ts';
import { buildOfficialResnet, OFFICIAL_RESNETS, officialResnetKeys, type LayerKey, type OfficialResnet } from './official.ts';
import { buildOfficialUnet, officialUnetKeys, unetNumDowns, type OfficialUnet } from './official-unet.ts';

/** resnet_9blocks, resnet_6blocks, or unet_<2^num_downs> (unet_256, unet_128). */
export type OfficialGenerator = OfficialResnet | OfficialUnet;

/** The architecture behind an official generator name, or an error quoting a name that is none. */
export function parseOfficialGenerator(net: string): { kind: 'resnet'; blocks: number } | { kind: 'unet'; numDowns: number } {
  if (net in OFFICIAL_RESNETS) return { kind: 'resnet', blocks: OFFICIAL_RESNETS[net as OfficialResnet] };
  const numDowns = unetNumDowns(net);
  if (numDowns !== null) return { kind: 'unet', numDowns };
  throw new Error(
    `unknown official generator ${JSON.stringify(net)} (expected resnet_9blocks, resnet_6blocks, unet_256, unet_128 or another unet_<2^num_downs>)`,
  );
}

/** The state_dict key map of an official generator. */
export function officialGeneratorKeys(net: OfficialGenerator): LayerKey[] {
  const arch = parseOfficialGenerator(net);
  return arch.kind === 'resnet' ? officialResnetKeys(arch.blocks) : officialUnetKeys(arch.numDowns);
}

/** An official generator in our layers: a ResNet takes any size divisible by 4, a U-Net 2^num_downs square. */
export function buildOfficialGenerator(net: OfficialGenerator, options: { ngf: number; name?: string; seed?: SeedSource }): tf.LayersModel {
  const arch = parseOfficialGenerator(net);
  return arch.kind === 'resnet'
    ? buildOfficialResnet(net as OfficialResnet, options)
    : buildOfficialUnet({ ...options, numDowns: arch.numDowns });
}
