"""PyTorch reference for `npm run bench -- train`: the same CycleGAN training step, timed.

Run with Debian's PyTorch (apt-get install python3-torch libopenblas0-pthread) as
/usr/bin/python3 bench/reference/cyclegan_step.py --generator unet --size 256 --ngf 64 --ndf 64 --steps 3
Networks mirror src/models (tutorial U-Net with instance norm, ResNet-9/6, 70x70 PatchGAN; ngf/ndf
default 64, as in `npm run bench -- train`, which passes each row's --generator/--size/--ngf/--ndf/--batch-size);
the step is the tutorial's: G and F forward x6 (incl. identity), BCE adversarial, L1 cycle/identity,
Adam updates of both generators, then both discriminators. Prints step_seconds=<median>.
"""
import argparse
import time

import torch
import torch.nn as nn


class InstanceNorm(nn.Module):
    """Affine instance norm written out, because nn.InstanceNorm2d refuses the U-Net's 1x1 bottleneck in training."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, c, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x):
        mean = x.mean((2, 3), keepdim=True)
        var = (x - mean).pow(2).mean((2, 3), keepdim=True)
        return (x - mean) * torch.rsqrt(var + 1e-5) * self.weight + self.bias


def down(cin, cout, norm=True):
    layers = [nn.Conv2d(cin, cout, 4, 2, 1, bias=False)]
    if norm:
        layers.append(InstanceNorm(cout))
    layers.append(nn.LeakyReLU(0.3))
    return nn.Sequential(*layers)


def up(cin, cout, dropout=False):
    layers = [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), InstanceNorm(cout)]
    if dropout:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Unet(nn.Module):
    def __init__(self, size, ngf=64):
        super().__init__()
        import math
        depth = int(math.log2(size))
        widths = [min(ngf * 2 ** i, ngf * 8) for i in range(depth)]
        self.downs = nn.ModuleList([down(3 if i == 0 else widths[i - 1], widths[i], norm=i != 0) for i in range(depth)])
        ups = []
        for j in range(depth - 1):
            i = depth - 2 - j
            cin = widths[i + 1] if j == 0 else widths[i + 1] * 2
            ups.append(up(cin, widths[i], dropout=j < 3))
        self.ups = nn.ModuleList(ups)
        self.last = nn.ConvTranspose2d(widths[0] * 2, 3, 4, 2, 1)

    def forward(self, x):
        skips = []
        for d in self.downs:
            x = d(x)
            skips.append(x)
        skips = list(reversed(skips[:-1]))
        for u, s in zip(self.ups, skips):
            x = torch.cat([u(x), s], 1)
        return torch.tanh(self.last(x))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), InstanceNorm(c), nn.ReLU(True),
                                  nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), InstanceNorm(c))

    def forward(self, x):
        return x + self.body(x)


def resnet(n_blocks, ngf=64):
    layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), InstanceNorm(ngf), nn.ReLU(True)]
    for i in range(2):
        m = 2 ** i
        layers += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1), InstanceNorm(ngf * m * 2), nn.ReLU(True)]
    layers += [ResBlock(ngf * 4) for _ in range(n_blocks)]
    for i in range(2):
        m = 2 ** (2 - i)
        layers += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1), InstanceNorm(ngf * m // 2), nn.ReLU(True)]
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
    return nn.Sequential(*layers)


def patchgan(ndf=64):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1), nn.LeakyReLU(0.3),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), InstanceNorm(ndf * 2), nn.LeakyReLU(0.3),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), InstanceNorm(ndf * 4), nn.LeakyReLU(0.3),
        nn.ZeroPad2d(1), nn.Conv2d(ndf * 4, ndf * 8, 4, 1, bias=False), InstanceNorm(ndf * 8), nn.LeakyReLU(0.3),
        nn.ZeroPad2d(1), nn.Conv2d(ndf * 8, 1, 4, 1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--generator', default='unet', choices=['unet', 'resnet9', 'resnet6'])
    p.add_argument('--size', type=int, default=256)
    p.add_argument('--ngf', type=int, default=64, help='generator width')
    p.add_argument('--ndf', type=int, default=64, help='discriminator width')
    p.add_argument('--steps', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=1, help='images per domain in each step')
    p.add_argument('--forward-only', action='store_true')
    p.add_argument('--peak', action='store_true', help='measure the machine peak: float32 GEMM 2048^3 (OpenBLAS)')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    if a.peak:
        x, y = torch.randn(2048, 2048), torch.randn(2048, 2048)
        best = float('inf')
        for _ in range(5):
            t = time.perf_counter()
            torch.mm(x, y)
            best = min(best, time.perf_counter() - t)
        print(f'peak_gflops={2 * 2048 ** 3 / best / 1e9:.1f}')
        return
    make = (lambda: Unet(a.size, a.ngf)) if a.generator == 'unet' else (lambda: resnet(9 if a.generator == 'resnet9' else 6, a.ngf))
    G, F, DA, DB = make(), make(), patchgan(a.ndf), patchgan(a.ndf)
    if a.forward_only:
        x = torch.rand(1, 3, a.size, a.size) * 2 - 1
        G.eval()
        times = []
        with torch.no_grad():
            for i in range(a.steps + 1):
                t = time.perf_counter()
                G(x)
                if i:
                    times.append(time.perf_counter() - t)
        times.sort()
        print(f'forward_seconds={times[len(times) // 2]:.4f}')
        return
    bce = nn.BCEWithLogitsLoss()
    l1 = lambda x, y: (x - y).abs().mean()
    opt_g = torch.optim.Adam(list(G.parameters()) + list(F.parameters()), 2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(list(DA.parameters()) + list(DB.parameters()), 2e-4, betas=(0.5, 0.999))
    times = []
    for i in range(a.steps + 1):
        ra = torch.rand(a.batch_size, 3, a.size, a.size) * 2 - 1
        rb = torch.rand(a.batch_size, 3, a.size, a.size) * 2 - 1
        t = time.perf_counter()
        fb = G(ra); ca = F(fb); fa = F(rb); cb = G(fa); sb = G(rb); sa = F(ra)
        pb = DB(fb); pa = DA(fa)
        loss_g = bce(pb, torch.ones_like(pb)) + bce(pa, torch.ones_like(pa)) + 10 * (l1(ca, ra) + l1(cb, rb)) + 5 * (l1(sb, rb) + l1(sa, ra))
        opt_g.zero_grad(); loss_g.backward(); opt_g.step()
        loss_d = 0
        for D, real, fake in ((DA, ra, fa.detach()), (DB, rb, fb.detach())):
            pr, pf = D(real), D(fake)
            loss_d = loss_d + 0.5 * (bce(pr, torch.ones_like(pr)) + bce(pf, torch.zeros_like(pf)))
        opt_d.zero_grad(); loss_d.backward(); opt_d.step()
        if i:
            times.append(time.perf_counter() - t)
    times.sort()
    print(f'step_seconds={times[len(times) // 2]:.4f}')


if __name__ == '__main__':
    main()
