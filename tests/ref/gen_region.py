"""PyTorch reference for the class-region primitives (include/semiseg/region.h,
tests/test_region.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_region.py
Writes tests/data/region.bin (deterministic).

The region weights, prototypes and prototype map written the way
YUKEKEJAN/UCCL@804ce93:UCCL.py calculate_region writes them (per image
and class: boolean-mask selection, softmax over the selected class
scores, weighted sum of the features, assignment into a zero map, own
features at non-member pixels), float64 on float32 data. Records:
  scores (N, K, H, W) f32, feat (N, C, H, W) f32, label (N, H, W) i32,
  member (N, H, W) i32, g (N, C, H, W) f32   inputs; g weights the map
  weights (M, 1)      the softmax weights, region by region (image, then class)
  protos (count, C)   the prototypes
  map (N, C, H, W)    the prototype map
  grad_scores, grad_feat   gradients of sum(map * g)
Image 0 has no pixel of class 2, and image 1's class-1 pixels are all
non-members: both regions are absent.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)
N, K, C, H, W = 2, 3, 5, 4, 5

gen = torch.Generator().manual_seed(17)
scores = (2 * torch.randn(N, K, H, W, generator=gen)).float()
feat = torch.randn(N, C, H, W, generator=gen).float()
label = torch.randint(0, K, (N, H, W), generator=gen, dtype=torch.int32)
label[0][label[0] == 2] = 0
member = (torch.rand(N, H, W, generator=gen) > 0.2).to(torch.int32)
member[1][label[1] == 1] = 0
g = torch.randn(N, C, H, W, generator=gen).float()

fx = Fixture()
for name, t in (("scores", scores), ("feat", feat), ("label", label), ("member", member), ("g", g)):
    fx.add(name, t)

s = scores.double().requires_grad_()
f = feat.double().requires_grad_()
weights, protos = [], []
out = torch.zeros(N, H * W, C, dtype=torch.float64)
for b in range(N):
    rows = f[b].reshape(C, -1).permute(1, 0)
    cls_scores = s[b].reshape(K, -1).permute(1, 0)
    lab = label[b].reshape(-1).long()
    mem = member[b].reshape(-1) != 0
    for k in range(K):
        mask = (lab == k) & mem
        if mask.sum() == 0:
            continue
        w = F.softmax(cls_scores[:, k][mask], dim=0)
        p = (rows[mask] * w.unsqueeze(-1)).sum(0)
        weights.append(w)
        protos.append(p)
        out[b][mask] = p
    out[b][~mem] = rows[~mem]
fmap = out.reshape(N, H, W, C).permute(0, 3, 1, 2)
assert len(protos) == N * K - 2
(fmap * g.double()).sum().backward()
fx.add("weights", torch.cat(weights).unsqueeze(1).float())
fx.add("protos", torch.stack(protos).float())
fx.add("map", fmap.detach().float())
fx.add("grad_scores", s.grad.float())
fx.add("grad_feat", f.grad.float())
fx.write(os.path.join(HERE, "..", "data", "region.bin"))
