#!/usr/bin/env bash
# Rebuilds the engine's own wasm kernels (src/engine/native/*.c → *.wasm, *.shared.wasm) and checks that each
# module is safe to run on the tfjs-wasm backend's memory: it imports that memory and nothing
# else, exports only functions, holds only code (no data, no start function: nothing is written
# when it is instantiated, which is checked on a memory of sevens), and never reads or moves the
# stack pointer (it is linked with a zero-sized stack, so it has no memory of its own to use). The .wasm files are committed: a
# clone, CI and users need no toolchain; run this after editing a .c file.
#
#   apt-get install clang-14 lld-14 llvm-14     (Debian 12)
#   scripts/build-wasm-kernels.sh
set -euo pipefail
cd "$(dirname "$0")/../src/engine/native"
CLANG=${CLANG:-clang-14}
OBJDUMP=${OBJDUMP:-llvm-objdump-14}
for tool in "$CLANG" "$OBJDUMP" node; do
  command -v "$tool" >/dev/null || { echo "build-wasm-kernels: $tool not found (apt-get install clang-14 lld-14 llvm-14)" >&2; exit 1; }
done
# Two builds of each kernel: one importing the shared memory of tfjs-wasm's threaded build, one
# importing the plain memory of its single-threaded build (a module's memory import must match).
check() {
  local out=$1 expect=$2 code sections
  # Captured first: `objdump | grep -q` under pipefail reads a broken pipe as a failed check.
  code=$("$OBJDUMP" -d "$out") || { echo "$out: $OBJDUMP -d failed" >&2; return 1; }
  sections=$("$OBJDUMP" -h "$out") || { echo "$out: $OBJDUMP -h failed" >&2; return 1; }
  if grep -q 'global\.\(get\|set\)' <<<"$code"; then
    echo "$out: a function uses the stack pointer (a spill or an address-taken local); it would write into tfjs's heap" >&2
    return 1
  fi
  # Only code and its tables: DATA (initialised statics), DATACOUNT, and START (the function that
  # zeroes uninitialised statics on instantiation) would all write into tfjs's heap.
  local unexpected
  unexpected=$(awk 'NR > 5 && NF >= 2 { print $2 }' <<<"$sections" | grep -vxE 'TYPE|IMPORT|FUNCTION|TABLE|GLOBAL|EXPORT|CODE|name|producers|target_features' || true)
  if [ -n "$unexpected" ]; then
    echo "$out: unexpected sections: $(tr '\n' ' ' <<<"$unexpected")(a module here may hold code only)" >&2
    return 1
  fi
  node -e '
    const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
    const imports = WebAssembly.Module.imports(m).map((i) => `${i.module}.${i.name}:${i.kind}`);
    if (imports.join() !== "env.memory:memory") { console.error(`${process.argv[1]}: imports ${imports.join(", ")}; only env.memory is allowed`); process.exit(1); }
    const other = WebAssembly.Module.exports(m).filter((e) => e.kind !== "function");
    if (other.length > 0) { console.error(`${process.argv[1]}: exports ${other.map((e) => e.name).join(", ")}; only functions are allowed`); process.exit(1); }
    const shared = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    const plain = new WebAssembly.Memory({ initial: 1 });
    const memory = process.argv[2] === "shared" ? shared : plain;
    new Uint8Array(memory.buffer).fill(7);
    new WebAssembly.Instance(m, { env: { memory } });
    if (!new Uint8Array(memory.buffer).every((b) => b === 7)) { console.error(`${process.argv[1]}: instantiating it wrote into the memory`); process.exit(1); }
  ' "$out" "$expect"
}
common=(--target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -ffreestanding
        -Wl,--no-entry -Wl,--import-memory -Wl,-z,stack-size=0 -Wl,--strip-debug)
for src in *.c; do
  base=${src%.c}
  "$CLANG" "${common[@]}" -matomics -Wl,--shared-memory -Wl,--max-memory=4294967296 -o "$base.shared.wasm.tmp" "$src"
  "$CLANG" "${common[@]}" -o "$base.wasm.tmp" "$src"
  if ! check "$base.shared.wasm.tmp" shared || ! check "$base.wasm.tmp" plain; then
    rm -f "$base.shared.wasm.tmp" "$base.wasm.tmp"
    exit 1
  fi
  mv "$base.shared.wasm.tmp" "$base.shared.wasm"
  mv "$base.wasm.tmp" "$base.wasm"
  echo "built $base.wasm ($(stat -c %s "$base.wasm") bytes) and $base.shared.wasm ($(stat -c %s "$base.shared.wasm") bytes)"
done
