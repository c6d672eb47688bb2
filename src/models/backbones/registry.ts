/**
 * The feature backbones `--feature-disc NAME` can use, by name. `mobilenetv2` is built in (loaded
 * on first use: the CLI's --help never reads its weights); the library may register more, e.g. a
 * small stand-in in tests, which then train, checkpoint and resume like the built-in one.
 */
import type { BackboneLoader, FeatureBackbone } from './backbone.ts';

/** `--feature-disc`'s value for no feature discriminator. */
export const NO_FEATURE_DISC = 'none';
export const BUILTIN_FEATURE_BACKBONES = ['mobilenetv2'] as const;

/** Whether `name` has a backbone name's form (lower-case letters, digits, dashes; a letter first). */
export function isFeatureBackboneName(name: unknown): name is string {
  return typeof name === 'string' && /^[a-z][a-z0-9-]*$/.test(name);
}

const loaders = new Map<string, BackboneLoader>([['mobilenetv2', async () => (await import('./mobilenetv2.ts')).loadMobileNetV2()]]);

/**
 * Makes `loader` the backbone `name` (lower-case letters, digits, dashes). The built-in names and
 * 'none' cannot be taken; registering a name again replaces its loader.
 */
export function registerFeatureBackbone(name: string, loader: BackboneLoader): void {
  if (!isFeatureBackboneName(name) || name === NO_FEATURE_DISC) {
    throw new Error(`feature backbone name ${JSON.stringify(name)}: lower-case letters, digits and dashes, not 'none'`);
  }
  if ((BUILTIN_FEATURE_BACKBONES as readonly string[]).includes(name)) throw new Error(`feature backbone '${name}' is built in`);
  loaders.set(name, loader);
}

/** Removes a registered backbone (not a built-in one); returns whether there was one. */
export function unregisterFeatureBackbone(name: string): boolean {
  if ((BUILTIN_FEATURE_BACKBONES as readonly string[]).includes(name)) throw new Error(`feature backbone '${name}' is built in`);
  return loaders.delete(name);
}

export function featureBackboneNames(): string[] {
  return [...loaders.keys()];
}

/** Loads backbone `name`; the caller owns it (dispose). */
export async function loadFeatureBackbone(name: string): Promise<FeatureBackbone> {
  const loader = loaders.get(name);
  if (!loader) throw new Error(`unknown feature backbone ${JSON.stringify(name)} (known: ${featureBackboneNames().join(', ')})`);
  const backbone = await loader();
  if (backbone.identity.name !== name) {
    backbone.dispose();
    throw new Error(`the loader of feature backbone '${name}' returned one named '${backbone.identity.name}'`);
  }
  return backbone;
}
