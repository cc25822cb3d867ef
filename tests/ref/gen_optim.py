"""PyTorch reference values for the optimizer (tests/test_optim.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_optim.py
Writes tests/data/optim.bin:
  sgd.init.<name>, sgd.grad<k>.<name>, sgd.step<k>.<name>: three parameters in
      two groups (lr x1, weight decay 0.05; lr x10, weight decay 0.01),
      torch.optim.SGD(momentum 0.9) driven by the poly lr for 5 steps (k = 0..4)
      with given gradients; sgd.lr: the base lr of each step (float64).
  poly.p09, poly.p10: PolynomialLR's lr for iterations 0..19 of base 0.01 over
      20 iterations with power 0.9 and 1.0 (float64).
  ema.e.*, ema.m.*: teacher and student parameter/buffer values; ema.out.* the
      teacher after one update with decay 0.99 (buffers EMA'd: ema.out_ema.buf,
      copied: ema.out_copy.buf).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(0)
fx = Fixture()

# ---- SGD: two groups, different lr multipliers and weight decays ------------
STEPS, BASE, POWER, MOMENTUM = 5, 0.05, 0.9, 0.9
GROUPS = [(1.0, 0.05), (10.0, 0.01)]  # (lr_mult, weight_decay)
shapes = {"a.weight": (4, 3), "a.bias": (4,), "b.weight": (2, 3, 3, 3)}
group_of = {"a.weight": 0, "a.bias": 0, "b.weight": 1}
params = {n: torch.randn(s).requires_grad_() for n, s in shapes.items()}
for n, p in params.items():
    fx.add(f"sgd.init.{n}", p)
opt = torch.optim.SGD(
    [{"params": [p for n, p in params.items() if group_of[n] == g],
      "lr": BASE * m, "weight_decay": wd} for g, (m, wd) in enumerate(GROUPS)],
    lr=BASE, momentum=MOMENTUM, dampening=0.0, nesterov=False, foreach=False)
lrs = []
for k in range(STEPS):
    lr = BASE * (1 - k / STEPS) ** POWER
    lrs.append(lr)
    for g, (m, _) in enumerate(GROUPS):
        opt.param_groups[g]["lr"] = lr * m
    for n, p in params.items():
        # Some gradients exactly zero: they must still decay and carry momentum.
        g = torch.randn(p.shape) * (torch.rand(p.shape) > 0.2)
        p.grad = g
        fx.add(f"sgd.grad{k}.{n}", g)
    opt.step()
    for n, p in params.items():
        fx.add(f"sgd.step{k}.{n}", p)
fx.add("sgd.lr", torch.tensor(lrs, dtype=torch.float64))

# ---- poly schedule: torch's PolynomialLR over 20 iterations ------------------
for key, power in (("poly.p09", 0.9), ("poly.p10", 1.0)):
    w = torch.zeros(1, requires_grad=True)
    o = torch.optim.SGD([w], lr=0.01)
    sched = torch.optim.lr_scheduler.PolynomialLR(o, total_iters=20, power=power)
    vals = []
    for it in range(20):
        vals.append(o.param_groups[0]["lr"])
        closed = 0.01 * (1 - it / 20) ** power
        assert abs(vals[-1] - closed) <= 1e-12, (it, vals[-1], closed)
        o.step()
        sched.step()
    fx.add(key, torch.tensor(vals, dtype=torch.float64))

# ---- EMA: e = e * decay + p * (1 - decay) ------------------------------------
# decay is the float32 value the C side holds, so (1 - decay) rounds alike.
decay = float(torch.tensor(0.99, dtype=torch.float32))
for part, shape in (("w", (3, 4)), ("buf", (5,))):
    e = torch.randn(shape)
    m = torch.randn(shape)
    fx.add(f"ema.e.{part}", e)
    fx.add(f"ema.m.{part}", m)
    blended = e * decay + m * (1 - decay)
    if part == "w":
        fx.add("ema.out.w", blended)
    else:
        fx.add("ema.out_ema.buf", blended)
        fx.add("ema.out_copy.buf", m)
fx.add("ema.decay", torch.tensor([decay], dtype=torch.float64))

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "optim.bin"))
