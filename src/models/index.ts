/**
 * The models package: layers, generators, discriminator and losses. Importing it registers the
 * custom layers (InstanceNormalization, ReflectionPadding2D, SeededDropout, Crop2D) with tfjs's
 * serialization, so saved models load. Browser-safe: file I/O lives in ./io.ts (Node only),
 * which Node code imports directly.
 */
export * from './layers/instance-norm.ts';
export * from './layers/reflection-padding.ts';
export * from './layers/seeded-dropout.ts';
export * from './layers/crop.ts';
export * from './norm.ts';
export * from './generators.ts';
export * from './discriminator.ts';
export * from './losses.ts';
