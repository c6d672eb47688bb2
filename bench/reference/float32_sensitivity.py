"""How far float32 itself moves the official CycleGAN's generator gradients at the recipe's size.

    cd bench/reference && /usr/bin/python3 float32_sensitivity.py

The same first generator step (ResnetGenerator resnet_6blocks and the basic PatchGAN, ngf/ndf 32,
two 128-px images, LSGAN + λ 10 cycle + 0.5·λ identity) in PyTorch float32 and float64, from the
same initial weights: the relative difference per gradient (max |g32 − g64| / max |g64|). L1's
sign and ReLU's kink flip where a value is within rounding of zero, so two float32
implementations of the same step differ by about this much at this size; it is the yardstick for
the full-size step comparison in docs/reference-parity.md.
"""
