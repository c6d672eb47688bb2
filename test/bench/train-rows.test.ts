/** Which configurations `npm run bench -- train` measures for a given command line. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { benchRows } from '../../bench/train.ts';

const key = (r: { method: string; generator: string; size: number; ngf: number; ndf: number; batchSize: number; featureDisc: string }) =>
  `${r.method} ${r.generator} ${r.size} ${r.ngf}/${r.ndf} b${r.batchSize}${r.featureDisc === 'none' ? '' : ` +${r.featureDisc}`}`;

test('the default rows: the full networks at every size plus ResNet-6 ngf/ndf 32 at 128 px, without and with the feature discriminator, batch 1', () => {
  assert.deepEqual(benchRows([]).map(key), [
    'cyclegan unet 64 64/64 b1',
    'cyclegan unet 128 64/64 b1',
    'cyclegan unet 256 64/64 b1',
    'cyclegan resnet9 64 64/64 b1',
    'cyclegan resnet9 128 64/64 b1',
    'cyclegan resnet9 256 64/64 b1',
    'cyclegan resnet6 128 32/32 b1',
    'cyclegan resnet6 128 32/32 b1 +mobilenetv2',
  ]);
});

test('--feature-disc takes a list: every configuration without and with it', () => {
  assert.deepEqual(
    benchRows(['--generators', 'resnet6', '--sizes', '64', '--ngf', '8', '--ndf', '8', '--feature-disc', 'none,mobilenetv2']).map(key),
    ['cyclegan resnet6 64 8/8 b1', 'cyclegan resnet6 64 8/8 b1 +mobilenetv2'],
  );
  assert.throws(() => benchRows(['--feature-disc', 'Mobile Net']), /--feature-disc needs backbone names or none, got 'Mobile Net'/);
});

test('--batch-size takes a list: every configuration at every batch size', () => {
  assert.deepEqual(
    benchRows(['--generators', 'resnet6', '--sizes', '128', '--ngf', '32', '--ndf', '32', '--batch-size', '1,2,4']).map(key),
    ['cyclegan resnet6 128 32/32 b1', 'cyclegan resnet6 128 32/32 b2', 'cyclegan resnet6 128 32/32 b4'],
  );
  assert.throws(() => benchRows(['--batch-size', '2,0']), /--batch-size needs positive integers, got '2,0'/);
});

test('CUT rows leave out the U-Net, which CUT cannot use', () => {
  assert.deepEqual(benchRows(['--methods', 'cyclegan,cut', '--generators', 'unet,resnet6', '--sizes', '64']).map(key), [
    'cyclegan unet 64 64/64 b1',
    'cyclegan resnet6 64 64/64 b1',
    'cut resnet6 64 64/64 b1',
  ]);
});
