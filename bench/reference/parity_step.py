"""Training-step parity fixture: two CycleGAN steps of the official formulation, in PyTorch.

Run with Debian's PyTorch (apt-get install python3-torch) from the repository root:
    /usr/bin/python3 bench/reference/parity_step.py [--out test/fixtures/parity/resnet6-ngf4.safetensors]
        [--ngf 4] [--ndf 4] [--size 32]

(The committed fixture is the default; a full-size one, e.g. --ngf 32 --ndf 32 --size 128, is
checked by pointing the test at it: CYCLEGAN_PARITY_FIXTURE=FILE node scripts/run-tests.mjs
test/train/parity.test.ts.)

The networks are written here as the official code (junyanz/pytorch-CycleGAN-and-pix2pix,
models/networks.py) defines them, so their state_dict keys are the official ones:
ResnetGenerator (resnet_6blocks) and NLayerDiscriminator (basic, n_layers 3), instance norm with
affine off, every conv with a bias (use_bias is True for instance norm), LeakyReLU 0.2, weights
N(0, 0.02) and biases 0 (init_type normal). The step is CycleGANModel.optimize_parameters: the
generators on LSGAN + λ 10 cycle + 0.5·λ identity, one Adam over both generators, then the
discriminators on real versus pooled fakes, each loss halved, one Adam over both. Adam is
torch.optim.Adam(lr 2e-4, betas (0.5, 0.999), eps 1e-8). The image pools hold one image each and
their random draws are fixed (recorded in the fixture): step 1 fills them, step 2 swaps.

Two fixed 32-px images (one per domain, values in [-1, 1]) are used in both steps. The fixture is
one safetensors file: the inputs, the initial weights (`init.<net>.<key>`), each step's losses
(`step<k>.loss`) and gradients (`grad<k>.<net>.<key>`), the weights after step 1
(`step1.<net>.<key>`) and after step 2 (`final.<net>.<key>`), where <net> is G_A, G_B, D_A or D_B (official names: D_A judges domain B).
"""
import argparse
import json
import struct

import torch
import torch.nn as nn

NGF = NDF = 4
SIZE = 32
N_BLOCKS = 6
POOL_DRAWS = [0.75, 0.0]  # step 2: p = 0.75 > 0.5 swaps, with random_id = 0 (the pool holds one image)


def norm(c):
    return nn.InstanceNorm2d(c, affine=False, track_running_stats=False)


class ResnetBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, padding=0, bias=True), norm(dim),
        )

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, ngf, n_blocks):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7, padding=0, bias=True), norm(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True), norm(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=True),
                      norm(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7, padding=0), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, ndf, n_layers=3):
        super().__init__()
        seq = [nn.Conv2d(3, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True), norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


def init_normal(net):
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0.0)


class ImagePool:
    """The official pool, its draws taken from a fixed list instead of `random`."""

    def __init__(self, size, draws):
        self.size, self.images, self.draws = size, [], list(draws)

    def query(self, images):
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif self.draws.pop(0) > 0.5:
                index = int(self.draws.pop(0) * self.size)
                old = self.images[index].clone()
                self.images[index] = image
                out.append(old)
            else:
                out.append(image)
        return torch.cat(out, 0)


def lsgan(pred, real):
    return nn.functional.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


