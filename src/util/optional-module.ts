/**
 * Engines that not every user needs are optional peer dependencies of the package, which npm does
 * not install: ONNX Runtime (`onnxruntime-node`, ~290 MB with its native binaries and an install
 * script that fetches more) and Dawn (`webgpu`, ~130 MB for every platform). They are imported on
 * first use; when one is missing, the error is one line saying what to install.
 */

/** An optional dependency that is not installed (the message says what to run). */
export class MissingOptionalModule extends Error {
  constructor(
    readonly specifier: string,
    purpose: string,
    options?: ErrorOptions,
  ) {
    super(`${purpose} needs the npm package ${specifier}, which is not installed: run \`npm install ${specifier}\``, options);
    this.name = 'MissingOptionalModule';
  }
}

/** Whether `error` is Node's "cannot find package `specifier`" (ESM or CommonJS), not a failure inside it. */
export function isMissingModule(error: unknown, specifier: string): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  return new RegExp(`['"]${specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}['"]`).test((error as Error).message);
}

/**
 * `load()` (a static `import('pkg')`, so that bundlers and type checkers see it), with a missing
 * `specifier` turned into MissingOptionalModule; any other failure is thrown as it is.
 */
export async function importOptional<T>(specifier: string, purpose: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissingModule(error, specifier)) throw new MissingOptionalModule(specifier, purpose, { cause: error });
    throw error;
  }
}
