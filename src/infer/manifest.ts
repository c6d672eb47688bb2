/**
 * The model manifest (`cyclegan.json`) every reader shares: the CLI, the server and the tests.
 * An export folder lists its generators under "directions", a checkpoint under "generators"; both
 * come out as the export manifest the web page reads, with paths checked to stay inside the folder.
 */
import { promises as fsp } from 'node:fs';
import { isAbsolute, join } from 'node:path';

export const EXPORT_FORMAT = 'cyclegan-generators';

/** The export manifest the page reads from /model/cyclegan.json. */
export interface ExportManifest {
  format: 'cyclegan-generators';
  version: number;
  /** What trained it: cyclegan, cut or fastcut (absent in older manifests: cyclegan). */
  method?: string;
  generator?: string;
  size?: number;
  domains?: { A?: string; B?: string };
  directions: { AtoB?: string; BtoA?: string };
}

/** Reads `cyclegan.json` in `modelDir` and turns it into the export manifest the page expects. */
export async function readModelManifest(modelDir: string): Promise<ExportManifest> {
  const file = join(modelDir, 'cyclegan.json');
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new Error(`${modelDir} is not a model folder: it has no cyclegan.json (export one with \`cyclegan export\`)`);
    }
    throw err;
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (raw == null || typeof raw !== 'object') throw new Error(`${file}: expected a JSON object`);
  let directions: Record<string, unknown> | undefined;
  if (raw.format === 'cyclegan-generators') directions = raw.directions as Record<string, unknown>;
  else if (raw.format === 'cyclegan-checkpoint') directions = raw.generators as Record<string, unknown>;
  else {
    throw new Error(
      `${file}: unknown format ${JSON.stringify(raw.format)} (expected "cyclegan-generators" or "cyclegan-checkpoint")`,
    );
  }
  const out: ExportManifest['directions'] = {};
  for (const key of ['AtoB', 'BtoA'] as const) {
    const path = directions?.[key];
    if (path === undefined) continue;
    if (typeof path !== 'string' || !isSafeRelative(path) || !path.endsWith('.json')) {
      throw new Error(`${file}: direction ${key} must be a relative path to a model.json, got ${JSON.stringify(path)}`);
    }
    out[key] = path.split(/[\\/]+/).join('/');
  }
  if (!out.AtoB && !out.BtoA) throw new Error(`${file}: no generator directions (AtoB, BtoA) listed`);
  const manifest: ExportManifest = { format: 'cyclegan-generators', version: 1, directions: out };
  const method = raw.format === 'cyclegan-checkpoint' ? (raw.config as { method?: unknown } | undefined)?.method : raw.method;
  if (typeof method === 'string') manifest.method = method;
  if (typeof raw.generator === 'string') manifest.generator = raw.generator;
  if (typeof raw.size === 'number') manifest.size = raw.size;
  if (raw.domains && typeof raw.domains === 'object') manifest.domains = raw.domains as ExportManifest['domains'];
  if (raw.format === 'cyclegan-generators' && typeof raw.version === 'number') manifest.version = raw.version;
  return manifest;
}

const ARROWS = { AtoB: 'A→B', BtoA: 'B→A' } as const;

/** The one line for a model that lacks a direction, naming why for a one-direction method. */
export function noGenerator(direction: 'AtoB' | 'BtoA', method?: string): string {
  const label = method === 'cut' ? 'CUT' : method === 'fastcut' ? 'FastCUT' : undefined;
  const other = direction === 'AtoB' ? 'BtoA' : 'AtoB';
  const why = label ? `: a ${label} model learns ${ARROWS[other]} only` : '';
  return `this model has no ${ARROWS[direction]} generator${why} (use --direction ${other})`;
}

/** A relative path with no `..`, no absolute or drive prefix, no NUL. */
function isSafeRelative(path: string): boolean {
  if (path.length === 0 || path.includes('\0') || isAbsolute(path) || /^[a-zA-Z]:/.test(path)) return false;
  return path.split(/[\\/]+/).every((part) => part !== '..');
}
