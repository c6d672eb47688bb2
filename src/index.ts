/** The `cyclegan` library for Node: data, models, training, inference and export. */
export { useBackend, describeBackend, BACKEND_NAMES, type BackendName, type BackendOptions } from './engine/backend.ts';
export { wasmHeapStats, resetPeakBuffers, type HeapStats } from './engine/heap-stats.ts';
export { defaultWasmThreads } from './engine/wasm-threads.ts';
export { registerWasmKernels } from './engine/wasm-kernels.ts';

export * from './data/image-io.ts';
export * from './data/dataset.ts';
export * from './data/pipeline.ts';
export * from './data/download.ts';
export * from './data/preview.ts';
export * from './data/synthetic.ts';

export * from './models/index.ts';
export { saveLayersModel, loadLayersModel } from './models/io.ts';

export * from './train/config.ts';
export { Adam, type AdamOptions, type AdamState } from './train/adam.ts';
export { ImagePool } from './train/image-pool.ts';
export { CycleGan, buildGenerator, backwardPerTerm, LOSS_NAMES, type StepLosses } from './train/cyclegan.ts';
export { variableGradsFrugal } from './train/gradients.ts';
export * from './train/checkpoint.ts';
export { train, type TrainOptions, type TrainProgress, type TrainResult, type EpochSummary } from './train/loop.ts';

export * from './infer/translate-core.ts';
export * from './infer/translator.ts';
export * from './infer/batch.ts';
export * from './infer/report.ts';
export { exportTfjs, type ExportedManifest } from './export/tfjs.ts';
export * from './infer/manifest.ts';
export { exportGeneratorToOnnx } from './export/onnx.ts';
export { OnnxGenerator } from './infer/onnx-engine.ts';
