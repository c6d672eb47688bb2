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
export { saveLayersModel, loadLayersModel, quantizeWeights, type SaveOptions, type WeightQuantization } from './models/io.ts';

export * from './train/config.ts';
export { Adam, type AdamOptions, type AdamState } from './train/adam.ts';
export { ImagePool } from './train/image-pool.ts';
export { CycleGan, buildGenerator, backwardPerTerm, LOSS_NAMES, type StepLosses } from './train/cyclegan.ts';
export { Cut, resolveCutConfig, CUT_LOSS_NAMES, type CutLosses, type CutNetworks } from './train/cut.ts';
export * from './train/cut-config.ts';
export { buildModel, lossNames, methodLabel, hasBtoA, type TrainModel, type Losses } from './train/model.ts';
export * from './models/patch-nce.ts';
export { variableGradsFrugal } from './train/gradients.ts';
export * from './train/checkpoint.ts';
export { train, type TrainOptions, type TrainProgress, type TrainResult, type EpochSummary, type EvalSummary } from './train/loop.ts';
export { repairLog, readLog, plotLosses, type LogLine, type LogLines } from './train/run-log.ts';
export { RunValidation, type ValidationOptions, type ValidationResult } from './train/validation.ts';
export * from './data/splits.ts';

export { kernelInceptionDistance, featureSet, type FeatureSet, type KidOptions, type KidResult } from './eval/kid.ts';
export { FeatureNetwork, DEFAULT_FEATURE_NET_DIR, type ImageStats, type FeatureNetOptions } from './eval/feature-net.ts';
export { classRate, type ClassRate } from './eval/class-rate.ts';
export { DirectionEvaluator, translatorFn, type TranslateFn, type Figures, type DirectionReport } from './eval/evaluator.ts';
export { evaluateModel, type EvaluateOptions, type EvalReport } from './eval/evaluate.ts';
export { listEmbeddedModels, defaultModel, embeddedModel, embeddedModelsDir, type EmbeddedModel, type ModelCard } from './infer/embedded.ts';

export * from './infer/translate-core.ts';
export * from './infer/translator.ts';
export * from './infer/batch.ts';
export * from './infer/report.ts';
export { exportTfjs, type ExportedManifest, type ExportTfjsOptions } from './export/tfjs.ts';
export * from './infer/manifest.ts';
export { exportGeneratorToOnnx } from './export/onnx.ts';
export { OnnxGenerator } from './infer/onnx-engine.ts';
