"""Converts torch.save'd state_dicts (the official CycleGAN's *_net_G_A.pth) to safetensors files beside them.

    /usr/bin/python3 bench/reference/pth_to_safetensors.py FILE.pth [...]

`cyclegan import` and `train --init-from` read the .safetensors; this runs where PyTorch is.
"""
import sys

import torch

from parity_step import save_safetensors

for path in sys.argv[1:]:
    state = torch.load(path, map_location="cpu")
    out = path[: -len(".pth")] + ".safetensors"
    save_safetensors(out, {k: v for k, v in state.items() if v.is_floating_point()}, {"source": path})
    print(f"wrote {out}")
