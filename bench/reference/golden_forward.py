"""Golden forward fixtures: official generators at a tiny width, a fixed input, PyTorch's output.

    /usr/bin/python3 bench/reference/golden_forward.py [--out test/fixtures/official]

Writes `<net>-ngf<n>.safetensors` per generator kind: the network's state_dict under its official
keys, plus `input` (NCHW in [-1, 1]: 1×3×32×40 for the ResNets, 1×3×32×32 for the U-Net) and
`output` (what the official network gives, in eval mode). Weights are N(0, 0.1) and biases
U(-0.1, 0.1), larger than the training init, so that every layer visibly shapes the output and a
wrong mapping cannot hide.

The U-Net is `UnetGenerator(3, 3, num_downs=5, ngf=2)` (`unet_32`: the nesting of unet_128 and
unet_256 with the fewest levels the official code builds: outermost, three middle blocks,
innermost). `unet-state-dicts.json` lists the state_dict keys and shapes of unet_256 and unet_128
(ngf 2, no weights), for the key map of the deeper ones.
"""
import argparse
import functools
import json
import os

import torch
import torch.nn as nn

from parity_step import ResnetGenerator, save_safetensors

KINDS = [("resnet_6blocks", 6, 4), ("resnet_9blocks", 9, 3)]
UNET_GOLDEN = (5, 2)  # num_downs, ngf
UNET_LISTED = {"unet_256": 8, "unet_128": 7}


# The official U-Net (models/networks.py), verbatim in structure so that its keys are the official ones.
class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False, innermost=False,
                 norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        if type(norm_layer) == functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            model = [downconv] + [submodule] + [uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv] + [uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            model = [downrelu, downconv, downnorm] + [submodule] + [uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=None, norm_layer=norm_layer, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm_layer=norm_layer, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm_layer=norm_layer)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm_layer=norm_layer)

    def forward(self, x):
        return self.model(x)


# get_norm_layer('instance') and get_norm_layer('batch') of the official code.
INSTANCE = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
BATCH = functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)


def official_unet(num_downs, ngf, norm="instance", use_dropout=False):
    return UnetGenerator(3, 3, num_downs, ngf, norm_layer=INSTANCE if norm == "instance" else BATCH, use_dropout=use_dropout)


def randomize(net):
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                m.weight.normal_(0, 0.1)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)


def write(net, x, path, metadata):
    with torch.no_grad():
        y = net(x)
    tensors = dict(net.state_dict())
    tensors["input"], tensors["output"] = x, y
    save_safetensors(path, tensors, {**metadata, "torch": torch.__version__})
    print(f"wrote {path}")


def json_lines(value, indent=""):
    """JSON as prettier writes it: objects one key a line, lists of numbers on one line."""
    if not isinstance(value, dict):
        return json.dumps(value, separators=(", ", ": "))
    inner = indent + "  "
    items = [f"{inner}{json.dumps(k)}: {json_lines(v, inner)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/official")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(7)
    for name, blocks, ngf in KINDS:
        net = ResnetGenerator(ngf, blocks).eval()
        randomize(net)
        write(net, torch.rand(1, 3, 32, 40) * 2 - 1, os.path.join(args.out, f"{name}-ngf{ngf}.safetensors"), {"net": name, "ngf": str(ngf)})

    # Its own seed, so that the ResNet fixtures above stay what they were.
    torch.manual_seed(11)
    num_downs, ngf = UNET_GOLDEN
    size = 2 ** num_downs
    # use_dropout as pix2pix trains it: eval mode drops nothing, and the keys are the same.
    net = official_unet(num_downs, ngf, use_dropout=True).eval()
    randomize(net)
    write(net, torch.rand(1, 3, size, size) * 2 - 1, os.path.join(args.out, f"unet_{size}-ngf{ngf}.safetensors"),
          {"net": f"unet_{size}", "num_downs": str(num_downs), "ngf": str(ngf)})

    listed = {name: {k: list(v.shape) for k, v in official_unet(n, 2).state_dict().items()} for name, n in UNET_LISTED.items()}
    path = os.path.join(args.out, "unet-state-dicts.json")
    with open(path, "w") as f:
        f.write(json_lines({"ngf": 2, "norm": "instance", "nets": listed}) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
