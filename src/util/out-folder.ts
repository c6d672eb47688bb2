/**
 * The folder rule every command with `--out` follows: in an existing folder a command writes only
 * the names it owns, beside whatever else is there, and replaces one of those names only when it
 * can tell that an earlier run of the same command wrote it (a manifest, a marker, a file format of
 * its own) or when the user asked (--overwrite, where a command has it). Anything else at one of
 * its names is refused, by name, before anything is written.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { WriteError } from './atomic.ts';

/** The one-line refusal: `PATH: WHY; nothing was written: HINT`. */
export function refuseOutput(path: string, why: string, hint = 'move it or choose another --out'): WriteError {
  return new WriteError(path, `${why}; nothing was written: ${hint}`);
}

/** stat, or null when nothing is there (a file in the way of the path is for the write to report). */
export function statOrNull(path: string): Stats | null {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw error;
  }
}

/** The entries of `dir` (none when it is missing), sorted so that refusals name the same file each time. */
export function entriesOf(dir: string): string[] {
  return statOrNull(dir)?.isDirectory() ? readdirSync(dir).sort() : [];
}

/** The first entry of `dir` that `own` does not accept, as a path; null when there is none. */
export function firstForeign(dir: string, own: (name: string) => boolean): string | null {
  const name = entriesOf(dir).find((n) => !own(n));
  return name === undefined ? null : join(dir, name);
}

/** The first entry of a folder tree for which `own(relativePath, isFolder)` is false, as a path. */
export function firstForeignDeep(dir: string, own: (relative: string, isFolder: boolean) => boolean, prefix = ''): string | null {
  for (const name of entriesOf(dir)) {
    const relative = prefix ? `${prefix}/${name}` : name;
    const folder = statSync(join(dir, name)).isDirectory();
    if (!own(relative, folder)) return join(dir, name);
    if (folder) {
      const inside = firstForeignDeep(join(dir, name), own, relative);
      if (inside) return inside;
    }
  }
  return null;
}