def save_safetensors(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="test/fixtures/parity/resnet6-ngf4.safetensors")
    parser.add_argument("--ngf", type=int, default=NGF)
    parser.add_argument("--ndf", type=int, default=NDF)
    parser.add_argument("--size", type=int, default=SIZE)
    args = parser.parse_args()
    torch.manual_seed(2026)
    torch.set_num_threads(1)
    nets = {"G_A": ResnetGenerator(args.ngf, N_BLOCKS), "G_B": ResnetGenerator(args.ngf, N_BLOCKS),
            "D_A": NLayerDiscriminator(args.ndf), "D_B": NLayerDiscriminator(args.ndf)}
    for net in nets.values():
        init_normal(net)
    G_A, G_B, D_A, D_B = nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"]
    # Smooth images with some texture: a ramp per channel plus a sine pattern and a little noise.
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, args.size), torch.linspace(-1, 1, args.size), indexing="ij")
    real_A = torch.stack([0.8 * xx, 0.6 * yy, 0.5 * torch.sin(6 * xx * yy)]).unsqueeze(0)
    real_B = torch.stack([torch.sin(9 * xx), -0.7 * yy, 0.4 * torch.cos(5 * (xx + yy))]).unsqueeze(0)
    real_A = (real_A + 0.05 * torch.randn_like(real_A)).clamp(-1, 1)
    real_B = (real_B + 0.05 * torch.randn_like(real_B)).clamp(-1, 1)

    out = {"real_A": real_A, "real_B": real_B}
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            out[f"init.{name}.{key}"] = value.clone()
    opt_G = torch.optim.Adam(list(G_A.parameters()) + list(G_B.parameters()), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    opt_D = torch.optim.Adam(list(D_A.parameters()) + list(D_B.parameters()), lr=2e-4, betas=(0.5, 0.999), eps=1e-8)
    pool_A, pool_B = ImagePool(1, POOL_DRAWS), ImagePool(1, POOL_DRAWS)
    lam, lam_idt = 10.0, 0.5
    l1 = nn.functional.l1_loss

    for step in (1, 2):
        fake_B = G_A(real_A)
        rec_A = G_B(fake_B)
        fake_A = G_B(real_B)
        rec_B = G_A(fake_A)
        for d in (D_A, D_B):
            d.requires_grad_(False)
        opt_G.zero_grad()
        idt_A = G_A(real_B)
        idt_B = G_B(real_A)
        loss_idt = l1(idt_A, real_B) * lam * lam_idt + l1(idt_B, real_A) * lam * lam_idt
        loss_G_A = lsgan(D_A(fake_B), True)
        loss_G_B = lsgan(D_B(fake_A), True)
        loss_cycle = l1(rec_A, real_A) * lam + l1(rec_B, real_B) * lam
        (loss_G_A + loss_G_B + loss_cycle + loss_idt).backward()
        opt_G.step()
        for d in (D_A, D_B):
            d.requires_grad_(True)
        opt_D.zero_grad()
        pooled_B = pool_B.query(fake_B.detach())
        loss_D_A = 0.5 * (lsgan(D_A(real_B), True) + lsgan(D_A(pooled_B), False))
        loss_D_A.backward()
        pooled_A = pool_A.query(fake_A.detach())
        loss_D_B = 0.5 * (lsgan(D_B(real_A), True) + lsgan(D_B(pooled_A), False))
        loss_D_B.backward()
        opt_D.step()
        # In this project's order: genAtoB (G_A), genBtoA (G_B), cycle, identity, discA (D_B), discB (D_A).
        out[f"step{step}.loss"] = torch.tensor([loss_G_A.item(), loss_G_B.item(), loss_cycle.item(), loss_idt.item(),
                                                loss_D_B.item(), loss_D_A.item()])
        for name, net in nets.items():
            for key, p in net.named_parameters():
                out[f"grad{step}.{name}.{key}"] = p.grad.clone()
            if step == 1:
                for key, value in net.state_dict().items():
                    out[f"step1.{name}.{key}"] = value.clone()
    for name, net in nets.items():
        for key, value in net.state_dict().items():
            out[f"final.{name}.{key}"] = value.clone()
    metadata = {"torch": torch.__version__, "net_G": "resnet_6blocks", "net_D": "basic", "ngf": str(args.ngf), "ndf": str(args.ndf),
                "size": str(args.size), "pool_size": "1", "pool_draws": json.dumps(POOL_DRAWS)}
    save_safetensors(args.out, out, metadata)
    print(f"wrote {args.out}: {len(out)} tensors; step losses {out['step1.loss'].tolist()} / {out['step2.loss'].tolist()}")


if __name__ == "__main__":
    main()
