/**
 * ONNX Runtime (onnxruntime-node, CPU execution provider) as a generator engine: runs an .onnx
 * file written by src/export/onnx.ts (NHWC float32 'input' [1, H, W, C] → NHWC 'output').
 * Node-only. onnxruntime-node (a native addon, an optional peer dependency: see
 * util/optional-module.ts) is loaded by the first OnnxGenerator.load, not when this module or the
 * library is imported.
 */
import { stat } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { importOptional, MissingOptionalModule } from '../util/optional-module.ts';

type OrtModule = typeof Ort;

let ortModule: Promise<OrtModule> | null = null;

/** onnxruntime-node, imported on first use (once). */
async function loadOrt(): Promise<OrtModule> {
  ortModule ??= importOptional('onnxruntime-node', 'the ONNX engine', () => import('onnxruntime-node')).catch((error: unknown) => {
    ortModule = null;
    if (error instanceof MissingOptionalModule) throw error;
    throw new Error(`cannot load onnxruntime-node: ${(error as Error).message}`, { cause: error });
  });
  return ortModule;
}

export interface OnnxGeneratorOptions {
  /** Threads ONNX Runtime uses inside one op. Default 2. */
  intraOpNumThreads?: number;
  /** Graph optimisation level. Default 'all'. */
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
}

type Dim = number | string;

function describeSource(source: string | Uint8Array): string {
  return typeof source === 'string' ? `'${source}'` : `<${source.byteLength} bytes>`;
}

export class OnnxGenerator {
  /** Input side when the model takes only one (square) size, null when height/width are free. */
  readonly fixedSize: number | null;
  /** Input height and width, a number when fixed, the symbolic name when free. */
  readonly inputHeight: Dim;
  readonly inputWidth: Dim;
  /** Image channels in. */
  readonly channels: number;
  private readonly inputName: string;
  private readonly outputName: string;

  private constructor(
    private readonly ort: OrtModule,
    private session: Ort.InferenceSession | null,
    readonly source: string,
  ) {
    const input = session!.inputMetadata[0];
    const output = session!.outputMetadata[0];
    if (session!.inputNames.length !== 1 || session!.outputNames.length !== 1 || !input || !output) {
      throw new Error(
        `${source}: expected an ONNX model with one input and one output, got ${session!.inputNames.length} and ${session!.outputNames.length}`,
      );
    }
    if (!input.isTensor || input.type !== 'float32' || input.shape.length !== 4) {
      throw new Error(`${source}: expected a float32 NHWC input, got ${JSON.stringify(input)}`);
    }
    const [, h, w, c] = input.shape;
    if (typeof c !== 'number') throw new Error(`${source}: the input's channel count is not fixed`);
    this.inputHeight = h!;
    this.inputWidth = w!;
    this.channels = c;
    this.fixedSize = typeof h === 'number' && h === w ? h : null;
    this.inputName = input.name;
    this.outputName = output.name;
  }

  /** Opens an .onnx file (path) or in-memory model (bytes) on the CPU execution provider. */
  static async load(pathOrBytes: string | Uint8Array, options: OnnxGeneratorOptions = {}): Promise<OnnxGenerator> {
    const { intraOpNumThreads = 2, graphOptimizationLevel = 'all' } = options;
    const source = describeSource(pathOrBytes);
    if (typeof pathOrBytes === 'string') {
      try {
        const info = await stat(pathOrBytes);
        if (!info.isFile()) throw new Error('not a file');
      } catch (err) {
        throw new Error(`cannot load ONNX model ${source}: ${(err as Error).message}`, { cause: err });
      }
    }
    const ort = await loadOrt();
    const sessionOptions: Ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel,
    };
    let session: Ort.InferenceSession;
    try {
      session =
        typeof pathOrBytes === 'string'
          ? await ort.InferenceSession.create(pathOrBytes, sessionOptions)
          : await ort.InferenceSession.create(pathOrBytes, sessionOptions);
    } catch (err) {
      throw new Error(`cannot load ONNX model ${source} (corrupt or not an ONNX file?): ${(err as Error).message}`, { cause: err });
    }
    try {
      return new OnnxGenerator(ort, session, source);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Runs the generator on one NHWC image (h × w × channels floats); returns the NHWC output. */
  async run(nhwc: Float32Array, h: number, w: number): Promise<Float32Array> {
    const session = this.session;
    if (!session) throw new Error(`${this.source}: the ONNX generator was disposed`);
    if (!(Number.isInteger(h) && h > 0 && Number.isInteger(w) && w > 0)) {
      throw new Error(`${this.source}: invalid image size ${h}x${w}`);
    }
    if (nhwc.length !== h * w * this.channels) {
      throw new Error(`${this.source}: expected ${h}x${w}x${this.channels} = ${h * w * this.channels} values, got ${nhwc.length}`);
    }
    if (
      (typeof this.inputHeight === 'number' && h !== this.inputHeight) ||
      (typeof this.inputWidth === 'number' && w !== this.inputWidth)
    ) {
      throw new Error(`${this.source}: this model takes ${this.inputHeight}x${this.inputWidth} images, got ${h}x${w}`);
    }
    const input = new this.ort.Tensor('float32', nhwc, [1, h, w, this.channels]);
    const results = await session.run({ [this.inputName]: input });
    const out = results[this.outputName];
    if (!out || out.type !== 'float32') throw new Error(`${this.source}: the model produced no float32 '${this.outputName}'`);
    const data = out.data as Float32Array;
    // Copy out of ORT's buffer so disposing the tensor cannot invalidate what callers hold.
    const copy = Float32Array.from(data);
    out.dispose();
    return copy;
  }

  /** Releases the native session. */
  async dispose(): Promise<void> {
    const session = this.session;
    this.session = null;
    if (session) await session.release();
  }
}
