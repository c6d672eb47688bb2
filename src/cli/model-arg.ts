/**
 * What `--model` means on every command that reads a model: a path (run, checkpoint, `RUN:best`,
 * export, model.json, .onnx), the name of an embedded model, or — when omitted — the embedded
 * default model.
 */
import { defaultModel, embeddedModel, embeddedModelsDir } from '../infer/embedded.ts';
import { looksLikeModelPath } from '../infer/model-folder.ts';
import { UserError } from './errors.ts';

/**
 * Resolves the option to a path. `optional` commands (eval: floors and ceilings alone) get
 * undefined when no model is given and none is embedded; the others get one clear error.
 */
export async function resolveModelArg(model: string | undefined, optional = false): Promise<string | undefined> {
  if (model !== undefined) {
    if (looksLikeModelPath(model)) return model;
    try {
      return (await embeddedModel(model)).path;
    } catch (error) {
      throw new UserError(`${model}: no such file or folder, and ${(error as Error).message}`);
    }
  }
  const found = await defaultModel();
  if (found) return found.path;
  if (optional) return undefined;
  throw new UserError(
    `no --model given and no embedded default model in ${embeddedModelsDir()} (train one with \`cyclegan train\`, then pass --model RUN)`,
  );
}
