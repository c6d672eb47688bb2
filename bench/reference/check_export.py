"""Checks `cyclegan export --format safetensors` against the official generator, where PyTorch exists.

    /usr/bin/python3 bench/reference/check_export.py FIXTURE.safetensors EXPORTED.safetensors

FIXTURE is a golden forward fixture (golden_forward.py: official weights, `input`, PyTorch's
`output`); EXPORTED is what `cyclegan export --format safetensors` wrote for a model imported
from it. The export must load into the official ResnetGenerator (UnetGenerator for a `unet_<size>`
net) with a strict load_state_dict and give the fixture's output within 1e-4.
"""
import json
import struct
import sys

import torch

from golden_forward import official_unet
from parity_step import ResnetGenerator


def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        tensors[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(e["shape"])
    return tensors, meta


fixture, _ = load(sys.argv[1])
exported, meta = load(sys.argv[2])
if meta["net"].startswith("unet_"):
    G = official_unet(int(meta["net"][len("unet_"):]).bit_length() - 1, int(meta["ngf"])).eval()
else:
    G = ResnetGenerator(int(meta["ngf"]), {"resnet_6blocks": 6, "resnet_9blocks": 9}[meta["net"]]).eval()
G.load_state_dict(exported, strict=True)
with torch.no_grad():
    diff = (G(fixture["input"]) - fixture["output"]).abs().max().item()
print(f"{sys.argv[2]}: {meta['net']} ngf {meta['ngf']} loads strict; largest difference from PyTorch's output {diff:.2e}")
sys.exit(0 if diff <= 1e-4 else 1)
