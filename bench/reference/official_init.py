"""Initial weights of the official CycleGAN networks, for a run here and a reference run to start from.

    /usr/bin/python3 bench/reference/official_init.py --out DIR [--ngf 32] [--ndf 32] [--n-blocks 6] [--seed 1]

Builds ResnetGenerator (G_A, G_B) and the basic PatchGAN (D_A, D_B) as the official code does
(see parity_step.py), initialises them with init_type normal, gain 0.02, and writes each as
`init_net_<name>.pth` (what the official code's --continue_train --epoch init loads) and
`init_net_<name>.safetensors` (what `cyclegan train --networks official --init-from DIR` loads).
"""
import argparse
import os

import torch

from parity_step import NLayerDiscriminator, ResnetGenerator, init_normal, save_safetensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--ndf", type=int, default=32)
    parser.add_argument("--n-blocks", type=int, default=6)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    nets = {"G_A": ResnetGenerator(args.ngf, args.n_blocks), "G_B": ResnetGenerator(args.ngf, args.n_blocks),
            "D_A": NLayerDiscriminator(args.ndf), "D_B": NLayerDiscriminator(args.ndf)}
    os.makedirs(args.out, exist_ok=True)
    for name, net in nets.items():
        init_normal(net)
        state = net.state_dict()
        torch.save(state, os.path.join(args.out, f"init_net_{name}.pth"))
        kind = f"resnet_{args.n_blocks}blocks" if name.startswith("G") else "basic"
        save_safetensors(os.path.join(args.out, f"init_net_{name}.safetensors"), state,
                         {"net": kind, "ngf" if name.startswith("G") else "ndf": str(args.ngf if name.startswith("G") else args.ndf)})
    print(f"wrote {args.out}: init_net_{{G_A,G_B,D_A,D_B}}.{{pth,safetensors}}")


if __name__ == "__main__":
    main()
