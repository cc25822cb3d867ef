"""PyTorch reference values for the element-wise ops (tests/test_ops_elementwise.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_elementwise.py
Writes tests/data/elementwise.bin. For each op: inputs, output, an upstream
gradient `<op>.dout` and the input gradients PyTorch computes from it.

dropout2d: torch draws its own mask, so the mask semiseg draws is rebuilt here
with the pure-Python Philox4x32-10 of tests/ref/philox.py and applied
as out = x * mask / (1 - p). The seed and stream are constants shared with
the test (DROP_SEED, DROP_STREAM there).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402
from philox import f32, uniforms as rng_uniforms  # noqa: E402

torch.manual_seed(0)
fx = Fixture()

# relu on an odd shape; values kept away from 0 so the kink is never hit.
x = torch.randn(2, 3, 5, 7)
x = torch.where(x.abs() < 0.05, torch.full_like(x, 0.5), x).requires_grad_()
out = torch.relu(x)
dout = torch.randn_like(out)
out.backward(dout)
fx.add("relu.x", x)
fx.add("relu.out", out)
fx.add("relu.dout", dout)
fx.add("relu.dx", x.grad)

# gelu (exact erf form) over [-6, 6], covering both tails and the curved middle.
x = (torch.randn(2, 3, 5, 7) * 2.5).requires_grad_()
out = F.gelu(x, approximate="none")
dout = torch.randn_like(out)
out.backward(dout)
fx.add("gelu.x", x)
fx.add("gelu.out", out)
fx.add("gelu.dout", dout)
fx.add("gelu.dx", x.grad)

# add, sub, mul of two distinct tensors.
for name, fn in (("add", torch.add), ("sub", torch.sub), ("mul", torch.mul)):
    a = torch.randn(2, 3, 4, 5).requires_grad_()
    b = torch.randn(2, 3, 4, 5).requires_grad_()
    out = fn(a, b)
    dout = torch.randn_like(out)
    out.backward(dout)
    for k, v in (("a", a), ("b", b), ("out", out), ("dout", dout), ("da", a.grad), ("db", b.grad)):
        fx.add(f"{name}.{k}", v)

# mul(x, x): both operand gradients land on x (2 x dout).
x = torch.randn(2, 3, 4, 5).requires_grad_()
out = torch.mul(x, x)
dout = torch.randn_like(out)
out.backward(dout)
fx.add("mul_same.x", x)
fx.add("mul_same.out", out)
fx.add("mul_same.dout", dout)
fx.add("mul_same.dx", x.grad)

# scale by a negative non-power-of-two factor.
s = -0.7
x = torch.randn(2, 3, 4, 5).requires_grad_()
out = x * s
dout = torch.randn_like(out)
out.backward(dout)
fx.add("scale.x", x)
fx.add("scale.s", torch.tensor([s], dtype=torch.float64))
fx.add("scale.out", out)
fx.add("scale.dout", dout)
fx.add("scale.dx", x.grad)

# dropout2d: 24 channels = 6 Philox blocks, so the block counter advances.
# The seed exceeds 32 bits so both key words matter; the stream is
# sg_rng_stream(SG_RNG_DROPOUT = 4, 3, 7).
DROP_SEED = 0x0123456789ABCDEF
DROP_STREAM = (4 << 56) | (3 << 32) | 7
p = 0.4
n, c = 4, 6
u = rng_uniforms(DROP_SEED, DROP_STREAM, n * c)
mask = torch.tensor([1.0 if ui >= f32(p) else 0.0 for ui in u]).reshape(n, c, 1, 1)
assert 0 < mask.sum() < n * c, "the mask should keep some channels and drop others"
x = torch.randn(n, c, 3, 5).requires_grad_()
out = x * mask / (1 - p)
dout = torch.randn_like(out)
out.backward(dout)
fx.add("dropout2d.x", x)
fx.add("dropout2d.p", torch.tensor([p], dtype=torch.float64))
fx.add("dropout2d.mask", mask.reshape(n, c))
fx.add("dropout2d.out", out)
fx.add("dropout2d.dout", dout)
fx.add("dropout2d.dx", x.grad)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "elementwise.bin"))
