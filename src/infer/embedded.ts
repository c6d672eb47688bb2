/**
 * Models that ship inside the package, so the main job — a photo in, a translation out — needs no
 * training first. Each is an export folder (`cyclegan export --quantize float16`) whose
 * `cyclegan.json` also carries a model card: what it is, how it was trained, its evaluation
 * figures and the terms of its training data.
 *
 *   assets/models/DEFAULT             the name of the default model (one line)
 *   assets/models/NAME/cyclegan.json  export manifest + "card"
 *   assets/models/NAME/AtoB/, BtoA/   tfjs layers model folders
 *
 * CYCLEGAN_MODELS_DIR points elsewhere (a user's own collection; the tests' tiny models).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExportManifest } from './manifest.ts';
import { readManifest } from './model-folder.ts';

/** What a model card says. Every field but the title is optional: a card says what is known. */
export interface ModelCard {
  title: string;
  description?: string;
  /** Dataset, its split, and the terms its images come under. */
  data?: { name: string; split?: string; terms?: string };
  recipe?: Record<string, unknown>;
  steps?: number;
  cpuHours?: number;
  /** `cyclegan eval --json` output on the validation split. */
  eval?: unknown;
  limits?: string[];
}

export interface EmbeddedModel {
  name: string;
  /** The export folder. */
  path: string;
  manifest: ExportManifest;
  card: ModelCard;
  /** Bytes on disk of every file in the folder. */
  sizeBytes: number;
  isDefault: boolean;
}

const PACKAGE_MODELS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'models');

export function embeddedModelsDir(): string {
  return process.env.CYCLEGAN_MODELS_DIR ? resolve(process.env.CYCLEGAN_MODELS_DIR) : PACKAGE_MODELS;
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? await folderBytes(path) : (await stat(path)).size;
  }
  return total;
}

/** Lists the embedded models (sorted by name); a folder that is not a valid model is an error naming it. */
export async function listEmbeddedModels(): Promise<EmbeddedModel[]> {
  const root = embeddedModelsDir();
  if (!existsSync(root)) return [];
  const defaultName = (await readFile(join(root, 'DEFAULT'), 'utf8').catch(() => '')).trim();
  const models: EmbeddedModel[] = [];
  const entries = (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.'));
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(root, entry.name);
    const { raw, manifest } = await readManifest(path);
    const given = (raw.card && typeof raw.card === 'object' ? raw.card : {}) as Partial<ModelCard>;
    const card: ModelCard = { ...given, title: typeof given.title === 'string' ? given.title : entry.name };
    models.push({ name: entry.name, path, manifest, card, sizeBytes: await folderBytes(path), isDefault: entry.name === defaultName });
  }
  if (defaultName && !models.some((m) => m.isDefault)) {
    throw new Error(`${join(root, 'DEFAULT')}: names '${defaultName}', which is not a model folder in ${root}`);
  }
  return models;
}

/** The default model: the one DEFAULT names, or the only one; null when none is embedded. */
export async function defaultModel(): Promise<EmbeddedModel | null> {
  const models = await listEmbeddedModels();
  return models.find((m) => m.isDefault) ?? (models.length === 1 ? models[0]! : null);
}

/** An embedded model by name; the error lists the names there are. */
export async function embeddedModel(name: string): Promise<EmbeddedModel> {
  const models = await listEmbeddedModels();
  const found = models.find((m) => m.name === name);
  if (!found) throw new Error(`no embedded model '${name}' (embedded: ${models.map((m) => m.name).join(', ') || 'none'})`);
  return found;
}

interface CardFigures {
  kid: { mean: number };
  classRate?: { rate: number };
}

/**
 * One line per direction of a card's evaluation (`cyclegan eval --json` output): the model's
 * figures beside their floor (untranslated) and ceiling (real images).
 */
export function describeCardEval(card: ModelCard): string[] {
  const report = card.eval as
    | {
        split?: string;
        directions?: { direction: string; targetClass?: string; model?: CardFigures; floor: CardFigures; ceiling: CardFigures }[];
      }
    | undefined;
  if (!report?.directions) return [];
  const arrow = (d: string) => (d === 'AtoB' ? 'A→B' : 'B→A');
  const pct = (f?: CardFigures) => (f?.classRate ? `${(f.classRate.rate * 100).toFixed(0)}%` : '-');
  return report.directions.map((d) => {
    const kid = `KID×1000 ${d.model ? d.model.kid.mean.toFixed(2) : '-'} (floor ${d.floor.kid.mean.toFixed(2)}, ceiling ${d.ceiling.kid.mean.toFixed(2)})`;
    const rate = d.targetClass ? ` · ${d.targetClass} top-1 ${pct(d.model)} (floor ${pct(d.floor)}, ceiling ${pct(d.ceiling)})` : '';
    return `${arrow(d.direction)} on the ${report.split ?? 'validation'} split: ${kid}${rate}`;
  });
}
