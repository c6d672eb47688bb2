#!/usr/bin/env bash
# The long training run of the shipped horse <-> zebra model, kept outside the repository so that
# sessions can stop and start it: a git worktree pinned to one commit (edits in the repository
# cannot break its resume), the real data with the committed validation split held out, a run
# folder with step checkpoints, and the trainer at nice 19. Its recipe: the paper preset with the
# official PyTorch layers (--networks official, whose step the parity test proves), ResNet-6,
# ngf/ndf 32, 128-px crops of 286-px loads, seed 1, 40 epochs then 20 of decay.
#
#   scripts/shipped-model-run.sh start [COMMIT] [OPTION...]
#                                               the first thing of every session: nothing if the
#                                               trainer already runs; else resume the run folder, or
#                                               restore it from the committed snapshot when the
#                                               machine lost it, or start a new run; COMMIT (default:
#                                               the run's last, else the snapshot's) pins the trainer's
#                                               worktree; validation every 1234 steps (an epoch), with
#                                               a sample sheet; OPTIONs go to `train` (on resume:
#                                               --epochs, --epochs-decay)
#   scripts/shipped-model-run.sh snapshot       write the run's snapshot to snapshots/h2z-long-run.tar.gz
#                                               (uint8 networks, fresh Adam moments, the log; commit it)
#   scripts/shipped-model-run.sh status         step, epoch, last log line
#   scripts/shipped-model-run.sh compare LABEL [COMMIT [OPTION...]]
#                                               a recipe comparison's run h2z-LABEL (resumed when it
#                                               exists; COMMIT defaults to the one it started on;
#                                               nothing when it already runs): the same data,
#                                               seed, validation, ResNet-6 ngf/ndf 32 and 128 px crops
#                                               of 286 px loads unless OPTIONs (given to `train`, the
#                                               last of a kind wins) change them, e.g. --generator
#                                               resnet9, --ngf 64, --load-size 128, --batch-size 4;
#                                               LABEL cut or fastcut means that --method; one thread,
#                                               so two of them can share the machine (THREADS=2 for
#                                               one alone on it)
#   scripts/shipped-model-run.sh compare-stop   stop the comparison runs (checkpoint first)
#
# Environment: CYCLEGAN_RUNS (default ~/.cache/cyclegan), H2Z (default ../shared/data/horse2zebra).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
home=${CYCLEGAN_RUNS:-$HOME/.cache/cyclegan}
h2z=${H2Z:-$repo/../shared/data/horse2zebra}
run=$home/runs/h2z-resnet6-ngf32-128
data=$home/data/horse2zebra-split
snapshot=$repo/snapshots/h2z-long-run.tar.gz

make_data() {
  # Symlinks, never copies: the images stay where their terms allow them to be.
  node --import tsx - "$h2z" "$data" <<'JS'
import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSplit } from './src/data/splits.ts';
const [src, dst] = process.argv.slice(2);
const split = await loadSplit('horse2zebra');
for (const d of ['A', 'B']) {
  const val = new Set(d === 'A' ? split.valA : split.valB);
  for (const sub of ['train', 'val']) mkdirSync(join(dst, sub + d), { recursive: true });
  for (const f of readdirSync(join(src, 'train' + d))) {
    const link = join(dst, (val.has(f) ? 'val' : 'train') + d, f);
    if (!existsSync(link)) symlinkSync(resolve(src, 'train' + d, f), link);
  }
}
JS
}

