/**
 * Image reading and writing with sharp (libvips), plus conversions between 8-bit RGB images and
 * tfjs tensors in [-1, 1].
 *
 * Decoding rules (every reader in this project goes through them):
 * - formats: JPEG, PNG, WebP, TIFF, GIF (first frame only) and AVIF: every raster format the
 *   bundled libvips decodes; SVG (a drawing), HEIC (HEVC, not in the bundled libvips) and vips
 *   files are refused by name, anything else is "not an image";
 * - only regular files (or symlinks to them) are read: a FIFO, device or socket would block the
 *   reader forever or never end, so it is refused before it is opened;
 * - the EXIF orientation tag is applied, so a phone photo comes out upright;
 * - grayscale, CMYK and 16-bit images are converted to 8-bit sRGB;
 * - alpha is FLATTENED ONTO WHITE (what an image viewer shows), not dropped. Dropping alpha (as
 *   PIL's `convert('RGB')` does) exposes whatever colour hides under transparent pixels, often
 *   black garbage; white is the predictable choice;
 * - images over `maxPixels` (default 100 megapixels) are refused before decoding, a guard
 *   against decompression bombs;
 * - truncated files are errors (sharp's `failOn: 'warning'`), not silently grey-padded images.
 * Every failure is an `ImageError` whose message is one line naming the file and the problem.
 */
import { existsSync, promises as fsp, statSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { WriteError, writeFileAtomic } from '../util/atomic.ts';
import { tensorToImage, type RgbImage } from './pixels.ts';

export const DEFAULT_MAX_PIXELS = 100_000_000;

/** A failure reading or writing one image; `.file` names it, the message starts with it. */
export class ImageError extends Error {
  readonly file: string;
  constructor(file: string, problem: string, options?: { cause?: unknown }) {
    super(`${file}: ${problem}`, options);
    this.name = 'ImageError';
    this.file = file;
  }
}

export interface ReadOptions {
  /** Largest accepted width*height (decompression-bomb guard). Default 100 MP. */
  maxPixels?: number;
}

export type ResizeKernel = 'nearest' | 'bicubic' | 'bilinear';

export interface DecodeOptions extends ReadOptions {
  /** Resize (aspect ratio NOT kept: the image is stretched to exactly width x height). */
  resize?: { width: number; height: number; kernel?: ResizeKernel };
}

const SHARP_KERNEL: Record<ResizeKernel, 'nearest' | 'cubic' | 'linear'> = {
  nearest: 'nearest',
  bicubic: 'cubic',
  bilinear: 'linear',
};

const FORMAT_NAMES: Record<string, string> = {
  jpeg: 'JPEG',
  png: 'PNG',
  webp: 'WebP',
  tiff: 'TIFF',
  gif: 'GIF',
  heif: 'AVIF',
};
const ACCEPTED_FORMATS = new Set(Object.keys(FORMAT_NAMES));
/** Formats sharp reads that are not accepted, with the reason given to the user. */
const REFUSED_FORMATS: Record<string, string> = {
  svg: 'an SVG drawing, not a photo: convert it to PNG first',
  vips: 'a libvips .v file: convert it to PNG or TIFF first',
};

/** What a path that exists but is not a regular file is, or null for a regular file. */
function notRegular(st: import('node:fs').Stats): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'is a directory, not an image';
  if (st.isFIFO()) return 'is a named pipe (FIFO), not a regular file: refusing to read it';
  if (st.isSocket()) return 'is a socket, not a regular file: refusing to read it';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'is a device, not a regular file: refusing to read it';
  return 'is not a regular file: refusing to read it';
}

