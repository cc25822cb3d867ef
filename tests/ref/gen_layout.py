"""PyTorch reference values for concat, narrow, sum and mean
(tests/test_ops_layout.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_layout.py
Writes tests/data/layout.bin. For each case `<case>`: the inputs `<case>.x0`,
`<case>.x1`, ... (one `<case>.x` for single-input ops), the output
`<case>.out`, an upstream gradient `<case>.dout` and the input gradients
`<case>.dx0`, ... (`<case>.dx`) PyTorch computes from it.
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def record(name, xs, out):
    dout = torch.randn_like(out)
    out.backward(dout)
    suffix = [""] if len(xs) == 1 else [str(i) for i in range(len(xs))]
    for s, x in zip(suffix, xs):
        fx.add(f"{name}.x{s}", x)
        fx.add(f"{name}.dx{s}", x.grad)
    fx.add(name + ".out", out)
    fx.add(name + ".dout", dout)


# Concatenation of three tensors of different sizes along the batch and the
# channel dimension.
xs = [torch.randn(n, 3, 4, 5, requires_grad=True) for n in (1, 2, 3)]
record("cat_dim0", xs, torch.cat(xs, 0))
xs = [torch.randn(2, c, 4, 5, requires_grad=True) for c in (1, 3, 2)]
record("cat_dim1", xs, torch.cat(xs, 1))

# Narrow along dims 0, 1 and 2 of one 4-D shape, each slice off both edges.
for dim, start, length in ((0, 1, 2), (1, 1, 2), (2, 2, 3)):
    x = torch.randn(4, 3, 6, 5, requires_grad=True)
    record(f"narrow_dim{dim}", [x], x.narrow(dim, start, length).contiguous())

# Full reductions to one element (stored with shape [1]).
x = torch.randn(2, 3, 5, 7, requires_grad=True)
record("sum", [x], x.sum().reshape(1))
x = torch.randn(2, 3, 5, 7, requires_grad=True)
record("mean", [x], x.mean().reshape(1))

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "layout.bin"))
