"""PyTorch reference values for linear and matmul (tests/test_ops_linear.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_linear.py
Writes tests/data/linear.bin. For each case: inputs, output, an upstream
gradient `<case>.dout` and the input gradients PyTorch computes from it.
Cases: linear on 2-D (6,4) and 4-D (2,3,5,4) input, 4 -> 3 features, with and
without bias; matmul 2-D (3,4)x(4,5) and batched (2,3,4)x(2,4,5) for every
(trans_a, trans_b), with the operands stored transposed where flagged.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def backward(name, out, inputs):
    """Backprop a random upstream gradient and record it with the input grads."""
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [t for _, t in inputs], dout)
    fx.add(name + ".out", out)
    fx.add(name + ".dout", dout)
    for (gname, _), g in zip(inputs, grads):
        fx.add(f"{name}.d{gname}", g)


w = torch.randn(3, 4, requires_grad=True)
b = torch.randn(3, requires_grad=True)
fx.add("linear.w", w)
fx.add("linear.b", b)
for tag, shape in (("2d", (6, 4)), ("4d", (2, 3, 5, 4))):
    x = torch.randn(*shape, requires_grad=True)
    fx.add(f"linear.{tag}.x", x)
    backward(f"linear.{tag}.bias", F.linear(x, w, b), [("x", x), ("w", w), ("b", b)])
    backward(f"linear.{tag}.nobias", F.linear(x, w), [("x", x), ("w", w)])

M, K, N = 3, 4, 5
for tag, batch in (("2d", ()), ("3d", (2,))):
    for ta in (0, 1):
        for tb in (0, 1):
            # Stored operands; the product uses their transposes where flagged.
            a = torch.randn(*batch, *((K, M) if ta else (M, K)), requires_grad=True)
            bb = torch.randn(*batch, *((N, K) if tb else (K, N)), requires_grad=True)
            name = f"matmul.{tag}.t{ta}{tb}"
            fx.add(name + ".a", a)
            fx.add(name + ".b", bb)
            opa = a.transpose(-1, -2) if ta else a
            opb = bb.transpose(-1, -2) if tb else bb
            backward(name, torch.matmul(opa, opb), [("a", a), ("b", bb)])

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "linear.bin"))