/** Guess the container from magic bytes, for error messages only. */
function sniffFormat(head: Uint8Array): string | undefined {
  const b = head;
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png';
  if (b.length >= 12 && b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45) return 'webp';
  if (b.length >= 4 && ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a) || (b[0] === 0x4d && b[1] === 0x4d && b[3] === 0x2a)))
    return 'tiff';
  if (b.length >= 4 && b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38) return 'gif';
  if (
    b.length >= 12 &&
    String.fromCharCode(...b.subarray(4, 8)) === 'ftyp' &&
    /^(avif|avis|mif1)/.test(String.fromCharCode(...b.subarray(8, 12)))
  )
    return 'heif';
  return undefined;
}

async function readHead(path: string): Promise<Uint8Array> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = new Uint8Array(16);
    const { bytesRead } = await fh.read(buf, 0, 16, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Turns whatever sharp (or the file system) threw into one clear ImageError. */
async function explain(name: string, err: unknown, input: string | Uint8Array, maxPixels: number): Promise<ImageError> {
  if (err instanceof ImageError) return err;
  const e = err as NodeJS.ErrnoException;
  const msg = String(e?.message ?? err);
  if (e?.code === 'ENOENT' || /Input file is missing/.test(msg)) return new ImageError(name, 'file not found', { cause: err });
  if (e?.code === 'EISDIR' || /is a directory/i.test(msg)) return new ImageError(name, 'is a directory, not an image', { cause: err });
  if (e?.code === 'EACCES') return new ImageError(name, 'permission denied', { cause: err });
  if (/unsupported image format/i.test(msg)) return new ImageError(name, 'not an image (unsupported format)', { cause: err });
  if (/exceeds pixel limit/i.test(msg)) {
    let dims = '';
    try {
      const m = await sharp(input, { limitInputPixels: false }).metadata();
      if (m.width && m.height) dims = ` (${m.width}x${m.height} = ${(m.width * m.height).toLocaleString('en-US')} pixels)`;
    } catch {
      // Keep the message without dimensions.
    }
    return new ImageError(
      name,
      `image too large${dims}: over the limit of ${maxPixels.toLocaleString('en-US')} pixels (a guard against decompression bombs; if the file is genuine, raise --max-pixels on the command line or maxPixels in the library)`,
      { cause: err },
    );
  }
  let head: Uint8Array | undefined;
  try {
    head = typeof input === 'string' ? await readHead(input) : input.subarray(0, 16);
  } catch {
    head = undefined;
  }
  if (head && head.length === 0) return new ImageError(name, 'empty file', { cause: err });
  const fmt = head ? sniffFormat(head) : undefined;
  const detail =
    msg
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)[0] ?? 'decode failed';
  if (fmt) return new ImageError(name, `truncated or corrupt ${FORMAT_NAMES[fmt]} (${detail})`, { cause: err });
  return new ImageError(name, `cannot decode image (${detail})`, { cause: err });
}

/**
 * The decode pipeline for one file or buffer: orientation, alpha, colour space, optional resize,
 * 8-bit RGB out. `name` is only used in error messages.
 */
export async function decodeToRgb(input: string | Uint8Array, name: string, opts: DecodeOptions = {}): Promise<RgbImage> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels < 1) throw new ImageError(name, `maxPixels must be a positive integer, got ${maxPixels}`);
  try {
    if (typeof input === 'string') {
      // stat, not open: opening a FIFO blocks until a writer appears.
      const problem = notRegular(await fsp.stat(input));
      if (problem) throw new ImageError(name, problem);
    }
    const src = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    let s = sharp(src, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1, animated: false });
    // The format check and the decode run side by side (one trip through the thread pool, not
    // two): the decode result is dropped when the format is not one we accept.
    const metaP = s.metadata();
    s = s
      .rotate() // EXIF orientation
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb');
    if (opts.resize) {
      const { width, height, kernel = 'bicubic' } = opts.resize;
      s = s.resize(width, height, { fit: 'fill', kernel: SHARP_KERNEL[kernel] });
    }
    const decodeP = s.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    const [metaR, decodeR] = await Promise.allSettled([metaP, decodeP]);
    if (metaR.status === 'fulfilled') {
      const meta = metaR.value;
      if (meta.format && REFUSED_FORMATS[meta.format]) throw new ImageError(name, `not accepted: ${REFUSED_FORMATS[meta.format]}`);
      if (meta.format === 'heif' && meta.compression !== 'av1') {
        throw new ImageError(
          name,
          `not accepted: HEIF with ${meta.compression ?? 'unknown'} compression (HEIC photos need a libvips built with HEVC; convert to JPEG first); AVIF is accepted`,
        );
      }
      if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) {
        throw new ImageError(name, `not an image (unsupported format${meta.format ? ` '${meta.format}'` : ''})`);
      }
    }
    if (decodeR.status === 'rejected') throw decodeR.reason;
    if (metaR.status === 'rejected') throw metaR.reason;
    const { data, info } = decodeR.value;
    if (info.channels !== 3) throw new ImageError(name, `unexpected channel count ${info.channels} after conversion`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  } catch (err) {
    throw await explain(name, err, input, maxPixels);
  }
}

