/** What each kind of model path resolves to, and the one line for each bad one. */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useBackend } from '../../src/engine/backend.ts';
import { exportTfjs } from '../../src/export/tfjs.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, parseModelManifest } from '../../src/infer/manifest.ts';
import {
  chooseDirections,
  directionsOf,
  generatorFile,
  locateGenerator,
  looksLikeModelPath,
  modelDirectionsOf,
  openModel,
  readCheckpointMeta,
  resolveCheckpointDir,
} from '../../src/infer/model-folder.ts';
import { loadTranslator } from '../../src/infer/translator.ts';
import { saveTinyGenerator, scratch } from '../faults/helpers.ts';

let work: { dir: string; cleanup: () => Promise<void> };
let run: string;
let cut: string;

/** A checkpoint folder as training writes it, its generators tiny 1x1 networks (only what reading a model needs). */
async function writeCheckpoint(dir: string, method: 'cyclegan' | 'cut', generators = true): Promise<string> {
  await mkdir(dir, { recursive: true });
  const dirs = method === 'cut' ? { AtoB: 'G_AtoB' } : { AtoB: 'G_AtoB', BtoA: 'G_BtoA' };
  if (generators) for (const sub of Object.values(dirs)) await saveTinyGenerator(join(dir, sub));
  const meta = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    createdAt: new Date(0).toISOString(),
    config: { method, generator: 'resnet6', cropSize: 32 },
    position: { epoch: 1, globalStep: 4 },
    generators: Object.fromEntries(Object.entries(dirs).map(([d, sub]) => [d, `${sub}/model.json`])),
  };
  await writeFile(join(dir, 'cyclegan.json'), JSON.stringify(meta));
  return dir;
}

async function writeRun(runDir: string, method: 'cyclegan' | 'cut'): Promise<string> {
  await writeCheckpoint(join(runDir, 'checkpoints', 'epoch-0001'), method);
  await writeFile(join(runDir, 'checkpoints', 'latest'), 'epoch-0001\n');
  return runDir;
}

before(async () => {
  await useBackend('cpu');
  work = await scratch('cyclegan-model-folder-');
  run = await writeRun(join(work.dir, 'run'), 'cyclegan');
  await writeCheckpoint(join(run, 'checkpoints', 'best'), 'cyclegan');
  cut = await writeRun(join(work.dir, 'cut'), 'cut');
});
after(() => work.cleanup());

