/**
 * The input pipeline of the TensorFlow CycleGAN tutorial, seeded and resumable.
 *
 * Train preprocessing (per image): decode to 8-bit RGB (see image-io.ts), resize to
 * loadSize x loadSize ('nearest' as the tutorial's tf.image.resize(method='nearest'), or 'bicubic'
 * as the paper's Torch/PyTorch code), random crop cropSize x cropSize, random horizontal flip,
 * scale to [-1, 1] (x / 127.5 - 1). Resize runs in sharp (off the JS thread); crop, flip and
 * scaling are one JS loop producing a Float32Array HWC. Test preprocessing: scale only (resized to
 * cropSize x cropSize when the image is another size).
 *
 * Unaligned sampling: every epoch, the A and B file orders are shuffled independently. The epoch
 * has min(|A|,|B|) pairs ('min', the tutorial's tf.data.Dataset.zip) or max(|A|,|B|) pairs ('max',
 * the paper's code): then the shorter domain cycles through fresh permutations of itself.
 * `shuffleBuffer` emulates tf.data's `shuffle(buffer_size)` over the sorted file list; left out
 * (the default) each epoch is a full uniform permutation, which is what a buffer at least as
 * large as the domain gives (the tutorial's buffer of 1000 is close to that on horse2zebra).
 *
 * Determinism: all random numbers of an epoch (both orders, then per sample: A crop x, A crop y,
 * A flip, B crop x, B crop y, B flip) are drawn from the Rng in a fixed order when the epoch is
 * planned, never at decode time, so prefetch depth and decode timing cannot change any result.
 * The state is {epoch, indexInEpoch, the Rng state at the start of that epoch}: a pipeline built
 * from it re-plans that epoch and continues with exactly the pairs an uninterrupted run gets.
 */
import { Rng, type RngState } from '../util/rng.ts';
import { decodeToRgb, DEFAULT_MAX_PIXELS } from './image-io.ts';
import type { RgbImage } from './pixels.ts';

export type ResizeMethod = 'nearest' | 'bicubic';
export type EpochLength = 'min' | 'max';

export interface PipelineOptions {
  /** Resize target before the random crop (default 286). */
  loadSize?: number;
  /** Random crop size (default 256). */
  cropSize?: number;
  /** Resize kernel (default 'nearest', as the tutorial). */
  resize?: ResizeMethod;
  /** Random horizontal flip (default true). */
  flip?: boolean;
  /** Pairs per epoch: 'min' (tutorial, default) or 'max' (paper). */
  epochLength?: EpochLength;
  /** Seed of the whole sample order (default 0). Ignored when `state` is given. */
  seed?: number;
  /** Pairs decoded ahead of the consumer (default 4; 0 decodes on demand). */
  prefetch?: number;
  /** tf.data-style shuffle buffer; default: a full permutation per epoch. */
  shuffleBuffer?: number;
  /** Decompression-bomb guard per image (default 100 MP). */
  maxPixels?: number;
  /** Continue from a getState() snapshot. */
  state?: PipelineState;
}

export interface PipelineState {
  version: 1;
  /** Epoch of the next pair next() returns (0-based). */
  epoch: number;
  /** Index within that epoch of the next pair. */
  indexInEpoch: number;
  /** Rng state at the start of `epoch` (before its shuffles were drawn). */
  epochRng: RngState;
  /** For checking that a resume uses the same data and sampling settings. */
  countA: number;
  countB: number;
  epochLength: EpochLength;
  shuffleBuffer: number | null;
  seed: number | null;
}

export interface PipelinePair {
  /** Preprocessed A image, float32 HWC [size,size,3] in [-1, 1]. */
  a: Float32Array;
  b: Float32Array;
  size: number;
  epoch: number;
  /** Index within the epoch. */
  index: number;
  fileA: string;
  fileB: string;
}

export interface CropParams {
  x: number;
  y: number;
  flip: boolean;
}

export interface TrainTransform {
  loadSize: number;
  cropSize: number;
  resize: ResizeMethod;
  maxPixels?: number;
}

