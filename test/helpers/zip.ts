/** Builds zip files in memory for the download tests (yazl). */
import yazl from 'yazl';

/**
 * A zip of `files` (entry name → content; a name ending in '/' is an empty folder). `compress`
 * deflates the entries (yazl's default); false stores them, so their bytes appear as given.
 */
export function makeZip(files: Record<string, Buffer | string>, { compress = true }: { compress?: boolean } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, content] of Object.entries(files)) {
    if (name.endsWith('/')) zip.addEmptyDirectory(name);
    else zip.addBuffer(Buffer.from(content), name, { compress });
  }
  zip.end();
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('end', () => ok(Buffer.concat(chunks)));
    zip.outputStream.on('error', fail);
  });
}
