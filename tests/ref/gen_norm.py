"""PyTorch reference values for the normalisation ops (tests/test_ops_norm.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_norm.py
Writes tests/data/norm.bin. For each case `bn.<case>.*` / `ln.<case>.*`:
the inputs (x, weight, bias, and for batch norm the running statistics before
the call, rm0/rv0), the settings (eps, momentum, training as f64 scalars),
the output, the running statistics after the call (rm1/rv1), an upstream
gradient `dout` and the gradients PyTorch computes from it.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def scalar(name, v):
    fx.add(name, torch.tensor([float(v)], dtype=torch.float64))


def bn_case(name, shape, affine, training, momentum=0.1, eps=1e-5):
    n, c, h, w = shape
    x = torch.randn(shape)
    # Channel 1 has a tiny spread (std ~0.003, variance ~1e-5, comparable to
    # eps) so that a wrong or missing eps changes the output by far more than
    # the tolerance; channel 2 has a nonzero mean.
    x[:, 1] *= 0.003
    x[:, 2] += 0.75
    x.requires_grad_()
    weight = (torch.rand(c) + 0.5).requires_grad_() if affine else None
    bias = torch.randn(c).requires_grad_() if affine else None
    rm0 = torch.randn(c) * 0.2
    rv0 = torch.rand(c) + 0.5
    if not training:
        # In evaluation the tiny-variance channel is the running one.
        rv0[1] = 9e-6
    rm, rv = rm0.clone(), rv0.clone()
    out = F.batch_norm(x, rm, rv, weight, bias, training=training, momentum=momentum, eps=eps)
    dout = torch.randn_like(out)
    out.backward(dout)
    p = f"bn.{name}."
    fx.add(p + "x", x)
    if affine:
        fx.add(p + "weight", weight)
        fx.add(p + "bias", bias)
        fx.add(p + "dweight", weight.grad)
        fx.add(p + "dbias", bias.grad)
    fx.add(p + "rm0", rm0)
    fx.add(p + "rv0", rv0)
    fx.add(p + "rm1", rm)
    fx.add(p + "rv1", rv)
    fx.add(p + "out", out)
    fx.add(p + "dout", dout)
    fx.add(p + "dx", x.grad)
    scalar(p + "eps", eps)
    scalar(p + "momentum", momentum)
    scalar(p + "training", 1 if training else 0)


bn_case("train_affine", (2, 3, 5, 7), affine=True, training=True)
bn_case("train_plain", (3, 4, 3, 5), affine=False, training=True)
bn_case("eval_affine", (2, 3, 5, 7), affine=True, training=False)
bn_case("eval_plain", (3, 4, 3, 5), affine=False, training=False)


def ln_case(name, shape, affine, eps=1e-5):
    d = shape[-1]
    x = (torch.randn(shape) * 2.0 + 0.5).requires_grad_()
    weight = (torch.rand(d) + 0.5).requires_grad_() if affine else None
    bias = torch.randn(d).requires_grad_() if affine else None
    out = F.layer_norm(x, (d,), weight, bias, eps)
    dout = torch.randn_like(out)
    out.backward(dout)
    p = f"ln.{name}."
    fx.add(p + "x", x)
    if affine:
        fx.add(p + "weight", weight)
        fx.add(p + "bias", bias)
        fx.add(p + "dweight", weight.grad)
        fx.add(p + "dbias", bias.grad)
    fx.add(p + "out", out)
    fx.add(p + "dout", dout)
    fx.add(p + "dx", x.grad)
    scalar(p + "eps", eps)


ln_case("rows", (6, 10), affine=True)
ln_case("bnd", (2, 5, 12), affine=True)
ln_case("bnd_plain", (2, 3, 8), affine=False)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "norm.bin"))
