/**
 * The model manifest (`cyclegan.json`) and the one parser of it, shared by the CLI, the server,
 * the tests and the web page. An export folder lists its generators under "directions", a
 * checkpoint under "generators"; both come out as the export manifest the web page reads, with
 * paths checked to stay inside the folder.
 *
 * Browser-safe: no `node:` imports, no file access. Node reads the file in model-folder.ts; the
 * page fetches it or reads the folder the user picked (web/src/model.ts).
 */

export type Direction = 'AtoB' | 'BtoA';
export const DIRECTIONS: readonly Direction[] = ['AtoB', 'BtoA'];

/** The manifest's file name, in every model folder. */
export const MANIFEST_FILE = 'cyclegan.json';
/** `format` of an export folder's manifest. */
export const EXPORT_FORMAT = 'cyclegan-generators';
/** `format` of a training checkpoint's cyclegan.json, and the version this build reads and writes. */
export const CHECKPOINT_FORMAT = 'cyclegan-checkpoint';
export const CHECKPOINT_VERSION = 1;

/** The export manifest the page reads from /model/cyclegan.json. */
export interface ExportManifest {
  format: 'cyclegan-generators';
  version: number;
  /** What trained it: cyclegan, cut or fastcut (absent in older manifests: cyclegan). */
  method?: string;
  generator?: string;
  size?: number;
  domains?: { A?: string; B?: string };
  /** 'onnx' for an ONNX export (its directions are .onnx files); absent for tfjs generators. */
  engine?: 'onnx';
  directions: { AtoB?: string; BtoA?: string };
}

/** The one line for a tool that runs tfjs generators only (the web page, serve) given an ONNX export. */
export function onnxNotServed(file: string): string {
  return `${file}: an ONNX export; the web page runs tfjs generators (export them with \`cyclegan export --format tfjs\`)`;
}

/** The JSON object in the text of a cyclegan.json; `file` names it in the errors. */
export function parseManifestText(text: string, file: string): Record<string, unknown> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  return raw as Record<string, unknown>;
}

/**
 * Validates a parsed cyclegan.json (an export or a training checkpoint) and returns the export
 * manifest it amounts to; `file` names it in the errors.
 */
export function parseModelManifest(raw: unknown, file: string): ExportManifest {
  if (raw == null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}: expected a JSON object`);
  const obj = raw as Record<string, unknown>;
  let directions: Record<string, unknown> | undefined;
  if (obj.format === EXPORT_FORMAT) directions = obj.directions as Record<string, unknown>;
  else if (obj.format === CHECKPOINT_FORMAT) directions = obj.generators as Record<string, unknown>;
  else {
    throw new Error(`${file}: unknown format ${JSON.stringify(obj.format)} (expected "${EXPORT_FORMAT}" or "${CHECKPOINT_FORMAT}")`);
  }
  const onnx = obj.format === EXPORT_FORMAT && obj.engine === 'onnx';
  if (obj.format === EXPORT_FORMAT && obj.engine !== undefined && !onnx) {
    throw new Error(`${file}: unknown engine ${JSON.stringify(obj.engine)} (expected "onnx", or none for tfjs generators)`);
  }
  const [extension, what] = onnx ? ['.onnx', 'an .onnx file'] : ['.json', 'a model.json'];
  const out: ExportManifest['directions'] = {};
  for (const key of DIRECTIONS) {
    const path = directions?.[key];
    if (path === undefined) continue;
    if (typeof path !== 'string' || !isSafeRelative(path) || !path.endsWith(extension)) {
      throw new Error(`${file}: direction ${key} must be a relative path to ${what}, got ${JSON.stringify(path)}`);
    }
    out[key] = path.split(/[\\/]+/).join('/');
  }
  if (!out.AtoB && !out.BtoA) throw new Error(`${file}: no generator directions (AtoB, BtoA) listed`);
  const manifest: ExportManifest = { format: EXPORT_FORMAT, version: 1, directions: out };
  if (onnx) manifest.engine = 'onnx';
  const method = obj.format === CHECKPOINT_FORMAT ? (obj.config as { method?: unknown } | undefined)?.method : obj.method;
  if (typeof method === 'string') manifest.method = method;
  if (typeof obj.generator === 'string') manifest.generator = obj.generator;
  if (typeof obj.size === 'number') manifest.size = obj.size;
  if (obj.domains && typeof obj.domains === 'object') manifest.domains = obj.domains as ExportManifest['domains'];
  if (obj.format === EXPORT_FORMAT && typeof obj.version === 'number') manifest.version = obj.version;
  return manifest;
}

/** The directions a manifest has generators for (a CUT model: AtoB only). */
export function manifestDirections(manifest: ExportManifest): Direction[] {
  return DIRECTIONS.filter((d) => manifest.directions[d]);
}

const ARROWS = { AtoB: 'A→B', BtoA: 'B→A' } as const;

/** The one line for a model that lacks a direction, naming why for a one-direction method. */
export function noGenerator(direction: Direction, method?: string): string {
  const label = method === 'cut' ? 'CUT' : method === 'fastcut' ? 'FastCUT' : undefined;
  const other = direction === 'AtoB' ? 'BtoA' : 'AtoB';
  const why = label ? `: a ${label} model learns ${ARROWS[other]} only` : '';
  return `this model has no ${ARROWS[direction]} generator${why} (use --direction ${other})`;
}

/** A relative path with no `..`, no absolute (`/`, `\`), drive (`C:`) or URL (`x:`) prefix, no NUL. */
function isSafeRelative(path: string): boolean {
  if (path.length === 0 || path.includes('\0') || /^[\\/]/.test(path) || /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(path)) return false;
  return path.split(/[\\/]+/).every((part) => part !== '..');
}