/** v / 127.5 - 1 for every byte value (the same float32 values as computing it each time). */
const TO_UNIT = Float32Array.from({ length: 256 }, (_, v) => v / 127.5 - 1);

/** Crops (x, y, size x size) out of an RGB image, optionally mirrors it, scales to [-1, 1]. */
export function cropFlipScale(img: RgbImage, x: number, y: number, size: number, flip: boolean): Float32Array {
  if (x < 0 || y < 0 || x + size > img.width || y + size > img.height) {
    throw new Error(`crop ${size}x${size} at (${x},${y}) is outside the ${img.width}x${img.height} image`);
  }
  const out = new Float32Array(size * size * 3);
  const src = img.data;
  const rowStride = img.width * 3;
  let o = 0;
  for (let r = 0; r < size; r++) {
    const rowStart = (y + r) * rowStride;
    if (!flip) {
      let s = rowStart + x * 3;
      for (let c = 0; c < size * 3; c++) out[o++] = TO_UNIT[src[s++]!]!;
    } else {
      for (let c = size - 1; c >= 0; c--) {
        const s = rowStart + (x + c) * 3;
        out[o++] = TO_UNIT[src[s]!]!;
        out[o++] = TO_UNIT[src[s + 1]!]!;
        out[o++] = TO_UNIT[src[s + 2]!]!;
      }
    }
  }
  return out;
}

/** Train preprocessing of one file with given random parameters (used by the pipeline and preview). */
export async function preprocessTrain(file: string, t: TrainTransform, p: CropParams): Promise<Float32Array> {
  const img = await decodeToRgb(file, file, {
    maxPixels: t.maxPixels,
    resize: { width: t.loadSize, height: t.loadSize, kernel: t.resize },
  });
  return cropFlipScale(img, p.x, p.y, t.cropSize, p.flip);
}

/**
 * Test preprocessing: the image scaled to [-1, 1], resized to cropSize x cropSize (bicubic by
 * default) when it is another size. Returns float32 HWC.
 */
export async function loadTestImage(
  path: string,
  cropSize = 256,
  opts: { resize?: ResizeMethod; maxPixels?: number } = {},
): Promise<{ data: Float32Array; width: number; height: number }> {
  const img = await decodeToRgb(path, path, {
    maxPixels: opts.maxPixels,
    resize: { width: cropSize, height: cropSize, kernel: opts.resize ?? 'bicubic' },
  });
  return { data: cropFlipScale(img, 0, 0, cropSize, false), width: cropSize, height: cropSize };
}

/** tf.data's shuffle(bufferSize) over `items` in order. */
export function bufferedShuffle(items: number[], bufferSize: number, rng: Rng): number[] {
  const out: number[] = [];
  const buf: number[] = [];
  for (const it of items) {
    if (buf.length < bufferSize) {
      buf.push(it);
      continue;
    }
    const j = rng.int(bufferSize);
    out.push(buf[j]!);
    buf[j] = it;
  }
  while (buf.length > 0) {
    const j = rng.int(buf.length);
    out.push(buf[j]!);
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
  }
  return out;
}

interface EpochPlan {
  start: RngState;
  a: Int32Array;
  b: Int32Array;
  /** 6 per sample: ax, ay, aflip, bx, by, bflip. */
  params: Int32Array;
  after: RngState;
}

export class UnpairedPipeline {
  readonly stepsPerEpoch: number;
  readonly loadSize: number;
  readonly cropSize: number;
  readonly resize: ResizeMethod;
  readonly flip: boolean;
  readonly epochLength: EpochLength;
  readonly prefetch: number;
  readonly shuffleBuffer: number | null;
  private readonly files: { a: string[]; b: string[] };
  private readonly maxPixels: number;
  private readonly seed: number | null;
  private readonly plans = new Map<number, EpochPlan>();
  private readonly queue: { epoch: number; index: number; promise: Promise<PipelinePair> }[] = [];
  /** Position of the next sample to schedule. */
  private cursor: { epoch: number; index: number };
  private closed = false;

