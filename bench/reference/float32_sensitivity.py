"""How far float32 itself moves the official CycleGAN's generator gradients at the recipe's size.

    cd bench/reference && /usr/bin/python3 float32_sensitivity.py

The same first generator step (ResnetGenerator resnet_6blocks and the basic PatchGAN, ngf/ndf 32,
two 128-px images, LSGAN + λ 10 cycle + 0.5·λ identity) in PyTorch float32 and float64, from the
same initial weights: the relative difference per gradient (max |g32 − g64| / max |g64|). L1's
sign and ReLU's kink flip where a value is within rounding of zero, so two float32
implementations of the same step differ by about this much at this size; it is the yardstick for
the full-size step comparison in docs/reference-parity.md.
"""
import torch, sys
sys.path.insert(0, '.')  # run from bench/reference
from parity_step import ResnetGenerator, NLayerDiscriminator, init_normal, lsgan
import torch.nn as nn
torch.set_num_threads(1)
def run(dtype):
    torch.manual_seed(2026)
    nets = {"G_A": ResnetGenerator(32, 6), "G_B": ResnetGenerator(32, 6), "D_A": NLayerDiscriminator(32), "D_B": NLayerDiscriminator(32)}
    for n in nets.values(): init_normal(n); n.to(dtype)
    S=128
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, S), torch.linspace(-1, 1, S), indexing="ij")
    a = torch.stack([0.8 * xx, 0.6 * yy, 0.5 * torch.sin(6 * xx * yy)]).unsqueeze(0)
    b = torch.stack([torch.sin(9 * xx), -0.7 * yy, 0.4 * torch.cos(5 * (xx + yy))]).unsqueeze(0)
    a = (a + 0.05 * torch.randn_like(a)).clamp(-1, 1).to(dtype); b = (b + 0.05 * torch.randn_like(b)).clamp(-1, 1).to(dtype)
    G_A, G_B, D_A, D_B = nets["G_A"], nets["G_B"], nets["D_A"], nets["D_B"]
    l1 = nn.functional.l1_loss
    fake_B = G_A(a); rec_A = G_B(fake_B); fake_A = G_B(b); rec_B = G_A(fake_A)
    for d in (D_A, D_B): d.requires_grad_(False)
    loss = lsgan(D_A(fake_B), True) + lsgan(D_B(fake_A), True) + l1(rec_A, a)*10 + l1(rec_B, b)*10 + l1(G_A(b), b)*5 + l1(G_B(a), a)*5
    loss.backward()
    return {f"{n}.{k}": p.grad.double().clone() for n, net in nets.items() for k, p in net.named_parameters() if p.grad is not None}
g32 = run(torch.float32); g64 = run(torch.float64)
for k in g64:
    if k.endswith('bias') and not k.endswith(('model.23.bias',)): continue
    e = (g32[k]-g64[k]).abs().max() / g64[k].abs().max()
    print(f"{k}: f32 vs f64 {e:.2e}")
