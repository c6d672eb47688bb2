// Registers the generators' custom layers (InstanceNormalization, ReflectionPadding2D,
// SeededDropout) with tfjs serialization. The models package is browser-safe; its Node-only file
// I/O (io.ts) is not imported here.
import '../../src/models/index.ts';
