"""PyTorch reference values for convolution and pooling (tests/test_ops_conv.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_conv.py
Writes tests/data/conv.bin. Inputs are float32; the reference is computed
from them in float64 by torch.nn.functional.conv2d / max_pool2d /
adaptive_avg_pool2d and autograd, then stored as float32, so the C test's
tolerances bound only its own float32 rounding. Per case `<c>`:
  <c>.params  int32 [stride, pad, dilation, groups] (conv) or [kernel, stride, pad] (maxpool)
  <c>.x, <c>.w, <c>.b (conv with bias), <c>.out, <c>.dout (upstream gradient),
  <c>.dx, <c>.dw, <c>.db
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def grads(out, inputs):
    """Backward of a float64 graph from a random float32 upstream gradient."""
    dout = torch.randn(out.shape)
    out.backward(dout.double())
    return dout, [t.grad for t in inputs]


def conv_case(name, n, cin, h, w, cout, k, stride, pad, dil, groups, bias):
    x = torch.randn(n, cin, h, w)
    # Kaiming-like scale keeps outputs O(1) whatever the fan-in.
    wt = torch.randn(cout, cin // groups, k, k) / (cin // groups * k * k) ** 0.5
    b = torch.randn(cout) if bias else None
    x64 = x.double().requires_grad_()
    w64 = wt.double().requires_grad_()
    b64 = b.double().requires_grad_() if bias else None
    out = F.conv2d(x64, w64, b64, stride=stride, padding=pad, dilation=dil, groups=groups)
    dout, g = grads(out, [x64, w64] + ([b64] if bias else []))
    fx.add(f"{name}.params", torch.tensor([stride, pad, dil, groups], dtype=torch.int32))
    fx.add(f"{name}.x", x)
    fx.add(f"{name}.w", wt)
    fx.add(f"{name}.out", out.float())
    fx.add(f"{name}.dout", dout)
    fx.add(f"{name}.dx", g[0].float())
    fx.add(f"{name}.dw", g[1].float())
    if bias:
        fx.add(f"{name}.b", b)
        fx.add(f"{name}.db", g[2].float())


conv_case("conv3x3", 2, 3, 6, 6, 4, 3, 1, 1, 1, 1, True)
conv_case("stride2", 2, 3, 9, 7, 5, 3, 2, 1, 1, 1, True)
conv_case("dil2", 2, 3, 9, 9, 4, 3, 1, 2, 2, 1, True)
conv_case("dil4", 2, 2, 11, 13, 3, 3, 1, 4, 4, 1, False)
conv_case("groups2", 2, 4, 7, 9, 6, 3, 1, 1, 1, 2, True)
conv_case("depthwise", 2, 4, 9, 7, 8, 3, 1, 1, 1, 4, True)
conv_case("pointwise", 2, 6, 5, 7, 5, 1, 1, 0, 1, 1, False)
conv_case("pointwise_s2", 2, 6, 9, 7, 5, 1, 2, 0, 1, 1, False)
conv_case("stem7x7", 2, 3, 11, 13, 4, 7, 2, 3, 1, 1, False)


def maxpool_case(name, x, k, s, p):
    x64 = x.double().requires_grad_()
    out = F.max_pool2d(x64, k, s, p)
    dout, g = grads(out, [x64])
    fx.add(f"{name}.params", torch.tensor([k, s, p], dtype=torch.int32))
    fx.add(f"{name}.x", x)
    fx.add(f"{name}.out", out.float())
    fx.add(f"{name}.dout", dout)
    fx.add(f"{name}.dx", g[0].float())


maxpool_case("maxpool3s2", torch.randn(2, 3, 9, 7), 3, 2, 1)
maxpool_case("maxpool2s2", torch.randn(2, 3, 11, 13), 2, 2, 0)
# Small negative integers: many tied maxima (the first in scan order takes the
# gradient) and every value below 0, so zero padding instead of -inf would show.
maxpool_case("maxpool_ties", torch.randint(-3, 0, (1, 2, 6, 5)).float(), 3, 1, 1)

x = torch.randn(2, 3, 5, 7)
x64 = x.double().requires_grad_()
out = F.adaptive_avg_pool2d(x64, 1)
dout, g = grads(out, [x64])
fx.add("avgpool.x", x)
fx.add("avgpool.out", out.float())
fx.add("avgpool.dout", dout)
fx.add("avgpool.dx", g[0].float())

# After the other cases, so their inputs keep their draws: a shape the fast
# CPU path runs with Winograd (3x3, stride 1, 16 channels, 16 x 16 outputs).
conv_case("winograd", 1, 16, 16, 16, 16, 3, 1, 1, 1, 1, True)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "conv.bin"))
