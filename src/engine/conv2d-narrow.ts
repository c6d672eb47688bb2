/**
 * Convolutions with few input or few output channels (native/conv-narrow.c): the ResNets' 7x7
 * layers from and to RGB, forward, and as the input gradients' stride-1 convolutions. XNNPACK runs
 * them as products with 3 rows or columns, far below its speed; these accumulate directly over
 * vectors of the wide side, two output pixels at a time, rows split over the compiled kernels'
 * threads.
 */
import type { backend_util, TensorInfo } from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { geometryArgs, wasmKernelTuning } from './kernel-common.ts';
import { runNative } from './native-threads.ts';
import { allocate, free, heapOffset, heapView } from './tfjs-internals.ts';

/** Which side of `info`'s convolution is narrow enough for native/conv-narrow.c, or null. */
export function narrowConvSide(info: backend_util.Conv2DInfo): 'in' | 'out' | null {
  if (!wasmKernelTuning.narrowConv || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  // conv_few_out keeps four sums per pixel, so its side takes at most 4 whatever the tuning says.
  const most = wasmKernelTuning.narrowConvMaxChannels;
  if (info.outChannels <= Math.min(most, 4) && info.inChannels % 4 === 0) return 'out';
  if (info.inChannels <= most && info.outChannels % 4 === 0) return 'in';
  return null;
}

/**
 * y = conv(x, filter) (+ bias, a float32 vector of one value per output channel) (then relu), for
 * a convolution narrowConvSide accepts. The few-output kernel reads the filter rearranged to
 * [kh][4][kw][ci] (outputs past co zero), written here into the call's scratch with a block of
 * zeros for the padding.
 */
export function conv2dNarrow(
  backend: BackendWasm,
  x: TensorInfo,
  filter: TensorInfo,
  info: backend_util.Conv2DInfo,
  options: { bias: TensorInfo | null; relu: boolean },
): TensorInfo {
  const side = narrowConvSide(info);
  if (!side) throw new Error(`conv2dNarrow: a ${info.inChannels}->${info.outChannels} convolution has no narrow side`);
  const { batchSize, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth } = info;
  const taps = filterHeight * filterWidth;
  const rearranged = side === 'out' ? taps * 4 * inChannels : 0;
  const y = allocate(backend, [batchSize, outHeight, outWidth, outChannels]);
  let scratch: TensorInfo | null = null;
  try {
    scratch = allocate(backend, [rearranged + inChannels]);
    const values = heapView(backend, scratch);
    values.fill(0);
    if (side === 'out') {
      const w = heapView(backend, filter);
      for (let kh = 0; kh < filterHeight; kh++) {
        for (let kw = 0; kw < filterWidth; kw++) {
          for (let c = 0; c < inChannels; c++) {
            const from = ((kh * filterWidth + kw) * inChannels + c) * outChannels;
            for (let o = 0; o < outChannels; o++) values[((kh * 4 + o) * filterWidth + kw) * inChannels + c] = w[from + o]!;
          }
        }
      }
    }
    const base = heapOffset(backend, scratch);
    runNative(
      backend,
      'conv-narrow',
      side === 'out' ? 'conv_few_out' : 'conv_few_in',
      [
        heapOffset(backend, x),
        side === 'out' ? base : heapOffset(backend, filter),
        options.bias ? heapOffset(backend, options.bias) : 0,
        base + 4 * rearranged,
        heapOffset(backend, y),
        ...geometryArgs(info),
        options.relu ? 1 : 0,
      ],
      batchSize * outHeight,
    );
  } catch (error) {
    free(backend, y);
    throw error;
  } finally {
    if (scratch) free(backend, scratch);
  }
  return y;
}