case "${1:-}" in
  start)
    if pid=$(pgrep -f "cyclegan.js --threads 2 train --(out|resume) $run( |$)"); then
      echo "the run is already going (pid $pid): nothing to do"; exit 0
    fi
    commit=${2:-}
    if [[ -n "$commit" && "$commit" != --* ]]; then shift 2; else commit=; shift 1; fi
    [ -n "$commit" ] || commit=$(cat "$run.commit" 2>/dev/null || true)
    if [ ! -f "$run/checkpoints/latest" ] && [ -f "$snapshot" ]; then
      # The machine lost the run: continue from the committed snapshot.
      mkdir -p "$run"
      tar -xzf "$snapshot" -C "$run"
      [ -n "$commit" ] || commit=$(cat "$run/TRAINER_COMMIT")
      rm -f "$run/TRAINER_COMMIT"
      echo "restored $run from $snapshot ($(cat "$run/checkpoints/latest"))"
    fi
    [ -n "$commit" ] || { echo "usage: start COMMIT [OPTION...] (no run, snapshot or earlier commit to take it from)" >&2; exit 2; }
    tree=$home/trainer-$commit
    if [ ! -d "$tree" ]; then
      git -C "$repo" worktree add --detach "$tree" "$commit"
      cp -al "$repo/node_modules" "$tree/node_modules"
    fi
    (cd "$repo" && make_data)
    validate=(--eval-every 1234 --eval-class-a sorrel --eval-class-b zebra)
    if [ -f "$run/checkpoints/latest" ]; then args=(--resume "$run" "${validate[@]}"); else
      args=(--out "$run" --data "$data" --preset paper --generator resnet6 --networks official --ngf 32 --ndf 32
            --load-size 286 --crop-size 128 --seed 1 --save-every 1 --keep 1000 --save-latest-every 200
            --epochs 40 --epochs-decay 20 "${validate[@]}")
    fi
    args+=("$@")
    mkdir -p "$home/runs"
    echo "$commit" > "$run.commit"
    cd "$tree"
    nohup nice -n 19 node bin/cyclegan.js --threads 2 train "${args[@]}" >> "$home/runs/h2z-trainer.log" 2>&1 &
    echo "trainer pid $! at $commit (log $home/runs/h2z-trainer.log)"
    ;;
  snapshot)
    commit=$(cat "$run.commit")
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$repo" && node --import tsx scripts/run-snapshot.ts "$run" "$tmp/run")
    echo "$commit" > "$tmp/run/TRAINER_COMMIT"
    mkdir -p "$(dirname "$snapshot")"
    tar -czf "$snapshot.tmp" -C "$tmp/run" . && mv "$snapshot.tmp" "$snapshot"
    echo "wrote $snapshot ($(du -h "$snapshot" | cut -f1)); commit it"
    ;;
  stop)
    # SIGINT: the trainer finishes its step and writes a checkpoint before it exits.
    pkill -INT -f "cyclegan.js --threads 2 train --(out|resume) $run " && echo "stopping (a checkpoint is written first)" || echo "no trainer running"
    ;;
  compare)
    label=${2:?usage: compare LABEL [COMMIT [OPTION...]]}
    crun=$home/runs/h2z-$label
    # Without COMMIT: the commit the comparison was started on (a resume).
    commit=${3:-$(cat "$crun.commit" 2>/dev/null || true)}
    [ -n "$commit" ] || { echo "usage: compare LABEL COMMIT [OPTION...] (no earlier $label run to take the commit from)" >&2; exit 2; }
    shift $(($# < 3 ? $# : 3))
    if pgrep -f "train (--resume|--out) $crun( |\$)" >/dev/null; then echo "$label already runs"; exit 0; fi
    tree=$home/trainer-$commit
    if [ ! -d "$tree" ]; then
      git -C "$repo" worktree add --detach "$tree" "$commit"
      cp -al "$repo/node_modules" "$tree/node_modules"
    fi
    (cd "$repo" && make_data)
    # CUT and FastCUT translate A→B only, so their validation has no horse class. Validation every
    # epoch, as the long run's, so that both are compared at the same steps.
    case "$label" in
      cut|fastcut) method=(--method "$label"); validate=(--eval-every 1234 --eval-class-b zebra) ;;
      *) method=(); validate=(--eval-every 1234 --eval-class-a sorrel --eval-class-b zebra) ;;
    esac
    if [ -f "$crun/checkpoints/latest" ]; then args=(--resume "$crun" "${validate[@]}"); else
      args=(--out "$crun" --data "$data" "${method[@]}" --generator resnet6 --ngf 32 --ndf 32
            --load-size 286 --crop-size 128 --seed 1 --save-every 1 --keep 1000 --save-latest-every 200
            "${validate[@]}")
    fi
    args+=("$@")
    mkdir -p "$home/runs"
    echo "$commit" > "$crun.commit"
    cd "$tree"
    nohup nice -n 19 node bin/cyclegan.js --threads "${THREADS:-1}" train "${args[@]}" >> "$home/runs/h2z-$label-trainer.log" 2>&1 &
    echo "$label trainer pid $! (log $home/runs/h2z-$label-trainer.log)"
    ;;
  compare-stop)
    # Every trainer but the shipped run's.
    pids=$(for p in $(pgrep -f 'cyclegan.js --threads [0-9]+ train' || true); do
      tr '\0' ' ' < "/proc/$p/cmdline" | grep -q "$run" || echo "$p"; done)
    if [ -n "$pids" ]; then kill -INT $pids; echo "stopping (a checkpoint is written first)"; else echo "no comparison run"; fi
    ;;
  status)
    cat "$run/checkpoints/latest" 2>/dev/null || echo "no checkpoint yet"
    tail -n 2 "$run/log.jsonl" 2>/dev/null || true
    tail -c 400 "$home/runs/h2z-trainer.log" 2>/dev/null | tr '\r' '\n' | tail -n 2
    for log in "$home"/runs/h2z-*-trainer.log; do
      [ -f "$log" ] || continue
      label=${log##*/h2z-}; label=${label%-trainer.log}
      echo "-- $label: $(cat "$home/runs/h2z-$label/checkpoints/latest" 2>/dev/null || echo 'no checkpoint yet')"
      tail -c 300 "$log" | tr '\r' '\n' | tail -n 1
    done
    ;;
  *) sed -n "2,/^set -euo/p" "$0" | grep "^#"; exit 2 ;;
esac
