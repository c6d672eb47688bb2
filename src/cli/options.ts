/**
 * What main.ts hands every command: the global options and the shape of a command's `run`. Apart
 * from main.ts so that the commands, which main.ts loads, do not import it back.
 */
import type { BackendName } from '../engine/backend.ts';

export interface GlobalOptions {
  backend: BackendName;
  /** wasm threads; undefined = one per core (or CYCLEGAN_WASM_THREADS). */
  threads?: number;
  verbose: boolean;
}

/** A command module's `run`: its parsed options, the global options, its positional arguments. */
export type Action = (opts: Record<string, unknown>, globals: GlobalOptions, args: string[]) => Promise<number | void>;