/** Reads an image file as 8-bit RGB (see the module comment for the conversion rules). */
export function readImage(path: string, opts: ReadOptions = {}): Promise<RgbImage> {
  return decodeToRgb(path, path, opts);
}

/** Decodes an in-memory image file; `name` is used in error messages. */
export function decodeImage(buffer: Uint8Array, name: string, opts: ReadOptions = {}): Promise<RgbImage> {
  return decodeToRgb(buffer, name, opts);
}

export interface WriteOptions {
  /** Output format; default from the extension (.png, .jpg/.jpeg, .webp). */
  format?: 'png' | 'jpeg' | 'webp';
  /** JPEG/WebP quality 1-100 (default 92). */
  quality?: number;
}

function formatFromPath(path: string): 'png' | 'jpeg' | 'webp' | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.png') return 'png';
  if (ext === '.jpg' || ext === '.jpeg') return 'jpeg';
  if (ext === '.webp') return 'webp';
  return undefined;
}

/**
 * Writes an image atomically: encodes to a temp file in the same folder, then renames it over
 * `path`, so readers never see a half-written file. Accepts an RgbImage or `{ tensor }` holding a
 * [h,w,3] or [1,h,w,3] tensor in [-1, 1] (the tensor is not disposed).
 */
export async function writeImage(path: string, image: RgbImage | { tensor: tf.Tensor }, opts: WriteOptions = {}): Promise<void> {
  const format = opts.format ?? formatFromPath(path);
  if (!format) throw new ImageError(path, `cannot tell the output format from the extension '${extname(path)}' (use .png, .jpg or .webp)`);
  const img = 'tensor' in image ? tensorToImage(image.tensor) : image;
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageError(path, `image data has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
  }
  const quality = opts.quality ?? 92;
  let s = sharp(Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength), {
    raw: { width: img.width, height: img.height, channels: 3 },
  });
  if (format === 'png') s = s.png();
  else if (format === 'jpeg') s = s.jpeg({ quality });
  else s = s.webp({ quality });
  let encoded: Buffer;
  try {
    encoded = await s.toBuffer();
  } catch (err) {
    throw new ImageError(path, `cannot encode image (${String((err as Error)?.message ?? err).split('\n')[0]})`, { cause: err });
  }
  if (!existsSync(dirname(path))) throw new ImageError(path, `cannot write image (folder ${dirname(path)} does not exist)`);
  if (isFolder(path)) throw new ImageError(path, 'cannot write image: a folder of that name exists');
  try {
    await writeFileAtomic(path, encoded);
  } catch (err) {
    const problem = err instanceof WriteError && err.path === path ? err.problem : String((err as Error)?.message ?? err).split('\n')[0];
    throw new ImageError(path, `cannot write image (${problem})`, { cause: err });
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false; // absent, or under a file: the write reports it
  }
}
