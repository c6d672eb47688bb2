/**
 * Downloads the official CycleGAN datasets (the zips of junyanz/pytorch-CycleGAN-and-pix2pix's
 * datasets/download_cyclegan_dataset.sh) into a cache folder, safely:
 *
 * - streams NAME.zip to a temp file in the target folder, reporting progress to the caller's
 *   `onProgress` (this module never writes to the terminal; the CLI draws the bar, src/cli/progress.ts);
 * - checks the byte count against Content-Length, that the zip opens and holds trainA/ and
 *   trainB/, and the SHA-256 when one is known (given by the caller, or in KNOWN_SHA256); the
 *   SHA-256 computed is recorded in DIR/NAME/.cyclegan-download.json either way;
 * - refuses the whole archive when any entry would land outside the folder (zip-slip: "..",
 *   absolute paths, drive letters) or is a symbolic link, and before anything is unpacked when it
 *   declares more than `maxUnpackedBytes` in all or `maxEntries` entries (a zip bomb would fill
 *   the disk);
 * - checks every entry's CRC-32 while unpacking (yauzl checks sizes only), so a corrupt byte is an
 *   error and not a silently broken image;
 * - extracts into a temp folder, then renames it to DIR/NAME in one step, so DIR/NAME is either
 *   complete or absent. The zip is deleted afterwards.
 *
 * The base URL is https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/, overridable with the
 * `baseUrl` option or the CYCLEGAN_DATASET_URL environment variable (tests point it at a local
 * server). The default folder is $XDG_CACHE_HOME/cyclegan/datasets (~/.cache/cyclegan/datasets).
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, promises as fsp, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { replaceDir } from '../util/atomic.ts';
import yauzl from 'yauzl';

export const DATASET_NAMES = [
  'apple2orange',
  'summer2winter_yosemite',
  'horse2zebra',
  'monet2photo',
  'cezanne2photo',
  'ukiyoe2photo',
  'vangogh2photo',
  'maps',
  'cityscapes',
  'facades',
  'iphone2dslr_flower',
  'ae_photos',
  'mini',
  'mini_pix2pix',
  'mini_colorization',
  'grumpifycat',
] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

export const DEFAULT_BASE_URL = 'https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/';

/**
 * SHA-256 of the official zips, where known. None is pinned yet: the first download records the
 * hash it saw in DIR/NAME/.cyclegan-download.json; add verified values here.
 */
export const KNOWN_SHA256: Partial<Record<DatasetName, string>> = {};

export interface DownloadProgress {
  /** Bytes received so far. */
  received: number;
  /** Content-Length, when the server sent one. */
  total?: number;
}

export interface DownloadOptions {
  /** Folder that receives DIR/NAME (default: defaultDataDir()). */
  dir?: string;
  /** Default: env CYCLEGAN_DATASET_URL, else DEFAULT_BASE_URL. */
  baseUrl?: string;
  /** Called with the bytes received so far (and the total when known): once at the start, then per chunk. */
  onProgress?: (p: DownloadProgress) => void;
  fetchImpl?: typeof fetch;
  /** Expected SHA-256 (hex) of the zip; overrides KNOWN_SHA256. */
  sha256?: string;
  /** Download again even when DIR/NAME is already complete. */
  force?: boolean;
  /** Refuse a zip that unpacks to more than this many bytes (default DEFAULT_MAX_UNPACKED_BYTES). */
  maxUnpackedBytes?: number;
  /** Refuse a zip with more entries than this (default DEFAULT_MAX_ENTRIES). */
  maxEntries?: number;
}

/** The largest official dataset (cityscapes) unpacks to well under 1 GB; 16 GiB leaves room for bigger ones. */
export const DEFAULT_MAX_UNPACKED_BYTES = 16 * 2 ** 30;
/** The official datasets hold at most a few ten thousand files. */
export const DEFAULT_MAX_ENTRIES = 500_000;

export interface ExtractLimits {
  maxUnpackedBytes?: number;
  maxEntries?: number;
}

