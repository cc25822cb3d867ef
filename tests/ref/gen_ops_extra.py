"""PyTorch reference values for reshape, permute, index_select, normalize,
cosine_similarity and the per-position standardisation (tests/test_ops_extra.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_ops_extra.py
Writes tests/data/ops_extra.bin. For each case `<case>`: the input `<case>.x`,
the op's parameters (`<case>.shape`, `<case>.perm`, `<case>.idx` as int32,
`<case>.eps` as float64), the output `<case>.out`, an upstream gradient
`<case>.dout` and the input gradient `<case>.dx` PyTorch computes from it;
cosine_similarity's two inputs are `<case>.a`, `<case>.b` with gradients
`<case>.da`, `<case>.db`.
Generated with torch 1.13.1 (Debian 1.13.1+dfsg-4).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def record(name, x, out, **params):
    dout = torch.randn_like(out)
    out.backward(dout)
    fx.add(name + ".x", x)
    for k, v in params.items():
        if isinstance(v, float):
            fx.add(f"{name}.{k}", torch.tensor([v], dtype=torch.float64))
        else:
            fx.add(f"{name}.{k}", torch.tensor(v, dtype=torch.int32))
    fx.add(name + ".out", out)
    fx.add(name + ".dout", dout)
    fx.add(name + ".dx", x.grad)


def leaf(*shape):
    return torch.randn(*shape).requires_grad_()


# reshape: 4-D to 3-D, and 4-D to 2-D with the leading size inferred (the C
# test passes -1 where `shape` holds it).
x = leaf(2, 3, 4, 5)
record("reshape_a", x, x.reshape(6, 4, 5), shape=[6, 4, 5])
x = leaf(2, 3, 4, 5)
record("reshape_b", x, x.reshape(-1, 30), shape=[-1, 30])

# permute of 2-, 3- and 4-D tensors (NCHW -> NHWC among them), copied.
for name, shape, perm in (("permute_2d", (3, 5), [1, 0]),
                          ("permute_3d", (2, 3, 4), [2, 0, 1]),
                          ("permute_nhwc", (2, 3, 4, 5), [0, 2, 3, 1]),
                          ("permute_4d", (2, 3, 4, 5), [3, 1, 0, 2])):
    x = leaf(*shape)
    record(name, x, x.permute(*perm).contiguous(), perm=perm)

# index_select along dim 0 with repeated rows (whose gradients add up) and a
# row nobody reads (gradient 0), of 3-, 2- and 1-D tensors.
for name, shape, idx in (("index_3d", (5, 3, 4), [3, 0, 3, 4, 3, 1]),
                         ("index_2d", (6, 7), [5, 5, 0]),
                         ("index_1d", (8,), [7, 2, 2, 0, 5])):
    x = leaf(*shape)
    record(name, x, torch.index_select(x, 0, torch.tensor(idx)), idx=idx)

# normalize over dim 1. Rows (positions) of zero norm and of norm below eps
# take x / eps, and their gradient is dout / eps (clamp_min passes none to
# the norm); the others x / ||x||.
x0 = torch.randn(6, 4)
x0[1] = 0.0
x0[3] *= 0.05 / x0[3].norm()
x = x0.clone().requires_grad_()
record("normalize_2d", x, F.normalize(x, p=2.0, dim=1, eps=0.5), eps=0.5)
x0 = torch.randn(2, 3, 4, 5)
x0[1, :, 2, 3] = 0.0
x = x0.clone().requires_grad_()
record("normalize_4d", x, F.normalize(x, p=2.0, dim=1, eps=1e-12), eps=1e-12)

# cosine_similarity over dim 1. torch 1.13 divides each input by
# max(||.||, eps) first; the zero rows and the rows of norm 0.05 < eps = 0.1
# show the clamp, and their gradients show that the clamp is not
# differentiated (see src/cpu/normalize_math.h).
a0, b0 = torch.randn(6, 5), torch.randn(6, 5)
a0[1] = 0.0
a0[2] *= 0.05 / a0[2].norm()
b0[3] *= 0.05 / b0[3].norm()
b0[4] = 0.0
a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
out = F.cosine_similarity(a, b, dim=1, eps=0.1)
dout = torch.randn_like(out)
out.backward(dout)
for k, v in (("a", a), ("b", b), ("da", a.grad), ("db", b.grad), ("out", out), ("dout", dout)):
    fx.add("cosine_2d." + k, v)
fx.add("cosine_2d.eps", torch.tensor([0.1], dtype=torch.float64))
a0, b0 = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
a0[0, :, 1, 2] = 0.0
a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
out = F.cosine_similarity(a, b, dim=1, eps=1e-8)
dout = torch.randn_like(out)
out.backward(dout)
for k, v in (("a", a), ("b", b), ("da", a.grad), ("db", b.grad), ("out", out), ("dout", dout)):
    fx.add("cosine_4d." + k, v)
fx.add("cosine_4d.eps", torch.tensor([1e-8], dtype=torch.float64))


# (x - mean) / std over dim 1, unbiased std. One 4-D position sits at +50,
# where the float rounding of x - mean is largest.
def standardize(x):
    return (x - x.mean(1, keepdim=True)) / x.std(1, keepdim=True)


x = leaf(5, 7)
record("standardize_2d", x, standardize(x))
x0 = torch.randn(2, 6, 3, 4)
x0[1, :, 2, 1] += 50.0
x = x0.clone().requires_grad_()
record("standardize_4d", x, standardize(x))

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "ops_extra.bin"))