describe('recognising a model path', () => {
  it('a run folder is its latest checkpoint, with both generators', async () => {
    const model = await openModel(run);
    assert.equal(model.kind, 'run');
    assert.equal(model.location, join(run, 'checkpoints', 'epoch-0001'));
    assert.deepEqual(directionsOf(model), ['AtoB', 'BtoA']);
    assert.equal(generatorFile(model, 'BtoA'), join(run, 'checkpoints', 'epoch-0001', 'G_BtoA', 'model.json'));
    assert.equal(await resolveCheckpointDir(run), model.location);
  });

  it('RUN:best and a checkpoint folder are checkpoints', async () => {
    const best = await openModel(`${run}:best`);
    assert.deepEqual([best.kind, best.location], ['checkpoint', join(run, 'checkpoints', 'best')]);
    const direct = await openModel(join(run, 'checkpoints', 'epoch-0001'));
    assert.deepEqual([direct.kind, direct.location], ['checkpoint', join(run, 'checkpoints', 'epoch-0001')]);
    const meta = await readCheckpointMeta(direct.location);
    assert.deepEqual([meta.config.generator, meta.position.globalStep], ['resnet6', 4]);
  });

  it('a CUT model has A→B only, and says so when B→A is asked for', async () => {
    const model = await openModel(cut);
    assert.deepEqual(directionsOf(model), ['AtoB']);
    assert.deepEqual(chooseDirections(model, undefined, ['AtoB', 'BtoA']), ['AtoB']);
    const message =
      /cut\/checkpoints\/epoch-0001\/cyclegan\.json: this model has no B→A generator: a CUT model learns A→B only \(use --direction AtoB\)$/;
    assert.throws(() => generatorFile(model, 'BtoA'), message);
    assert.throws(() => chooseDirections(model, 'BtoA', ['AtoB']), message);
    await assert.rejects(locateGenerator(cut, 'BtoA'), message);
  });

  it('an export folder lists its generators; one exported from a run loads as that run does', async () => {
    const exported = join(work.dir, 'export');
    await exportTfjs(run, exported);
    const model = await openModel(exported);
    assert.equal(model.kind, 'export');
    assert.deepEqual(model.manifest?.directions, { AtoB: 'AtoB/model.json', BtoA: 'BtoA/model.json' });
    assert.equal(model.manifest?.method, 'cyclegan');
    const translator = await loadTranslator(model, { direction: 'BtoA' });
    try {
      assert.equal(translator.source, join(exported, 'BtoA', 'model.json'));
    } finally {
      translator.dispose();
    }
  });

  it('a bare layers model (its folder or its model.json) has no manifest and serves any direction', async () => {
    const bare = await saveTinyGenerator(join(work.dir, 'bare'));
    for (const path of [bare, join(bare, 'model.json')]) {
      const model = await openModel(path);
      assert.deepEqual([model.kind, model.location, model.manifest], ['layers', join(bare, 'model.json'), null]);
      assert.equal(generatorFile(model, 'BtoA'), join(bare, 'model.json'));
      assert.deepEqual(chooseDirections(model, undefined, ['AtoB']), ['AtoB']);
      assert.deepEqual(chooseDirections(model, 'BtoA', ['AtoB']), ['BtoA']);
    }
    assert.equal(await modelDirectionsOf(bare), null);
  });

  it('an .onnx file is an ONNX model, with no tfjs generator to locate', async () => {
    const onnx = join(work.dir, 'g.onnx');
    await writeFile(onnx, 'not really onnx');
    const model = await openModel(onnx);
    assert.deepEqual([model.kind, model.location, model.manifest], ['onnx', onnx, null]);
    assert.throws(() => generatorFile(model, 'AtoB'), /g\.onnx: an \.onnx file has no tfjs generator \(use --engine onnx/);
    await assert.rejects(loadTranslator(onnx, { engine: 'tfjs' }), /g\.onnx: an ONNX file needs --engine onnx/);
  });

  it('tells paths from embedded model names', () => {
    assert.equal(looksLikeModelPath('tiny-b'), false);
    for (const path of ['runs/x', 'RUN:best', 'g.onnx', run]) assert.equal(looksLikeModelPath(path), true, path);
  });
});

describe('bad model paths', () => {
  it('a missing path, a folder that is no model, a stray file', async () => {
    await assert.rejects(openModel(join(work.dir, 'nowhere')), /nowhere: no such file or folder$/);
    const empty = join(work.dir, 'empty');
    await mkdir(empty);
    await assert.rejects(
      openModel(empty),
      /empty: not a model \(no cyclegan\.json, model\.json, checkpoints\/latest, AtoB\.onnx or BtoA\.onnx inside\)$/,
    );
    await assert.rejects(
      resolveCheckpointDir(empty),
      /empty: not a checkpoint \(no cyclegan\.json\) and not a run folder \(no checkpoints\/latest\)$/,
    );
    const stray = join(work.dir, 'notes.txt');
    await writeFile(stray, 'hello');
    await assert.rejects(openModel(stray), /notes\.txt: expected a run, checkpoint or export folder, a model\.json or an \.onnx file$/);
    await assert.rejects(resolveCheckpointDir(stray), /notes\.txt: expected a checkpoint or run folder, found a file$/);
  });

  it('a run without a best checkpoint, a latest pointer to nothing', async () => {
    await assert.rejects(openModel(`${cut}:best`), /cut:best: .*cut has no best checkpoint \(it is written by train --eval-every\)$/);
    const broken = join(work.dir, 'broken');
    await mkdir(join(broken, 'checkpoints'), { recursive: true });
    await writeFile(join(broken, 'checkpoints', 'latest'), 'epoch-0009\n');
    await assert.rejects(openModel(broken), /latest: points to 'epoch-0009', which is not a complete checkpoint$/);
  });

  it('a checkpoint that lists no generator, or whose generator folder is gone', async () => {
    const none = join(work.dir, 'no-generators');
    await mkdir(none);
    await writeFile(
      join(none, 'cyclegan.json'),
      JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, generators: {} }),
    );
    await assert.rejects(openModel(none), /no-generators\/cyclegan\.json: no generator directions \(AtoB, BtoA\) listed$/);
    const gone = await writeCheckpoint(join(work.dir, 'gone'), 'cyclegan', false);
    await assert.rejects(loadTranslator(gone), /gone\/G_AtoB\/model\.json: not found$/);
  });

  it('a manifest of another format or version, broken JSON, paths that leave the folder', async () => {
    const future = join(work.dir, 'future');
    await mkdir(future);
    await writeFile(
      join(future, 'cyclegan.json'),
      JSON.stringify({ format: 'cyclegan-generators', version: 1, directions: { AtoB: 'AtoB/model.json' } }),
    );
    await assert.rejects(readCheckpointMeta(future), /format is "cyclegan-generators", expected 'cyclegan-checkpoint'$/);
    await writeFile(join(future, 'cyclegan.json'), JSON.stringify({ format: CHECKPOINT_FORMAT, version: 99 }));
    await assert.rejects(readCheckpointMeta(future), /checkpoint version 99 is not supported \(this build reads 1\)$/);
    await writeFile(join(future, 'cyclegan.json'), '{"format":');
    await assert.rejects(openModel(future), /future\/cyclegan\.json is not valid JSON/);
    await assert.rejects(readCheckpointMeta(future), /future\/cyclegan\.json: corrupt JSON/);
    for (const path of ['../AtoB/model.json', '/abs/model.json', 'C:/x/model.json', 'https://host/model.json', 'AtoB/weights.bin']) {
      assert.throws(
        () => parseModelManifest({ format: 'cyclegan-generators', directions: { AtoB: path } }, 'm.json'),
        /m\.json: direction AtoB must be a relative path to a model\.json/,
        path,
      );
    }
    assert.throws(() => parseModelManifest({ format: 'nope' }, 'm.json'), /m\.json: unknown format "nope"/);
    // An ONNX export lists .onnx files, and only those; an engine of another name is refused.
    const onnx = parseModelManifest(
      { format: 'cyclegan-generators', engine: 'onnx', size: 128, directions: { BtoA: 'BtoA.onnx' } },
      'm.json',
    );
    assert.deepEqual([onnx.engine, onnx.size, onnx.directions], ['onnx', 128, { BtoA: 'BtoA.onnx' }]);
    assert.throws(
      () => parseModelManifest({ format: 'cyclegan-generators', engine: 'onnx', directions: { AtoB: 'AtoB/model.json' } }, 'm.json'),
      /m\.json: direction AtoB must be a relative path to an \.onnx file, got "AtoB\/model\.json"/,
    );
    assert.throws(
      () => parseModelManifest({ format: 'cyclegan-generators', directions: { AtoB: 'AtoB.onnx' } }, 'm.json'),
      /m\.json: direction AtoB must be a relative path to a model\.json/,
    );
    assert.throws(
      () => parseModelManifest({ format: 'cyclegan-generators', engine: 'tflite', directions: { AtoB: 'a.json' } }, 'm.json'),
      /m\.json: unknown engine "tflite"/,
    );
  });
});
