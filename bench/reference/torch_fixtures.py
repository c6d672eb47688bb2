"""Fixtures of torch.save files for the .pth reader's tests (src/models/torch-checkpoint.ts).

    PYTHONPATH=bench/reference /usr/bin/python3 bench/reference/torch_fixtures.py [--out test/fixtures/torch]

- resnet_6blocks-ngf4_net_G_A.pth: the golden fixture's generator (golden_forward.py), saved as
  torch.save(net.state_dict()) writes it, plus the keys the official loader ignores (an old
  InstanceNorm's running statistics and a BatchNorm counter, int64);
- unet_32-ngf2_net_G_A.pth: the golden U-Net (golden_forward.py's unet_32-ngf2), as torch.save writes it;
- unet_32-batchnorm_net_G_A.pth: an official U-Net with --norm batch (num_downs 5, ngf 1, a few
  training steps' worth of running statistics), which the import refuses;
- views.pth: a transposed (non-contiguous) float tensor, a float16 and a float64 one;
- evil-reduce.pth: a state_dict whose value pickles as os.system('touch ...') via __reduce__;
- whole-model.pth: torch.save(model), a pickle naming the model's class;
- legacy.pth: the pre-1.6 format (_use_new_zipfile_serialization=False).
"""
import argparse
import json
import os
import struct

import torch

from golden_forward import official_unet
from parity_step import ResnetGenerator


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    return {k: torch.frombuffer(bytearray(data[e["data_offsets"][0]:e["data_offsets"][1]]), dtype=torch.float32).reshape(e["shape"])
            for k, e in header.items()}


class Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/cyclegan-pickle-ran",))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/torch")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    golden = load_safetensors("test/fixtures/official/resnet_6blocks-ngf4.safetensors")
    state = {k: v for k, v in golden.items() if k not in ("input", "output")}
    state["model.2.running_mean"] = torch.zeros(4)
    state["model.2.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    torch.save(state, os.path.join(args.out, "resnet_6blocks-ngf4_net_G_A.pth"))
    golden = load_safetensors("test/fixtures/official/unet_32-ngf2.safetensors")
    torch.save({k: v for k, v in golden.items() if k not in ("input", "output")}, os.path.join(args.out, "unet_32-ngf2_net_G_A.pth"))
    torch.manual_seed(3)
    batch = official_unet(5, 1, norm="batch")
    with torch.no_grad():
        batch(torch.rand(2, 3, 32, 32))  # train mode: the running statistics move off their initial values
    torch.save(batch.state_dict(), os.path.join(args.out, "unet_32-batchnorm_net_G_A.pth"))
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    torch.save({"t": t, "h": torch.tensor([0.5, -2.0], dtype=torch.float16), "d": torch.tensor([1.25], dtype=torch.float64)},
               os.path.join(args.out, "views.pth"))
    torch.save({"model.1.weight": Evil()}, os.path.join(args.out, "evil-reduce.pth"))
    torch.save(ResnetGenerator(1, 1), os.path.join(args.out, "whole-model.pth"))
    torch.save({"w": torch.ones(2)}, os.path.join(args.out, "legacy.pth"), _use_new_zipfile_serialization=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