export interface DownloadResult {
  /** DIR/NAME. */
  path: string;
  /** False when the dataset was already there and nothing was downloaded. */
  downloaded: boolean;
  sha256?: string;
  bytes?: number;
}

export class DownloadError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DownloadError';
  }
}

export function isDatasetName(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

/** $XDG_CACHE_HOME/cyclegan/datasets, or ~/.cache/cyclegan/datasets. */
export function defaultDataDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const cache = xdg && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
  return join(cache, 'cyclegan', 'datasets');
}

function isComplete(folder: string): boolean {
  return ['trainA', 'trainB'].every((s) => existsSync(join(folder, s)) && statSync(join(folder, s)).isDirectory());
}

const OFFLINE_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCode(err: unknown): string | undefined {
  let e = err as { code?: string; cause?: unknown; errors?: unknown[] } | undefined;
  for (let depth = 0; e && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code;
    if (Array.isArray(e.errors) && e.errors.length > 0) {
      const c = errorCode(e.errors[0]);
      if (c) return c;
    }
    e = e.cause as typeof e;
  }
  return undefined;
}

let tempCounter = 0;
const tempName = (dir: string, what: string) => join(dir, `.${what}.${process.pid}.${++tempCounter}.tmp`);

/** Downloads (if needed) and unpacks dataset `name` into DIR/NAME; returns where it is. */
export async function downloadDataset(name: string, opts: DownloadOptions = {}): Promise<DownloadResult> {
  if (!isDatasetName(name)) {
    throw new DownloadError(`unknown dataset '${name}'; the CycleGAN datasets are: ${DATASET_NAMES.join(', ')}`);
  }
  const dir = resolve(opts.dir ?? defaultDataDir());
  const target = join(dir, name);
  if (!opts.force && isComplete(target)) return { path: target, downloaded: false };

  const base = opts.baseUrl ?? process.env.CYCLEGAN_DATASET_URL ?? DEFAULT_BASE_URL;
  const url = new URL(`${name}.zip`, base.endsWith('/') ? base : `${base}/`);
  const fetchImpl = opts.fetchImpl ?? fetch;
  await fsp.mkdir(dir, { recursive: true });

  const zipPath = tempName(dir, `${name}.zip`);
  const extractDir = tempName(dir, `${name}.extract`);
  try {
    // 1. Fetch.
    let res: Response;
    try {
      res = await fetchImpl(url);
    } catch (err) {
      const code = errorCode(err);
      if (code && OFFLINE_CODES.has(code)) {
        throw new DownloadError(`cannot reach ${url.host} (${code}): offline? download it elsewhere and pass --data`, { cause: err });
      }
      throw new DownloadError(`downloading ${url.href} failed: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      const hint = res.status === 404 ? ` (the server has no ${name}.zip; check the name or the base URL)` : '';
      throw new DownloadError(`downloading ${url.href} failed: HTTP ${res.status} ${res.statusText}${hint}`);
    }
    if (!res.body) throw new DownloadError(`downloading ${url.href} failed: empty response`);

    // 2. Stream to disk, hashing and counting.
    const lenHeader = res.headers.get('content-length');
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const total = lenHeader !== null && !encoded ? Number(lenHeader) : undefined;
    const hash = createHash('sha256');
    let received = 0;
    opts.onProgress?.({ received, total });
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        received += chunk.length;
        hash.update(chunk);
        opts.onProgress?.({ received, total });
        cb(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), counter, createWriteStream(zipPath));
    } catch (err) {
      const code = errorCode(err);
      const cut = total !== undefined ? ` after ${received} of ${total} bytes` : ` after ${received} bytes`;
      if (code === 'ENOSPC') throw new DownloadError(`no space left on the device writing ${zipPath}`, { cause: err });
      throw new DownloadError(`download of ${url.href} was cut off${cut} (truncated): try again`, { cause: err });
    }
    if (total !== undefined && Number.isFinite(total) && received !== total) {
      throw new DownloadError(`download of ${url.href} is truncated: got ${received} of ${total} bytes; try again`);
    }
    const sha256 = hash.digest('hex');
    const expected = (opts.sha256 ?? KNOWN_SHA256[name])?.toLowerCase();
    if (expected && expected !== sha256) {
      throw new DownloadError(`${name}.zip failed its checksum: SHA-256 ${sha256}, expected ${expected}`);
    }

    // 3. Verify and extract.
    await extractZip(zipPath, extractDir, `${name}.zip`, { maxUnpackedBytes: opts.maxUnpackedBytes, maxEntries: opts.maxEntries });
    await fsp.writeFile(
      join(extractDir, '.cyclegan-download.json'),
      JSON.stringify({ name, url: url.href, bytes: received, sha256, downloadedAt: new Date().toISOString() }, null, 2) + '\n',
    );

    // 4. Move into place in one step.
    await replaceDir(target, extractDir);
    return { path: target, downloaded: true, sha256, bytes: received };
  } finally {
    await fsp.rm(zipPath, { force: true }).catch(() => {});
    await fsp.rm(extractDir, { recursive: true, force: true }).catch(() => {});
  }
}

function openZip(path: string): Promise<yauzl.ZipFile> {
  return new Promise((ok, fail) =>
    yauzl.open(path, { lazyEntries: true, autoClose: false, decodeStrings: true, validateEntrySizes: true }, (err, zf) =>
      err ? fail(err) : ok(zf!),
    ),
  );
}

function readEntries(zf: yauzl.ZipFile): Promise<yauzl.Entry[]> {
  return new Promise((ok, fail) => {
    const entries: yauzl.Entry[] = [];
    zf.on('entry', (e: yauzl.Entry) => {
      entries.push(e);
      zf.readEntry();
    });
    zf.on('end', () => ok(entries));
    zf.on('error', fail);
    zf.readEntry();
  });
}

function openEntry(zf: yauzl.ZipFile, e: yauzl.Entry): Promise<Readable> {
  return new Promise((ok, fail) => zf.openReadStream(e, (err, s) => (err ? fail(err) : ok(s!))));
}

/** Unsafe when it could write outside the extraction folder. */
function unsafeName(name: string): boolean {
  if (name.includes('\\') || name.includes('\0')) return true;
  if (name.startsWith('/') || /^[a-zA-Z]:/.test(name)) return true;
  return name.split('/').includes('..');
}

/**
 * Extracts a CycleGAN dataset zip into `dest` (created), so that dest/trainA and dest/trainB
 * exist. The zip may hold NAME/trainA/... (the official layout) or trainA/... at its top.
 */
export async function extractZip(zipPath: string, dest: string, label = zipPath, limits: ExtractLimits = {}): Promise<void> {
  const maxBytes = limits.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  const maxEntries = limits.maxEntries ?? DEFAULT_MAX_ENTRIES;
  for (const [what, value] of [
    ['maxUnpackedBytes', maxBytes],
    ['maxEntries', maxEntries],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new DownloadError(`${what} must be a positive integer, got ${value}`);
  }
  let zf: yauzl.ZipFile;
  try {
    zf = await openZip(zipPath);
  } catch (err) {
    throw new DownloadError(`${label}: not a valid zip, probably truncated or corrupt (${(err as Error).message})`, { cause: err });
  }
  try {
    let entries: yauzl.Entry[];
    try {
      entries = await readEntries(zf);
    } catch (err) {
      const msg = (err as Error).message;
      if (/invalid relative path|absolute path|invalid characters/.test(msg)) {
        throw new DownloadError(`${label}: refusing an unsafe zip entry that would escape the target folder (${msg})`, { cause: err });
      }
      throw new DownloadError(`${label}: corrupt zip (${msg})`, { cause: err });
    }
    // Declared sizes are what yauzl holds each entry to (validateEntrySizes), so their sum bounds
    // what unpacking writes.
    if (entries.length > maxEntries) {
      throw new DownloadError(
        `${label}: has ${entries.length.toLocaleString('en-US')} entries, over the limit of ${maxEntries.toLocaleString('en-US')}; refusing it (a zip bomb?)`,
      );
    }
    const unpacked = entries.reduce((n, e) => n + e.uncompressedSize, 0);
    if (unpacked > maxBytes) {
      throw new DownloadError(
        `${label}: would unpack to ${unpacked.toLocaleString('en-US')} bytes, over the limit of ${maxBytes.toLocaleString('en-US')}; refusing it (a zip bomb?)`,
      );
    }
    for (const e of entries) {
      if (unsafeName(e.fileName)) {
        throw new DownloadError(`${label}: refusing an unsafe zip entry '${e.fileName}' that would escape the target folder`);
      }
      const mode = (e.externalFileAttributes >>> 16) & 0o170000;
      if (mode === 0o120000) throw new DownloadError(`${label}: refusing the symbolic link '${e.fileName}' in the zip`);
    }
    const useful = entries.filter((e) => !e.fileName.startsWith('__MACOSX/'));
    const hasSplit = (prefix: string, s: string) => useful.some((e) => e.fileName.startsWith(`${prefix}${s}/`));
    let prefix = '';
    if (!hasSplit('', 'trainA')) {
      const tops = new Set(useful.map((e) => e.fileName.split('/')[0]));
      const [only] = tops;
      if (tops.size === 1 && only !== undefined && hasSplit(`${only}/`, 'trainA')) prefix = `${only}/`;
    }
    if (!hasSplit(prefix, 'trainA') || !hasSplit(prefix, 'trainB')) {
      throw new DownloadError(`${label}: the zip has no trainA/ and trainB/ folders; not a CycleGAN dataset`);
    }
    await fsp.mkdir(dest, { recursive: true });
    const root = resolve(dest);
    for (const e of useful) {
      if (!e.fileName.startsWith(prefix)) continue;
      const rel = e.fileName.slice(prefix.length);
      if (rel === '') continue;
      const out = resolve(root, rel);
      if (out !== root && !out.startsWith(root + sep)) {
        throw new DownloadError(`${label}: refusing an unsafe zip entry '${e.fileName}' that would escape the target folder`);
      }
      if (e.fileName.endsWith('/')) {
        await fsp.mkdir(out, { recursive: true });
        continue;
      }
      await fsp.mkdir(dirname(out), { recursive: true });
      let crc = 0;
      const check = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          crc = crc32(chunk, crc);
          cb(null, chunk);
        },
      });
      try {
        await pipeline(await openEntry(zf, e), check, createWriteStream(out));
      } catch (err) {
        if (errorCode(err) === 'ENOSPC')
          throw new DownloadError(`no space left on the device extracting ${label} into ${dest}`, { cause: err });
        throw new DownloadError(`${label}: cannot extract '${e.fileName}' (${(err as Error).message}); the zip is corrupt`, { cause: err });
      }
      if (crc >>> 0 !== e.crc32 >>> 0) {
        const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
        throw new DownloadError(
          `${label}: '${e.fileName}' failed its CRC-32 check (${hex(crc)}, the zip says ${hex(e.crc32)}); the zip is corrupt: download it again`,
        );
      }
    }
  } finally {
    zf.close();
  }
}

export type ResolveOptions = DownloadOptions;

/**
 * `nameOrPath` as a dataset folder: an existing path is used as is; otherwise a known dataset
 * name is looked up in the cache folder and downloaded on first use.
 */
export async function resolveData(nameOrPath: string, opts: ResolveOptions = {}): Promise<string> {
  if (existsSync(nameOrPath)) return resolve(nameOrPath);
  if (isDatasetName(nameOrPath)) return (await downloadDataset(nameOrPath, opts)).path;
  throw new DownloadError(`'${nameOrPath}' is neither an existing folder nor a known dataset name (${DATASET_NAMES.join(', ')})`);
}
