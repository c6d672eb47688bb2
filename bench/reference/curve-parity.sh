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
#   bench/reference/curve-parity.sh eval STEP   the reference's figures and sheet at STEP (imported
#                                               from its iter_STEP checkpoint); ours are in its log.jsonl
#                                               and samples/val-step-NNNNNN.jpg
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
home=${CYCLEGAN_RUNS:-$HOME/.cache/cyclegan}
ref=$home/ref
data=$home/data/horse2zebra-split
python=/usr/bin/python3

case "${1:-}" in
  reference)
    [ -d "$ref/cut" ] || { echo "fetch taesungp/contrastive-unpaired-translation into $ref/cut first" >&2; exit 2; }
    (cd "$repo/bench/reference" && "$python" official_init.py --out "$ref/init")
    mkdir -p "$ref/checkpoints/h2z_ref" && cp "$ref"/init/init_net_*.pth "$ref/checkpoints/h2z_ref/"
    cd "$ref/cut"
    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nohup nice -n 5 "$python" train.py --dataroot "$data" --name h2z_ref \
      --model cycle_gan --netG resnet_6blocks --ngf 32 --ndf 32 --load_size 286 --crop_size 128 \
      --no_antialias --no_antialias_up --init_type normal --init_gain 0.02 --gan_mode lsgan --pool_size 50 \
      --checkpoints_dir "$ref/checkpoints" --continue_train --epoch init --display_id 0 --no_html \
      --save_by_iter --save_latest_freq 617 --save_epoch_freq 1000 --n_epochs 100 --n_epochs_decay 100 \
      --gpu_ids -1 --num_threads 0 --print_freq 100 > "$ref/ref-train.log" 2>&1 &
    echo "reference pid $! (log $ref/ref-train.log)"
    ;;
  ours)
    commit=${2:-$(git -C "$repo" rev-parse --short HEAD)}
    THREADS=1 "$repo/scripts/shipped-model-run.sh" compare official "$commit" --networks official --init-from "$ref/init" --eval-every 617
    ;;
  eval)
    step=${2:?usage: eval STEP}
    ckpt=$ref/checkpoints/h2z_ref
    "$python" "$repo/bench/reference/pth_to_safetensors.py" "$ckpt/iter_${step}_net_G_A.pth" "$ckpt/iter_${step}_net_G_B.pth" > /dev/null
    model=$ref/models/iter-$step
    cd "$repo"
    node bin/cyclegan.js --threads 1 import "$ckpt/iter_${step}_net_G_A.safetensors" "$ckpt/iter_${step}_net_G_B.safetensors" --out "$model" > /dev/null
    node bin/cyclegan.js --threads 1 eval --model "$model" --data "$data" --split val --target-class zebra --source-class sorrel --json > "$model/eval.json"
    node --import tsx scripts/sample-sheet.ts "$model" "$data/valA" "$model/val-step-$(printf %06d "$step").jpg" > /dev/null
    echo "$model: eval.json and val-step-$(printf %06d "$step").jpg"
    ;;
  *) sed -n "2,/^set -euo/p" "$0" | grep "^#"; exit 2 ;;
esac
