// The dependency direction of src/, checked in CI (`npm run lint`). Folders are layers, lowest
// first; a module may import its own layer and the layers before it, never one after it.
const { builtinModules } = require('node:module');

const LAYERS = ['util', 'engine', 'data', 'models', 'infer', 'eval', 'train', 'export', 'serve', 'cli'];
const TOP = '^src/(index|web|demo)\\.ts$';

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer}`,
  comment: `src/${layer} may import only ${LAYERS.slice(0, i + 1).join(', ')}`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: [`^src/(${LAYERS.slice(i + 1).join('|')})/`, TOP] },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    {
      name: 'no-circular',
      comment:
        'no import cycle under src/, whatever the kinds of import in it: a type-only or a dynamic import ties two files together as much as any other',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'top-is-top',
      comment: 'the entry points (index, web, demo) are imported by nothing in src/ but the CLI',
      severity: 'error',
      from: { path: '^src/', pathNot: ['^src/cli/', TOP] },
      to: { path: TOP },
    },
    {
      name: 'web-entry-is-browser-safe',
      comment: 'cyclegan/web runs in browsers: nothing it reaches may import Node built-ins, sharp, onnxruntime-node or Node-only code',
      severity: 'error',
      from: { path: '^src/web\\.ts$' },
      to: {
        reachable: true,
        path: [
          // dependency-cruiser names core modules without the node: prefix (fs, fs/promises, …).
          `^(node:)?(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`,
          'sharp',
          'onnxruntime-node',
          '^src/util/atomic\\.ts$',
          '^src/(serve|cli|export|train|eval)/',
        ],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
