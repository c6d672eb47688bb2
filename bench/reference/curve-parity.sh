#!/usr/bin/env bash
# Curve parity with the reference implementation: the official CycleGAN formulation as the CUT
# repository's `cycle_gan` model runs it, and this trainer with `--networks official`, from the
# same initial weights (bench/reference/official_init.py, seed 1), on the same data (the
# horse2zebra training split less the validation split), the same recipe (ResNet-6, ngf/ndf 32,
# 128-px crops of 286-px loads, LSGAN, pool 50, λ 10, identity 0.5, Adam 2e-4/0.5), one thread
# each. Nothing of the reference enters the repository: it is fetched and run under
# ~/.cache/cyclegan/ref (two one-line patches there let its cycle_gan model run on CPU: a
# data_dependent_initialize that takes the batch, and no `opt.amp`).
#
#   bench/reference/curve-parity.sh reference   start the reference run (checkpoints every 617 steps)
#   bench/reference/curve-parity.sh ours        start this trainer's run (validation + sheet every 617 steps)
#   bench/reference/curve-parity.sh resumed STEP  the reference resumed from its iter_STEP weights the way
#                                               its own --continue_train resumes (weights only: fresh Adam
#                                               moments, empty pools), as run h2z_ref_resumed_STEP
#   bench/reference/curve-parity.sh eval STEP [RUN]  the reference's figures and sheet at STEP (imported
#                                               from RUN's iter_STEP checkpoint, RUN h2z_ref by default;
#                                               a resumed run counts steps from its resume); ours are in
#                                               its log.jsonl and samples/val-step-NNNNNN.jpg
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
home=${CYCLEGAN_RUNS:-$HOME/.cache/cyclegan}
ref=$home/ref
data=$home/data/horse2zebra-split
python=/usr/bin/python3

case "${1:-}" in
  reference|resumed)
    [ -d "$ref/cut" ] || { echo "fetch taesungp/contrastive-unpaired-translation into $ref/cut first" >&2; exit 2; }
    if [ "$1" = reference ]; then
      name=h2z_ref start=init
      (cd "$repo/bench/reference" && "$python" official_init.py --out "$ref/init")
      mkdir -p "$ref/checkpoints/$name" && cp "$ref"/init/init_net_*.pth "$ref/checkpoints/$name/"
    else
      start=${2:?usage: resumed STEP}
      name=h2z_ref_resumed_$start
      mkdir -p "$ref/checkpoints/$name"
      # its checkpoints are saved with DataParallel's `module.` prefix, which its loader does not strip
      for net in G_A G_B D_A D_B; do
        "$python" -c 'import sys, torch; s = torch.load(sys.argv[1], map_location="cpu"); torch.save({k.removeprefix("module."): v for k, v in s.items()}, sys.argv[2])' \
          "$ref/checkpoints/h2z_ref/iter_${start}_net_$net.pth" "$ref/checkpoints/$name/${start}_net_$net.pth"
      done
    fi
    cd "$ref/cut"
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nohup nice -n 5 "$python" train.py --dataroot "$data" --name "$name" \
      --model cycle_gan --netG resnet_6blocks --ngf 32 --ndf 32 --load_size 286 --crop_size 128 \
      --no_antialias --no_antialias_up --init_type normal --init_gain 0.02 --gan_mode lsgan --pool_size 50 \
      --checkpoints_dir "$ref/checkpoints" --continue_train --epoch "$start" --display_id 0 --no_html \
      --save_by_iter --save_latest_freq 617 --save_epoch_freq 1000 --n_epochs 100 --n_epochs_decay 100 \
      --gpu_ids -1 --num_threads 0 --print_freq 100 > "$ref/$name-train.log" 2>&1 &
    echo "reference pid $! (log $ref/$name-train.log)"
    ;;
  ours)
    commit=${2:-$(git -C "$repo" rev-parse --short HEAD)}
    THREADS=1 "$repo/scripts/shipped-model-run.sh" compare official "$commit" --networks official --init-from "$ref/init" --eval-every 617
    ;;
  eval)
    step=${2:?usage: eval STEP [RUN]}
    run=${3:-h2z_ref}
    ckpt=$ref/checkpoints/$run
    "$python" "$repo/bench/reference/pth_to_safetensors.py" "$ckpt/iter_${step}_net_G_A.pth" "$ckpt/iter_${step}_net_G_B.pth" > /dev/null
    model=$ref/models/$([ "$run" = h2z_ref ] || echo "$run-")iter-$step
    cd "$repo"
    node bin/cyclegan.js --threads 1 import "$ckpt/iter_${step}_net_G_A.safetensors" "$ckpt/iter_${step}_net_G_B.safetensors" --out "$model" > /dev/null
    node bin/cyclegan.js --threads 1 eval --model "$model" --data "$data" --split val --target-class zebra --source-class sorrel --json > "$model/eval.json"
    node --import tsx scripts/sample-sheet.ts "$model" "$data/valA" "$model/val-step-$(printf %06d "$step").jpg" > /dev/null
    echo "$model: eval.json and val-step-$(printf %06d "$step").jpg"
    ;;
  *) sed -n "2,/^set -euo/p" "$0" | grep "^#"; exit 2 ;;
esac
