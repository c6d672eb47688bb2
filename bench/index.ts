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
  const mod = (await import(path)) as { run(args: string[]): Promise<void>; usage?: string };
  // train answers --help itself; the others print their usage instead of running.
  if (mod.usage && (args.includes('--help') || args.includes('-h'))) {
    console.log(mod.usage);
    continue;
  }
  console.log(`\n## bench ${n}`);
  await mod.run(args);
}
