"""Golden forward fixtures: official ResNet generators at a tiny width, a fixed input, PyTorch's output.

    /usr/bin/python3 bench/reference/golden_forward.py [--out test/fixtures/official]

Writes `<net>-ngf<n>.safetensors` per generator kind: the network's state_dict under its official
keys, plus `input` (NCHW, 1×3×32×40 in [-1, 1]) and `output` (what the official network gives,
in eval mode). Weights are N(0, 0.1) and biases U(-0.1, 0.1), larger than the training init, so
that every layer visibly shapes the output and a wrong mapping cannot hide.
"""
import argparse
import os

import torch

from parity_step import ResnetGenerator, save_safetensors

KINDS = [("resnet_6blocks", 6, 4), ("resnet_9blocks", 9, 3)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/official")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(7)
    for name, blocks, ngf in KINDS:
        net = ResnetGenerator(ngf, blocks).eval()
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                    m.weight.normal_(0, 0.1)
                    m.bias.uniform_(-0.1, 0.1)
            x = torch.rand(1, 3, 32, 40) * 2 - 1
            y = net(x)
        tensors = dict(net.state_dict())
        tensors["input"], tensors["output"] = x, y
        path = os.path.join(args.out, f"{name}-ngf{ngf}.safetensors")
        save_safetensors(path, tensors, {"net": name, "ngf": str(ngf), "torch": torch.__version__})
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
