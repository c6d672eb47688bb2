#!/usr/bin/env bash
# The webgpu backend on this machine's GPU: the adapter Dawn finds, the webgpu correctness tests
# (against the cpu backend) and the training bench, summed up in one table. Meant for a machine
# with an NVIDIA or AMD GPU and its Vulkan driver, where it takes a few minutes; on a software
# driver (lavapipe) run it with tiny sizes:
#   scripts/gpu-check.sh                                   # bench at 128 and 256 px, full networks
#   scripts/gpu-check.sh --sizes 16 -- --ngf 2 --ndf 2 --generators unet --steps 1
# Options after `--` go to `npm run bench -- train`. Exit status: 0 when everything passed.
set -uo pipefail
cd "$(dirname "$0")/.."

sizes=128,256
bench_timeout=${GPU_CHECK_BENCH_TIMEOUT:-420}
bench_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes=$2; shift 2 ;;
    --) shift; bench_extra=("$@"); break ;;
    *) echo "gpu-check: unknown option '$1' (expected --sizes LIST, then -- and bench options)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. The adapter (one JSON line, or the one-line reason there is none).
if ! node --import tsx --input-type=module -e "
  const { installWebGpu } = await import('./src/engine/webgpu.ts');
  try { console.log(JSON.stringify(await installWebGpu())); }
  catch (error) { console.error(error.message); process.exit(1); }
" >"$work/adapter.json" 2>"$work/adapter.err"; then
  echo "gpu-check: $(grep -v artificially "$work/adapter.err" | tail -1)" >&2
  exit 1
fi

# 2. Correctness against cpu.
start=$(date +%s)
node scripts/run-tests.mjs test/engine/webgpu.test.ts >"$work/tests.out" 2>&1
tests_rc=$?
tests_seconds=$(($(date +%s) - start))

# 3. The training bench on webgpu.
start=$(date +%s)
timeout "$bench_timeout" npm run --silent bench -- train --backends webgpu --sizes "$sizes" "${bench_extra[@]}" >"$work/bench.out" 2>"$work/bench.err"
bench_rc=$?
bench_seconds=$(($(date +%s) - start))

node --input-type=module - "$work" "$tests_rc" "$tests_seconds" "$bench_rc" "$bench_seconds" <<'EOF'
import { readFileSync } from 'node:fs';
const [work, testsRc, testsSeconds, benchRc, benchSeconds] = process.argv.slice(2);
const adapter = JSON.parse(readFileSync(`${work}/adapter.json`, 'utf8'));
const tests = readFileSync(`${work}/tests.out`, 'utf8');
const count = (name) => Number(new RegExp(`ℹ ${name} (\\d+)`).exec(tests)?.[1] ?? 0);
const rows = [];
rows.push({ check: 'adapter', result: `${adapter.name}${adapter.software ? ' (software: not GPU numbers)' : ''}`, seconds: '' });
// Failures only: a todo test that fails is listed with ✖ too, but marked '# reason'.
const failed = [...tests.matchAll(/^\s*✖ (.+?) \([\d.]+ms\)\s*$/gm)].map((m) => m[1]);
rows.push({
  check: 'webgpu vs cpu tests',
  result: `${count('pass')} passed, ${count('fail')} failed, ${count('todo')} todo, ${count('skipped')} skipped${failed.length ? `: ${[...new Set(failed)].join('; ')}` : ''}`,
  seconds: testsSeconds,
});
// The bench prints console.table: its rows are the lines between │ separators.
const bench = readFileSync(`${work}/bench.out`, 'utf8').split('\n').filter((l) => l.startsWith('│'));
const [header, ...lines] = bench.map((l) => l.split('│').slice(1, -1).map((c) => c.trim().replace(/^'|'$/g, '')));
for (const cells of lines) {
  const get = (name) => cells[header.indexOf(name)] ?? 'n/a';
  const step = get('step (s)');
  const ok = /^[\d.]+$/.test(step);
  rows.push({
    check: `train step ${get('generator')} ${get('size')} px ngf/ndf ${get('ngf/ndf')}`,
    result: ok ? `${step} s/step, fwd ${get('fwd (ms)')} ms, ${get('GFLOP/s')} GFLOP/s, peak RSS ${get('peak RSS (MiB)')} MiB` : `failed: ${step}`,
    seconds: '',
  });
}
if (lines.length === 0) {
  const err = readFileSync(`${work}/bench.err`, 'utf8').trim().split('\n').filter((l) => !/artificially/.test(l));
  rows.push({ check: 'train bench', result: `no table (exit ${benchRc}${benchRc === '124' ? ', timed out' : ''}): ${err.pop() ?? ''}`, seconds: benchSeconds });
} else rows.push({ check: 'train bench total', result: `exit ${benchRc}`, seconds: benchSeconds });
console.table(rows);
const benchOk = benchRc === '0' && lines.length > 0 && rows.every((r) => !r.result.startsWith('failed'));
process.exit(testsRc === '0' && benchOk ? 0 : 1);
EOF
