/**
 * Training kernels for the wasm backend.
 *
 * tfjs-backend-wasm 4.22 has no `Conv2DBackpropFilter` (so conv nets cannot train on it) and its
 * `Conv2DBackpropInput` — which is also the forward pass of every conv2dTranspose — is a scalar
 * loop running at ~2 GFLOP/s. Both are rebuilt out of the two fast primitives the backend has:
 * XNNPACK convolutions (`Conv2D`) and XNNPACK matrix products (`BatchMatMul` without transposes),
 * with data shuffling between them done in JS directly on the wasm heap. `Conv2D` and
 * `FusedConv2D` get a path for small outputs (where repacking a changing filter dominates),
 * `Identity` shares buffers instead of copying them, and instance norm gets kernels of its own
 * (kernel-names.ts), as do LeakyRelu, its gradient, SplitV and Sum. One file per kernel family:
 * conv2d-forward.ts, conv2d-backprop-input.ts, conv2d-backprop-filter.ts, instance-norm.ts,
 * elementwise.ts; shared helpers in
 * kernel-common.ts and filter-cache.ts; every use of tfjs internals in tfjs-internals.ts.
 *
 * The kernels work on TensorInfos and call other wasm kernel functions directly (not through the
 * engine), so nothing they create is seen by the engine: every intermediate is freed before
 * returning.
 */
import {
  Conv2D,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  FusedConv2D,
  getKernel,
  Identity,
  LeakyRelu,
  SplitV,
  Sum,
  type KernelFunc,
  type TensorInfo,
} from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dBackpropFilter } from './conv2d-backprop-filter.ts';
import { conv2dBackpropInput, runStockBackpropInput } from './conv2d-backprop-input.ts';
import { conv2d, fusedConv2d } from './conv2d-forward.ts';
import { leakyRelu, leakyReluGrad, mirrorPadGrad, registerLeakyReluGradient, splitV, stockElementwise, sum } from './elementwise.ts';
import { instanceNorm, instanceNormGrad } from './instance-norm.ts';
import { INSTANCE_NORM, INSTANCE_NORM_GRAD, LEAKY_RELU_GRAD, MIRROR_PAD_GRAD } from './kernel-names.ts';
import { stockKernels } from './kernel-common.ts';
import { removeWasmKernel, replaceWasmKernel, shareBuffer, WASM, type KernelArgs } from './tfjs-internals.ts';

export { wasmKernelTuning } from './kernel-common.ts';

let registered = false;

/**
 * Runs `fn` with wasm's own scalar Conv2DBackpropInput in place of the fast one, so benchmarks can
 * show what the replacement buys. Not for production code.
 */
export function withOriginalBackpropInput<T>(fn: () => T): T {
  const stock = stockKernels.backpropInput;
  if (!registered || !stock) return fn();
  replaceWasmKernel(Conv2DBackpropInput, (args) => runStockBackpropInput(args), stock);
  try {
    return fn();
  } finally {
    replaceWasmKernel(Conv2DBackpropInput, conv2dBackpropInput as unknown as KernelFunc, stock);
  }
}

/**
 * Identity (tensor.clone(), and every tensor the engine saves for backprop) sharing the buffer
 * instead of copying it as the stock wasm kernel does. Buffers are immutable once written, so the
 * copy bought nothing, and it cost a full copy of every weight per use of a network in a training
 * step (three uses of each 54M-parameter U-Net: 1.3 GB) plus a copy of every saved activation.
 */
function identityShared({ inputs, backend }: KernelArgs): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  return shareBuffer(backend as BackendWasm, x);
}

/** Installs the kernels for the 'wasm' backend. Safe to call more than once. */
export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  // The replaced kernels stay as fallbacks; their setup (binding the wasm functions) must still
  // run when the backend starts, so it moves to the replacements.
  stockKernels.conv2D = getKernel(Conv2D, WASM);
  stockKernels.fusedConv2D = getKernel(FusedConv2D, WASM);
  stockKernels.backpropInput = getKernel(Conv2DBackpropInput, WASM);
  for (const [stock, kernelFunc] of [
    [stockKernels.conv2D, conv2d],
    [stockKernels.fusedConv2D, fusedConv2d],
    [stockKernels.backpropInput, conv2dBackpropInput],
  ] as const) {
    if (stock) replaceWasmKernel(stock.kernelName, kernelFunc as unknown as KernelFunc, stock);
  }
  replaceWasmKernel(Identity, identityShared);
  replaceWasmKernel(Conv2DBackpropFilter, conv2dBackpropFilter as unknown as KernelFunc);
  useInstanceNormKernels(true);
  stockElementwise.leakyRelu = getKernel(LeakyRelu, WASM);
  stockElementwise.splitV = getKernel(SplitV, WASM);
  stockElementwise.sum = getKernel(Sum, WASM);
  registerLeakyReluGradient();
  useElementwiseKernels(true);
}

/**
 * Whether LeakyRelu, its gradient, SplitV, Sum and MirrorPad's gradient run as elementwise.ts's compiled kernels or as the
 * stock ones (MirrorPad's gradient as ops, reflection-padding.ts); on by default. For benchmarks' before/after runs.
 */
export function useElementwiseKernels(on: boolean): void {
  const { leakyRelu: stockLeakyRelu, splitV: stockSplitV, sum: stockSum } = stockElementwise;
  if (!stockLeakyRelu || !stockSplitV || !stockSum) throw new Error('useElementwiseKernels: the wasm kernels are not registered');
  replaceWasmKernel(LeakyRelu, on ? leakyRelu : stockLeakyRelu.kernelFunc, stockLeakyRelu);
  replaceWasmKernel(SplitV, on ? splitV : stockSplitV.kernelFunc, stockSplitV);
  replaceWasmKernel(Sum, on ? sum : stockSum.kernelFunc, stockSum);
  for (const [name, kernel] of [
    [LEAKY_RELU_GRAD, leakyReluGrad],
    [MIRROR_PAD_GRAD, mirrorPadGrad],
  ] as const) {
    if (on) replaceWasmKernel(name, kernel as unknown as KernelFunc);
    else removeWasmKernel(name);
  }
}

/**
 * Whether instance norm runs as this project's two kernels (instance-norm.ts) or op by op; on by
 * default. For benchmarks' before/after runs.
 */
export function useInstanceNormKernels(on: boolean): void {
  if (on) {
    replaceWasmKernel(INSTANCE_NORM, instanceNorm as unknown as KernelFunc);
    replaceWasmKernel(INSTANCE_NORM_GRAD, instanceNormGrad as unknown as KernelFunc);
  } else {
    removeWasmKernel(INSTANCE_NORM);
    removeWasmKernel(INSTANCE_NORM_GRAD);
  }
}
