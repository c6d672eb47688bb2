/**
 * Importing the library must not load the ONNX dependencies (protobufjs, onnxruntime-node's
 * native addon): they load at the first ONNX export or OnnxGenerator.load. A child process records
 * every module the ESM loader resolves (a resolve hook registered with node:module's register,
 * reporting over a MessagePort) together with the CommonJS cache (both packages are CommonJS),
 * at each stage: after importing src/index.ts, after importing the ONNX modules themselves, after
 * one export, after loading the export into ONNX Runtime. The last two stages show that the
 * detection sees the packages once they do load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../..', import.meta.url));

const HOOK = `let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  port.postMessage(result.url);
  return result;
}`;

const CHILD = `
import { register, createRequire } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
const base = pathToFileURL(process.cwd() + '/');
const { port1, port2 } = new MessageChannel();
const resolved = [];
port1.on('message', (url) => resolved.push(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}), { parentURL: base, data: { port: port2 }, transferList: [port2] });
const cache = createRequire(base).cache;
const stages = {};
const record = async (stage) => {
  // The hook's messages come from the loader thread: let them arrive.
  await new Promise((r) => setTimeout(r, 150));
  const pick = (re) => ({ hook: resolved.filter((u) => re.test(u)).length, cjs: Object.keys(cache).filter((u) => re.test(u)).length });
  stages[stage] = { resolved: resolved.length, protobufjs: pick(/[\\\\/]protobufjs[\\\\/]/), ort: pick(/[\\\\/]onnxruntime-node[\\\\/]/) };
};
const lib = await import('./src/index.ts');
await record('index');
const onnx = await import('./src/export/onnx.ts');
await import('./src/export/onnx-export.ts');
await import('./src/infer/onnx-engine.ts');
await record('modules');
await lib.useBackend('cpu');
const model = lib.buildUnetGenerator({ size: 8, ngf: 2, seed: 1 });
const bytes = await onnx.generatorToOnnx(model);
model.dispose();
await record('export');
const generator = await lib.OnnxGenerator.load(bytes);
const out = await generator.run(new Float32Array(8 * 8 * 3), 8, 8);
await generator.dispose();
await record('run');
console.log('STAGES ' + JSON.stringify({ ...stages, outputs: out.length }));
`;

interface Seen {
  hook: number;
  cjs: number;
}
interface Stage {
  resolved: number;
  protobufjs: Seen;
  ort: Seen;
}

test('importing the library loads neither protobufjs nor onnxruntime-node; an export and a load do', () => {
  const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], {
    cwd: repo,
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(child.status, 0, child.stderr);
  const line = child.stdout.split('\n').find((l) => l.startsWith('STAGES '));
  assert.ok(line, child.stdout + child.stderr);
  const stages = JSON.parse(line.slice('STAGES '.length)) as Record<'index' | 'modules' | 'export' | 'run', Stage> & { outputs: number };
  const none: Seen = { hook: 0, cjs: 0 };

  // The hook saw the library's own modules, so it was in place.
  assert.ok(stages.index.resolved > 50, `the resolve hook saw ${stages.index.resolved} modules`);
  assert.deepEqual(stages.index.protobufjs, none, 'protobufjs after importing src/index.ts');
  assert.deepEqual(stages.index.ort, none, 'onnxruntime-node after importing src/index.ts');
  assert.deepEqual(stages.modules.protobufjs, none, 'protobufjs after importing the ONNX modules');
  assert.deepEqual(stages.modules.ort, none, 'onnxruntime-node after importing the ONNX modules');

  // The first export loads protobufjs (through the dynamic import: the hook sees it), not ORT.
  assert.ok(
    stages.export.protobufjs.hook > 0 && stages.export.protobufjs.cjs > 0,
    `protobufjs after an export: ${JSON.stringify(stages.export.protobufjs)}`,
  );
  assert.deepEqual(stages.export.ort, none, 'onnxruntime-node after an export');
  // Loading the model into ONNX Runtime loads onnxruntime-node.
  assert.ok(
    stages.run.ort.hook > 0 && stages.run.ort.cjs > 0,
    `onnxruntime-node after OnnxGenerator.load: ${JSON.stringify(stages.run.ort)}`,
  );
  assert.equal(stages.outputs, 8 * 8 * 3);
});
