"""PyTorch reference values for softmax and the losses (tests/test_ops_loss.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_loss.py
Writes tests/data/loss.bin. For each case: inputs, output, an upstream
gradient `<case>.dout` and the input gradients PyTorch computes from it.
Cases:
  softmax / log_softmax over dim 1 of (2,5,3,4), the last dim of (3,7) and (2,4,6),
    and dim 1 of (1,3,9,10) (90 positions: more than one 64-position tile);
  cross_entropy, K=5 on 5x7 pixels with ignore_index 255 present, reductions
    none/sum/mean, without and with per-pixel weights (reference: w * ce_none,
    summed, divided by the non-ignored count for mean), plus an all-ignored
    mean (torch 1.13 returns NaN and zero gradients), and a weighted mean on
    (1,3,9,10) (more than one 64-pixel tile);
  mse_loss and kl_div (zeros in the target) for every reduction; entropy.
"""
import os
import sys
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

# kl_div's reduction='mean' warns that it differs from 'batchmean'; both are tested.
warnings.filterwarnings("ignore", message="reduction: 'mean' divides")
torch.manual_seed(0)
fx = Fixture()
IGNORE = 255


def backward(name, out, inputs):
    """Backprop a random upstream gradient and record it with the input grads."""
    dout = torch.randn_like(out)
    grads = torch.autograd.grad(out, [t for _, t in inputs], dout, allow_unused=True)
    fx.add(name + ".out", out)
    fx.add(name + ".dout", dout)
    for (gname, _), g in zip(inputs, grads):
        fx.add(f"{name}.d{gname}", g)


# ---- softmax / log_softmax ----
for tag, shape, dim in (("nchw", (2, 5, 3, 4), 1), ("mat", (3, 7), 1), ("last3", (2, 4, 6), 2),
                       ("wide", (1, 3, 9, 10), 1)):
    x = (2.0 * torch.randn(*shape)).requires_grad_()
    fx.add(f"softmax.{tag}.x", x)
    backward(f"softmax.{tag}", torch.softmax(x, dim), [("x", x)])
    backward(f"log_softmax.{tag}", torch.log_softmax(x, dim), [("x", x)])

# ---- cross-entropy ----
N, K, H, W = 2, 5, 5, 7
logits = (2.0 * torch.randn(N, K, H, W)).requires_grad_()
target = torch.randint(0, K, (N, H, W), dtype=torch.int32)
target[torch.rand(N, H, W) < 0.2] = IGNORE
weight = torch.rand(N, H, W).add_(0.25).requires_grad_()
valid = target != IGNORE
assert 0 < int(valid.sum()) < N * H * W
fx.add("ce.logits", logits)
fx.add("ce.target", target)
fx.add("ce.weight", weight)
for red in ("none", "sum", "mean"):
    out = F.cross_entropy(logits, target.long(), ignore_index=IGNORE, reduction=red)
    backward(f"ce.{red}", out, [("logits", logits)])
    wce = weight * F.cross_entropy(logits, target.long(), ignore_index=IGNORE, reduction="none")
    wout = {"none": wce, "sum": wce.sum(), "mean": wce.sum() / valid.sum()}[red]
    backward(f"ce_w.{red}", wout, [("logits", logits), ("weight", weight)])
all_ignored = torch.full((N, H, W), IGNORE, dtype=torch.int32)
out = F.cross_entropy(logits, all_ignored.long(), ignore_index=IGNORE, reduction="mean")
backward("ce_allignored.mean", out, [("logits", logits)])

wide_logits = (2.0 * torch.randn(1, 3, 9, 10)).requires_grad_()
wide_target = torch.randint(0, 3, (1, 9, 10), dtype=torch.int32)
wide_target[torch.rand(1, 9, 10) < 0.2] = IGNORE
wide_weight = torch.rand(1, 9, 10).add_(0.25).requires_grad_()
fx.add("ce_wide.logits", wide_logits)
fx.add("ce_wide.target", wide_target)
fx.add("ce_wide.weight", wide_weight)
wide_wce = wide_weight * F.cross_entropy(wide_logits, wide_target.long(), ignore_index=IGNORE,
                                         reduction="none")
backward("ce_wide.mean", wide_wce.sum() / (wide_target != IGNORE).sum(),
         [("logits", wide_logits), ("weight", wide_weight)])

# ---- mse ----
a = torch.randn(2, 3, 4, 5, requires_grad=True)
b = torch.randn(2, 3, 4, 5, requires_grad=True)
fx.add("mse.a", a)
fx.add("mse.b", b)
for red in ("none", "sum", "mean"):
    backward(f"mse.{red}", F.mse_loss(a, b, reduction=red), [("a", a), ("b", b)])

# ---- kl_div (target gradient is NaN where target == 0, as torch) ----
li = torch.log_softmax(torch.randn(2, 4, 3, 5), 1).requires_grad_()
t = torch.softmax(torch.randn(2, 4, 3, 5), 1)
t[torch.rand(t.shape) < 0.15] = 0.0
t.requires_grad_()
assert int((t == 0).sum()) > 0
fx.add("kl.li", li)
fx.add("kl.t", t)
for red in ("none", "sum", "mean", "batchmean"):
    backward(f"kl.{red}", F.kl_div(li, t, reduction=red, log_target=False), [("li", li), ("t", t)])

# ---- entropy (one exact zero probability exercises the eps) ----
p = torch.softmax(torch.randn(2, 4, 3, 5), 1)
p[0, 1, 0, 0] = 0.0
p.requires_grad_()
fx.add("entropy.p", p)
backward("entropy", -(p * torch.log(p + 1e-10)).sum(1, keepdim=True), [("p", p)])

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "loss.bin"))
