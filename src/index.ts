/**
 * `cyclegan`, the library for Node: engines, data, models, training, evaluation, inference and
 * export. Every name is listed here on purpose; anything else is internal and may change. The
 * browser-safe subset is `cyclegan/web` (src/web.ts). Importing this module loads neither
 * onnxruntime-node nor protobufjs: the ONNX functions load them on first use.
 */

// Engines
export { useBackend, describeBackend, BACKEND_NAMES, type BackendName, type BackendOptions } from './engine/backend.ts';
export { wasmHeapStats, resetPeakBuffers, type HeapStats } from './engine/heap-stats.ts';
export { defaultWasmThreads } from './engine/wasm-threads.ts';
export { registerWasmKernels } from './engine/wasm-kernels.ts';

// Data
export {
  readImage,
  decodeImage,
  decodeToRgb,
  writeImage,
  ImageError,
  DEFAULT_MAX_PIXELS,
  type ReadOptions,
  type DecodeOptions,
  type WriteOptions,
  type ResizeKernel,
} from './data/image-io.ts';
export {
  imageToTensor,
  tensorToImage,
  imageToPixels,
  pixelsToImage,
  floatToImage,
  floatToRgba,
  type RgbImage,
  type Pixels,
} from './data/pixels.ts';
export {
  openDataset,
  listImages,
  isImageFile,
  IMAGE_EXTENSIONS,
  DatasetError,
  type Dataset,
  type Split,
  type OpenDatasetOptions,
} from './data/dataset.ts';
export {
  UnpairedPipeline,
  preprocessTrain,
  cropFlipScale,
  loadTestImage,
  type PipelineOptions,
  type PipelineState,
  type PipelinePair,
  type ResizeMethod,
  type EpochLength,
} from './data/pipeline.ts';
export {
  downloadDataset,
  resolveData,
  extractZip,
  isDatasetName,
  defaultDataDir,
  DATASET_NAMES,
  DownloadError,
  type DatasetName,
  type DownloadOptions,
  type DownloadProgress,
  type DownloadResult,
  type ExtractLimits,
} from './data/download.ts';
export { loadSplit, drawSplit, applySplit, splitDataset, BUILTIN_SPLITS, type ValidationSplit, type TrainValSets } from './data/splits.ts';
export { writePreview, type PreviewOptions, type PreviewResult } from './data/preview.ts';
export { writeSyntheticDataset, stripeEnergy, type SyntheticOptions } from './data/synthetic.ts';

// Models
export { InstanceNormalization, type InstanceNormalizationOptions } from './models/layers/instance-norm.ts';
export { ReflectionPadding2D, type ReflectionPadding2DOptions, type Padding2D } from './models/layers/reflection-padding.ts';
export { SeededDropout, setDropoutSeed, type SeededDropoutOptions } from './models/layers/seeded-dropout.ts';
export { NORM_TYPES, type NormType, type SeedSource } from './models/norm.ts';
export { buildUnetGenerator, buildResnetGenerator, type UnetGeneratorOptions, type ResnetGeneratorOptions } from './models/generators.ts';
export { buildPatchDiscriminator, type PatchDiscriminatorOptions } from './models/discriminator.ts';
export { Crop2D, type Crop2DOptions } from './models/layers/crop.ts';
export {
  buildOfficialResnet,
  buildOfficialPatchGan,
  officialResnetKeys,
  officialPatchGanKeys,
  loadOfficialWeights,
  officialStateDict,
  readStateDictFile,
  OFFICIAL_RESNETS,
  type OfficialResnet,
  type LayerKey,
} from './models/official.ts';
export {
  buildOfficialUnet,
  officialUnetKeys,
  OFFICIAL_UNETS,
  type OfficialUnet,
  type OfficialUnetOptions,
} from './models/official-unet.ts';
export { buildOfficialGenerator, officialGeneratorKeys, type OfficialGenerator } from './models/official-generators.ts';
export { parseSafetensors, serializeSafetensors, type NamedArray, type SafetensorsFile } from './models/safetensors.ts';
export { parseTorchCheckpoint } from './models/torch-checkpoint.ts';
export {
  adversarialLoss,
  discriminatorLoss,
  generatorAdversarialLoss,
  cycleLoss,
  identityLoss,
  ADVERSARIAL_LOSS_KINDS,
  type AdversarialLossKind,
} from './models/losses.ts';
export {
  patchNceLoss,
  multiLayerPatchNceLoss,
  buildFeatureTaps,
  buildProjectionHeads,
  samplePatchIds,
  CUT_TAP_LAYERS,
  type FeatureTaps,
} from './models/patch-nce.ts';
export { saveLayersModel, loadLayersModel, quantizeWeights, type SaveOptions, type WeightQuantization } from './models/io.ts';
export {
  registerFeatureBackbone,
  unregisterFeatureBackbone,
  loadFeatureBackbone,
  featureBackboneNames,
  BUILTIN_FEATURE_BACKBONES,
  NO_FEATURE_DISC,
} from './models/backbones/registry.ts';
export {
  checkFeatures,
  sameBackbone,
  describeBackbone,
  type FeatureBackbone,
  type BackboneIdentity,
  type BackboneLoader,
} from './models/backbones/backbone.ts';
export { loadMobileNetV2, readNsfwjsMobileNetV2, MOBILENETV2_TAPS, NSFWJS_VERSION } from './models/backbones/mobilenetv2.ts';
export { frozenDepthwiseConv2d } from './models/backbones/depthwise.ts';
export {
  buildFeatureHeads,
  checkHeadsFit,
  headLogits,
  featureAdversarialLoss,
  featureDiscriminatorLoss,
  type FeatureHeadsOptions,
} from './models/feature-discriminator.ts';
export {
  diffAugment,
  drawAugment,
  applyAugment,
  DIFF_AUGMENT_POLICIES,
  type DiffAugmentPolicy,
  type AugmentDraw,
} from './models/diff-augment.ts';

