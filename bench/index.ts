/**
 * `npm run bench -- <name> [args]`: runs one benchmark (or all with no name) and prints its table.
 * Benchmarks measure; tests never time anything.
 */
const BENCHES: Record<string, string> = {
  data: './data.ts',
  kernels: './kernels.ts',
  train: './train.ts',
  onnx: './onnx.ts',
  profile: './profile.ts',
};

const [name, ...args] = process.argv.slice(2);
const names = name ? [name] : Object.keys(BENCHES);
for (const n of names) {
  const path = BENCHES[n];
  if (!path) {
    console.error(`unknown benchmark '${n}' (choose from ${Object.keys(BENCHES).join(', ')})`);
    process.exit(2);
  }
  console.log(`\n## bench ${n}`);
  const mod = (await import(path)) as { run(args: string[]): Promise<void> };
  await mod.run(args);
}
