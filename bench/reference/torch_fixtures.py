"""Fixtures of torch.save files for the .pth reader's tests (src/models/torch-checkpoint.ts).

    PYTHONPATH=bench/reference /usr/bin/python3 bench/reference/torch_fixtures.py [--out test/fixtures/torch]

- resnet_6blocks-ngf4_net_G_A.pth: the golden fixture's generator (golden_forward.py), saved as
  torch.save(net.state_dict()) writes it, plus the keys the official loader ignores (an old
  InstanceNorm's running statistics and a BatchNorm counter, int64);
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
    t = torch.arange(6, dtype=torch.float32).reshape(2, 3).t()
    torch.save({"t": t, "h": torch.tensor([0.5, -2.0], dtype=torch.float16), "d": torch.tensor([1.25], dtype=torch.float64)},
               os.path.join(args.out, "views.pth"))
    torch.save({"model.1.weight": Evil()}, os.path.join(args.out, "evil-reduce.pth"))
    torch.save(ResnetGenerator(1, 1), os.path.join(args.out, "whole-model.pth"))
    torch.save({"w": torch.ones(2)}, os.path.join(args.out, "legacy.pth"), _use_new_zipfile_serialization=False)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
