"""PyTorch reference values for the resizing ops (tests/test_ops_resize.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_resize.py
Writes tests/data/resize.bin. For each float case `<case>`: the input
`<case>.x`, the output `<case>.out`, an upstream gradient `<case>.dout` and
the input gradient `<case>.dx` PyTorch computes from it. Label cases store
the int32 map `<case>.x` and the resized map `<case>.out`, computed by
torch's nearest rule on the map cast to float (interpolate takes no ints).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def float_case(name, shape, size, **kw):
    x = torch.randn(*shape, requires_grad=True)
    out = F.interpolate(x, size=size, **kw)
    dout = torch.randn_like(out)
    out.backward(dout)
    fx.add(name + ".x", x)
    fx.add(name + ".out", out)
    fx.add(name + ".dout", dout)
    fx.add(name + ".dx", x.grad)


# Bilinear: upsampling by non-integer and integer factors, downsampling, and
# an output of size 1 (align_corners=True maps it to source index 0).
for ac in (0, 1):
    float_case(f"bil_5x7_9x13_ac{ac}", (2, 3, 5, 7), (9, 13), mode="bilinear", align_corners=bool(ac))
    float_case(f"bil_8x8_32x32_ac{ac}", (1, 2, 8, 8), (32, 32), mode="bilinear", align_corners=bool(ac))
    float_case(f"bil_13x11_4x6_ac{ac}", (2, 3, 13, 11), (4, 6), mode="bilinear", align_corners=bool(ac))
float_case("bil_6x5_1x3_ac1", (2, 3, 6, 5), (1, 3), mode="bilinear", align_corners=True)

# Nearest: a non-integer upsampling, an exact 2x (ATen's shift special case)
# and a downsampling.
float_case("near_5x7_11x16", (2, 3, 5, 7), (11, 16), mode="nearest")
float_case("near_4x5_8x10", (2, 3, 4, 5), (8, 10), mode="nearest")
float_case("near_13x11_4x6", (2, 3, 13, 11), (4, 6), mode="nearest")

# Label maps (N, H, W) with 19 classes and the 255 ignore label.
for name, size in (("lab_9x11_20x23", (20, 23)), ("lab_9x11_4x6", (4, 6))):
    lab = torch.randint(0, 19, (2, 9, 11), dtype=torch.int32)
    lab[lab == 7] = 255
    out = F.interpolate(lab[:, None].float(), size=size, mode="nearest")[:, 0].to(torch.int32)
    fx.add(name + ".x", lab)
    fx.add(name + ".out", out)

# Bilinear shapes of the CPU kernel's edge paths, drawn after the cases above
# so their values stay: one source column (the summed-column window's edge),
# one source row, the identity, and an output taller than the forward's
# 32-row task (several tasks per plane, each caching its source rows).
float_case("bil_9x1_70x3_ac0", (1, 2, 9, 1), (70, 3), mode="bilinear", align_corners=False)
float_case("bil_1x6_3x40_ac1", (1, 2, 1, 6), (3, 40), mode="bilinear", align_corners=True)
float_case("bil_6x7_6x7_ac0", (2, 2, 6, 7), (6, 7), mode="bilinear", align_corners=False)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "resize.bin"))