  constructor(files: { a: string[]; b: string[] }, opts: PipelineOptions = {}) {
    if (files.a.length === 0 || files.b.length === 0) {
      throw new Error(`UnpairedPipeline needs images in both domains (got ${files.a.length} A and ${files.b.length} B)`);
    }
    this.files = { a: [...files.a], b: [...files.b] };
    this.loadSize = opts.loadSize ?? 286;
    this.cropSize = opts.cropSize ?? 256;
    this.resize = opts.resize ?? 'nearest';
    this.flip = opts.flip ?? true;
    this.epochLength = opts.epochLength ?? 'min';
    this.prefetch = opts.prefetch ?? 4;
    this.shuffleBuffer = opts.shuffleBuffer ?? null;
    this.maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    for (const [k, v] of [
      ['loadSize', this.loadSize],
      ['cropSize', this.cropSize],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${k} must be a positive integer, got ${v}`);
    }
    if (this.cropSize > this.loadSize) throw new Error(`cropSize ${this.cropSize} is larger than loadSize ${this.loadSize}`);
    if (!['nearest', 'bicubic'].includes(this.resize)) throw new Error(`resize must be 'nearest' or 'bicubic', got '${this.resize}'`);
    if (!['min', 'max'].includes(this.epochLength)) throw new Error(`epochLength must be 'min' or 'max', got '${this.epochLength}'`);
    if (!Number.isInteger(this.prefetch) || this.prefetch < 0) throw new Error(`prefetch must be an integer >= 0, got ${this.prefetch}`);
    if (this.shuffleBuffer !== null && (!Number.isInteger(this.shuffleBuffer) || this.shuffleBuffer < 1)) {
      throw new Error(`shuffleBuffer must be a positive integer, got ${this.shuffleBuffer}`);
    }
    const nA = this.files.a.length;
    const nB = this.files.b.length;
    this.stepsPerEpoch = this.epochLength === 'min' ? Math.min(nA, nB) : Math.max(nA, nB);

    const st = opts.state;
    if (st) {
      if (st.version !== 1) throw new Error(`unsupported pipeline state version ${String(st.version)}`);
      const problems: string[] = [];
      if (st.countA !== nA || st.countB !== nB) problems.push(`it has ${st.countA} A / ${st.countB} B images, the data now ${nA} / ${nB}`);
      if (st.epochLength !== this.epochLength) problems.push(`epochLength was '${st.epochLength}', now '${this.epochLength}'`);
      if ((st.shuffleBuffer ?? null) !== this.shuffleBuffer)
        problems.push(`shuffleBuffer was ${st.shuffleBuffer}, now ${this.shuffleBuffer}`);
      if (problems.length > 0) throw new Error(`cannot resume the input pipeline: ${problems.join('; ')}`);
      if (!(st.indexInEpoch >= 0 && st.indexInEpoch <= this.stepsPerEpoch)) {
        throw new Error(`cannot resume the input pipeline: indexInEpoch ${st.indexInEpoch} outside 0..${this.stepsPerEpoch}`);
      }
      this.seed = st.seed ?? null;
      this.plans.set(st.epoch, this.planEpoch(st.epochRng));
      this.cursor = { epoch: st.epoch, index: st.indexInEpoch };
    } else {
      const seed = opts.seed ?? 0;
      this.seed = seed;
      this.plans.set(0, this.planEpoch(new Rng(seed).getState()));
      this.cursor = { epoch: 0, index: 0 };
    }
    this.normalizeCursor();
  }

  private planEpoch(start: RngState): EpochPlan {
    const rng = new Rng(start);
    const len = this.stepsPerEpoch;
    const order = (n: number): Int32Array => {
      const out = new Int32Array(len);
      let filled = 0;
      while (filled < len) {
        const base = Array.from({ length: n }, (_, i) => i);
        const perm = this.shuffleBuffer === null ? rng.shuffle(base) : bufferedShuffle(base, this.shuffleBuffer, rng);
        const take = Math.min(n, len - filled);
        out.set(perm.slice(0, take), filled);
        filled += take;
      }
      return out;
    };
    const a = order(this.files.a.length);
    const b = order(this.files.b.length);
    const range = this.loadSize - this.cropSize + 1;
    const params = new Int32Array(len * 6);
    for (let i = 0; i < len * 6; i += 3) {
      params[i] = rng.int(range);
      params[i + 1] = rng.int(range);
      params[i + 2] = rng.next() < 0.5 ? 1 : 0;
    }
    return { start, a, b, params, after: rng.getState() };
  }

  private plan(epoch: number): EpochPlan {
    let p = this.plans.get(epoch);
    if (!p) {
      const prev = this.plans.get(epoch - 1);
      if (!prev) throw new Error(`internal: no plan for epoch ${epoch - 1}`);
      p = this.planEpoch(prev.after);
      this.plans.set(epoch, p);
    }
    return p;
  }

  private normalizeCursor(): void {
    if (this.cursor.index >= this.stepsPerEpoch) {
      this.plan(this.cursor.epoch + 1);
      this.cursor = { epoch: this.cursor.epoch + 1, index: 0 };
    }
  }

  /** Which files and crops sample `index` of `epoch` uses (no decoding). */
  describe(epoch: number, index: number): { fileA: string; fileB: string; a: CropParams; b: CropParams } {
    const p = this.plan(epoch);
    const q = index * 6;
    return {
      fileA: this.files.a[p.a[index]!]!,
      fileB: this.files.b[p.b[index]!]!,
      a: { x: p.params[q]!, y: p.params[q + 1]!, flip: this.flip && p.params[q + 2] === 1 },
      b: { x: p.params[q + 3]!, y: p.params[q + 4]!, flip: this.flip && p.params[q + 5] === 1 },
    };
  }

  private schedule(): void {
    const { epoch, index } = this.cursor;
    const d = this.describe(epoch, index);
    const t: TrainTransform = { loadSize: this.loadSize, cropSize: this.cropSize, resize: this.resize, maxPixels: this.maxPixels };
    const promise = Promise.all([preprocessTrain(d.fileA, t, d.a), preprocessTrain(d.fileB, t, d.b)]).then(([a, b]) => ({
      a,
      b,
      size: this.cropSize,
      epoch,
      index,
      fileA: d.fileA,
      fileB: d.fileB,
    }));
    promise.catch(() => {}); // reported when next() reaches it; never an unhandled rejection
    this.queue.push({ epoch, index, promise });
    this.cursor = { epoch, index: index + 1 };
    this.normalizeCursor();
  }

  private fill(n: number): void {
    while (this.queue.length < n) this.schedule();
  }

  /** The next preprocessed pair; keeps `prefetch` more pairs decoding behind it. */
  async next(): Promise<PipelinePair> {
    if (this.closed) throw new Error('UnpairedPipeline.next() after close()');
    this.fill(1);
    const item = this.queue.shift()!;
    this.fill(this.prefetch);
    // Plans of finished epochs are no longer needed.
    const oldest = this.queue[0]?.epoch ?? this.cursor.epoch;
    for (const e of this.plans.keys()) if (e < Math.min(oldest, item.epoch) - 1) this.plans.delete(e);
    // One turn of the event loop: when the head pair is already decoded, awaiting it would run on
    // microtasks only, and the thread-pool completions of the pairs behind it (which start their
    // next stage) would wait until the queue ran dry. Training steps block the JS thread, so give
    // those callbacks their turn here.
    await new Promise<void>((ok) => setImmediate(ok));
    return item.promise;
  }

  /** Position of the next pair next() will return; JSON-serializable. */
  getState(): PipelineState {
    const pos = this.queue[0] ?? this.cursor;
    return {
      version: 1,
      epoch: pos.epoch,
      indexInEpoch: pos.index,
      epochRng: [...this.plan(pos.epoch).start] as RngState,
      countA: this.files.a.length,
      countB: this.files.b.length,
      epochLength: this.epochLength,
      shuffleBuffer: this.shuffleBuffer,
      seed: this.seed,
    };
  }

  /** Stops prefetching (in-flight decodes finish and are dropped). */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
  }
}