// Model folders and manifests
export {
  openModel,
  directionsOf,
  generatorFile,
  locateGenerator,
  resolveCheckpointDir,
  readModelManifest,
  BEST_CHECKPOINT,
  type ModelFolder,
  type ModelKind,
} from './infer/model-folder.ts';
export { parseModelManifest, parseManifestText, DIRECTIONS, MANIFEST_FILE, type Direction, type ExportManifest } from './infer/manifest.ts';

// Training
export {
  resolveConfig,
  validateConfig,
  hasFeatureDisc,
  learningRateAt,
  PRESETS,
  DEFAULT_PRESET,
  PRESET_NAMES,
  TRAIN_METHODS,
  GENERATOR_ARCHS,
  GAN_LOSSES,
  NETWORK_STYLES,
  type NetworkStyle,
  type TrainConfig,
  type TrainMethod,
  type PresetName,
  type GeneratorArch,
  type GanLoss,
  type CutConfig,
} from './train/config.ts';
export { CUT_METHODS, CUT_PRESETS, type CutMethod, type CutOptions } from './train/cut-config.ts';
export {
  TRAIN_OPTIONS,
  trainConfigFromValues,
  optionFlags,
  OptionValueError,
  type TrainOption,
  type TrainOptionKey,
  type TrainOptionSpec,
} from './train/options.ts';
export { Adam, type AdamOptions, type AdamState } from './train/adam.ts';
export { ImagePool } from './train/image-pool.ts';
export {
  CycleGan,
  buildGenerator,
  buildDiscriminator,
  backwardPerTerm,
  LOSS_NAMES,
  FEATURE_LOSS_NAMES,
  type StepLosses,
  type FeatureStepLosses,
} from './train/cyclegan.ts';
export {
  Cut,
  resolveCutConfig,
  CUT_LOSS_NAMES,
  CUT_FEATURE_LOSS_NAMES,
  type CutLosses,
  type CutFeatureLosses,
  type CutNetworks,
} from './train/cut.ts';
export { FeatureCritic, loadRunBackbone, loadCheckpointBackbone, featureHeadsKey, type FeatureDomain } from './train/feature-critic.ts';
export { buildModel, lossNames, methodLabel, hasBtoA, type TrainModel, type Losses } from './train/model.ts';
export { variableGradsFrugal } from './train/gradients.ts';
export {
  saveCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  checkpointName,
  type CheckpointMeta,
  type LoadedCheckpoint,
  type RunPosition,
} from './train/checkpoint.ts';
export { train, type TrainOptions, type TrainProgress, type TrainResult, type EpochSummary, type EvalSummary } from './train/loop.ts';
export { readLog, repairLog, plotLosses, type LogLine, type LogLines } from './train/run-log.ts';
export { RunValidation, writeSampleSheet, SHEET_IMAGES, type ValidationOptions, type ValidationResult } from './train/validation.ts';
export { writeRunSnapshot, type SnapshotInfo } from './train/snapshot.ts';

// Evaluation
export { kernelInceptionDistance, featureSet, type FeatureSet, type KidOptions, type KidResult } from './eval/kid.ts';
export { FeatureNetwork, DEFAULT_FEATURE_NET_DIR, type ImageStats, type FeatureNetOptions } from './eval/feature-net.ts';
export { classRate, type ClassRate } from './eval/class-rate.ts';
export { DirectionEvaluator, translatorFn, type TranslateFn, type Figures, type DirectionReport } from './eval/evaluator.ts';
export { evaluateModel, type EvaluateOptions, type EvalReport } from './eval/evaluate.ts';
export { formatReport } from './eval/report.ts';

// Inference
export {
  translateImage,
  translatePixels,
  translationPlan,
  generatorGeometry,
  geometryFromShape,
  runLayersModel,
  type GeneratorGeometry,
  type TranslateOptions,
} from './infer/translate-core.ts';
export { loadTranslator, type Translator, type TranslatorOptions, type Engine } from './infer/translator.ts';
export { translateFiles, expandInputs, planOutputs, type BatchOptions, type BatchResult } from './infer/batch.ts';
export { writeTestReport, addEvaluationToReport, type ReportRow, type ReportResult } from './infer/report.ts';
export { writeGallery, type GalleryOptions, type GalleryResult } from './infer/gallery.ts';
export {
  listEmbeddedModels,
  defaultModel,
  embeddedModel,
  embeddedModelsDir,
  type EmbeddedModel,
  type ModelCard,
} from './infer/embedded.ts';
export { OnnxGenerator, type OnnxGeneratorOptions } from './infer/onnx-engine.ts';

// Export
export { exportTfjs, type ExportedManifest, type ExportTfjsOptions } from './export/tfjs.ts';
export { exportOnnx, onnxExportPath, type ExportOnnxOptions, type OnnxExportedFile } from './export/onnx-export.ts';
export { exportSafetensors, officialArchitecture, SAFETENSORS_FILES } from './export/safetensors-export.ts';
export { importOfficial, inferOfficialGenerator, type ImportOptions, type ImportedGenerator } from './export/official-import.ts';
export {
  generatorToOnnx,
  loadOnnxSchema,
  DEFAULT_OPSET,
  MIN_OPSET,
  MAX_OPSET,
  type OnnxExportOptions,
  type OnnxSchema,
} from './export/onnx.ts';
