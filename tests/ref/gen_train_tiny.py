"""PyTorch reference training curve of a tiny segmentation net (tests/test_train_tiny.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_train_tiny.py
Writes tests/data/train_tiny.bin:
  init.<name>   every parameter and BN running statistic before training
                (state_dict names: conv1.weight, bn1.running_mean, ...)
  x (2, 3, 16, 16) float32, y (2, 16, 16) int32 labels in [0, 4) or 255
  loss (20,)    float64, the loss of each step before its update
  final.<name>  parameters and BN running statistics after 20 steps

Net: conv3x3(3->8, pad 1, bias) - BN - ReLU - conv3x3(8->8, stride 2, pad 2,
dilation 2, no bias) - BN - ReLU - conv1x1(8->4, bias) - bilinear resize to
16x16 (align_corners=True) - cross_entropy(ignore_index=255, mean).
SGD momentum 0.9, weight decay 1e-4, groups conv1/bn1/conv2/bn2 (lr x1) and
cls (lr x10), lr = 0.01 (1 - it/20)^0.9, 20 steps on one batch, train mode.
"""
import os
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

STEPS, BASE, POWER = 20, 0.01, 0.9

torch.manual_seed(0)
torch.set_num_threads(1)
fx = Fixture()


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.cls = nn.Conv2d(8, 4, 1, bias=True)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.cls(h)
        return F.interpolate(h, size=x.shape[2:], mode="bilinear", align_corners=True)


net = Tiny()
with torch.no_grad():
    # Non-trivial BN affine parameters so that their gradients matter.
    for bn in (net.bn1, net.bn2):
        bn.weight.copy_(1 + 0.2 * torch.randn(8))
        bn.bias.copy_(0.1 * torch.randn(8))


def state(prefix):
    for name, t in net.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{prefix}.{name}", t)


state("init")
x = torch.randn(2, 3, 16, 16)
y = torch.randint(0, 4, (2, 16, 16))
y[torch.rand(2, 16, 16) < 0.15] = 255  # some ignored pixels
fx.add("x", x)
fx.add("y", y.to(torch.int32))

head = list(net.cls.parameters())
body = [p for n, p in net.named_parameters() if not n.startswith("cls.")]
opt = torch.optim.SGD([{"params": body, "lr": BASE}, {"params": head, "lr": BASE * 10}],
                      lr=BASE, momentum=0.9, weight_decay=1e-4, foreach=False)
net.train()
losses = []
for it in range(STEPS):
    lr = BASE * (1 - it / STEPS) ** POWER
    opt.param_groups[0]["lr"] = lr
    opt.param_groups[1]["lr"] = lr * 10
    opt.zero_grad()
    loss = F.cross_entropy(net(x), y, ignore_index=255)
    loss.backward()
    opt.step()
    losses.append(loss.item())
fx.add("loss", torch.tensor(losses, dtype=torch.float64))
state("final")

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "train_tiny.bin"))
