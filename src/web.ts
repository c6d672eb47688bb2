/**
 * `cyclegan/web`: the browser-safe part of the library, what a page needs to run an exported
 * model: the custom layers (importing this module registers them, so saved models load), the
 * generators' builders, translation at any size, the model manifest's parser, pixel conversion
 * and the direction types. Nothing here imports Node modules, sharp or the training code;
 * `npm run lint` (dependency-cruiser) checks that.
 */
export { InstanceNormalization, type InstanceNormalizationOptions } from './models/layers/instance-norm.ts';
export { ReflectionPadding2D, type ReflectionPadding2DOptions, type Padding2D } from './models/layers/reflection-padding.ts';
export { SeededDropout, type SeededDropoutOptions } from './models/layers/seeded-dropout.ts';
export { Crop2D, type Crop2DOptions } from './models/layers/crop.ts';
export { buildResnetGenerator, buildUnetGenerator, type ResnetGeneratorOptions, type UnetGeneratorOptions } from './models/generators.ts';
export {
  translateImage,
  translatePixels,
  translationPlan,
  runLayersModel,
  generatorGeometry,
  geometryFromShape,
  reflectPad,
  type GeneratorGeometry,
  type TranslateOptions,
} from './infer/translate-core.ts';
export {
  parseManifestText,
  parseModelManifest,
  manifestDirections,
  noGenerator,
  onnxNotServed,
  DIRECTIONS,
  MANIFEST_FILE,
  EXPORT_FORMAT,
  type Direction,
  type ExportManifest,
} from './infer/manifest.ts';
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
