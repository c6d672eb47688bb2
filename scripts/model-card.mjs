#!/usr/bin/env node
// Writes the model card of an export (the "card" of its cyclegan.json, which `cyclegan models`,
// the web page and `npm start` show) from what measured it, so that no figure is typed by hand:
// the recipe, steps and CPU hours from the training checkpoint it was exported from, the
// evaluation from `cyclegan eval --json` on that export, and the words (title, description, data,
// schedule, limits) from a small JSON file a person writes.
//
//   node scripts/model-card.mjs EXPORT_DIR --checkpoint CKPT_DIR --eval EVAL.json --text TEXT.json
//
// TEXT.json: { "title", "description", "data": { "name", "split", "terms" }, "schedule",
//              "engine", "script", "limits": [...] } (title and data are required).
// The checkpoint must be the one the export names (its globalStep); cyclegan.json is replaced
// atomically (a temporary file renamed over it), so a failure leaves the old card in place.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function fail(message) {
  console.error(`model-card: ${message}`);
  process.exit(1);
}

function readJson(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    fail(`${file}: ${error.message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    fail(`${file}: not JSON (${error.message})`);
  }
}

const [exportDir, ...rest] = process.argv.slice(2);
const flags = {};
for (let i = 0; i < rest.length; i += 2) {
  const name = rest[i];
  if (!['--checkpoint', '--eval', '--text'].includes(name) || rest[i + 1] === undefined) {
    fail(`unexpected argument '${name}' (usage: model-card.mjs EXPORT_DIR --checkpoint DIR --eval FILE --text FILE)`);
  }
  flags[name.slice(2)] = rest[i + 1];
}
if (!exportDir || !flags.checkpoint || !flags.eval || !flags.text) {
  fail('usage: model-card.mjs EXPORT_DIR --checkpoint DIR --eval FILE --text FILE');
}

const manifestFile = join(exportDir, 'cyclegan.json');
const manifest = readJson(manifestFile);
if (manifest.format !== 'cyclegan-generators') fail(`${manifestFile}: not an export manifest (format ${JSON.stringify(manifest.format)})`);
const checkpointFile = join(flags.checkpoint, 'cyclegan.json');
const checkpoint = readJson(checkpointFile);
if (checkpoint.format !== 'cyclegan-checkpoint') fail(`${checkpointFile}: not a checkpoint (format ${JSON.stringify(checkpoint.format)})`);
const step = checkpoint.position?.globalStep;
if (step !== manifest.source?.globalStep) {
  fail(`${checkpointFile} is step ${step}, but ${manifestFile} was exported from step ${manifest.source?.globalStep}`);
}
const report = readJson(flags.eval);
if (!Array.isArray(report.directions)) fail(`${flags.eval}: no "directions" (is it \`cyclegan eval --json\` output?)`);
const shipped = Object.keys(manifest.directions).sort();
const evaluated = report.directions.map((d) => d.direction).sort();
if (JSON.stringify(shipped) !== JSON.stringify(evaluated)) {
  fail(`${flags.eval} evaluates ${evaluated.join(', ')} but the export has ${shipped.join(', ')}`);
}
const text = readJson(flags.text);
if (typeof text.title !== 'string' || typeof text.data?.name !== 'string') fail(`${flags.text}: needs "title" and "data.name"`);

const c = checkpoint.config;
const recipe = {
  method: c.method,
  preset: c.preset,
  generator: c.generator,
  ngf: c.ngf,
  ndf: c.ndf,
  loadSize: c.loadSize,
  cropSize: c.cropSize,
  ganLoss: c.ganLoss,
  poolSize: c.poolSize,
  lambdaCycle: c.lambdaCycle,
  lambdaIdentity: c.lambdaIdentity,
  lr: c.lr,
  beta1: c.beta1,
  epochs: c.epochs,
  epochsDecay: c.epochsDecay,
  ...(text.schedule ? { schedule: text.schedule } : {}),
  seed: c.seed,
  batchSize: c.batchSize,
  ...(c.initFrom ? { initFrom: c.initFrom } : {}),
  ...(text.engine ? { engine: text.engine } : {}),
  ...(text.script ? { script: text.script } : {}),
};
const cpuSeconds = checkpoint.position?.compute?.cpuSeconds;
manifest.card = {
  title: text.title,
  ...(text.description ? { description: text.description } : {}),
  data: text.data,
  recipe,
  steps: step,
  ...(typeof cpuSeconds === 'number' ? { cpuHours: Math.round((cpuSeconds / 3600) * 100) / 100 } : {}),
  eval: report,
  ...(Array.isArray(text.limits) ? { limits: text.limits } : {}),
};
const temporary = `${manifestFile}.tmp-${process.pid}`;
writeFileSync(temporary, JSON.stringify(manifest, null, 2) + '\n');
renameSync(temporary, manifestFile);
console.log(`${manifestFile}: card for step ${step}, ${shipped.join(' + ')}`);
