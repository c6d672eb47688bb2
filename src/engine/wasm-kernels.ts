/** Training kernels the wasm backend lacks (owned by the kernels work; see issue on wasm training). */
export function registerWasmKernels(): void {}
