"""PyTorch reference for sg_ohem_cross_entropy (tests/test_ops_loss.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_ohem.py
Writes tests/data/ohem.bin. The criterion is TorchSemiSeg's
ProbOhemCrossEntropy2d exactly as UniMatch ships it
(LiheYoung/UniMatch@0324f3d:util/ohem.py, reduction 'mean', no class
weights), written out below; each case records the logits, the target, the
loss, an upstream gradient and the logits' gradient. Cases on K=5 classes
over 2 x 6 x 7 pixels with ignore_index 255 present:
  raise     min_kept's probability above thresh: the threshold rises to it;
  thresh    thresh above min_kept's probability: thresh itself;
  zero      min_kept = 0: plain mean CE (the kept mask is not applied);
  many      min_kept above the non-ignored pixels: plain mean CE.
The thresholds sit in gaps of the probabilities (>= MARGIN from every one) so
that float32 rounding on either side cannot move a pixel across.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

torch.manual_seed(3)
IGNORE = 255
MARGIN = 1e-4


def prob_ohem_ce(pred, target, ignore_label, thresh, min_kept):
    """util/ohem.py: ProbOhemCrossEntropy2d.forward."""
    b, c, h, w = pred.size()
    target = target.view(-1)
    valid_mask = target.ne(ignore_label)
    target = target * valid_mask.long()
    num_valid = valid_mask.sum()
    prob = F.softmax(pred, dim=1)
    prob = (prob.transpose(0, 1)).reshape(c, -1)
    if min_kept > num_valid:
        pass
    elif num_valid > 0:
        prob = prob.masked_fill_(~valid_mask, 1)
        mask_prob = prob[target, torch.arange(len(target), dtype=torch.long)]
        threshold = thresh
        if min_kept > 0:
            index = mask_prob.argsort()
            threshold_index = index[min(len(index), min_kept) - 1]
            if mask_prob[threshold_index] > thresh:
                threshold = mask_prob[threshold_index]
            kept_mask = mask_prob.le(threshold)
            target = target * kept_mask.long()
            valid_mask = valid_mask * kept_mask
    target = target.masked_fill_(~valid_mask, ignore_label)
    target = target.view(b, h, w)
    return F.cross_entropy(pred, target, ignore_index=ignore_label, reduction="mean")


N, K, H, W = 2, 5, 6, 7
logits = (2.0 * torch.randn(N, K, H, W, dtype=torch.float64)).float()
target = torch.randint(0, K, (N, H, W))
target[torch.rand(N, H, W) < 0.2] = IGNORE
valid = target != IGNORE
n_valid = int(valid.sum())
p = F.softmax(logits.double(), dim=1)
pgt = p.gather(1, target.clamp(max=K - 1).unsqueeze(1)).squeeze(1)[valid].sort().values


def gap_above(i):
    """A threshold between sorted pgt[i] and pgt[i + 1], checked for margin."""
    t = float(pgt[i] + pgt[i + 1]) / 2
    assert float(pgt[i + 1] - pgt[i]) > 2 * MARGIN, "no gap: change the seed"
    return t


# raise: the threshold is the 20th probability itself, so its neighbours
# must not be within rounding of it either.
assert float(pgt[19] - pgt[18]) > 2 * MARGIN and float(pgt[20] - pgt[19]) > 2 * MARGIN
fx = Fixture()
fx.add("ohem.logits", logits)
fx.add("ohem.target", target.int())
# raise: thresh below the 20th probability, min_kept 20 -> threshold pgt[19]
# thresh: thresh between pgt[50] and pgt[51], min_kept 10 (pgt[9] below it)
cases = [("raise", gap_above(4), 20), ("thresh", gap_above(50), 10), ("zero", 0.7, 0),
         ("many", 0.7, n_valid + 1)]
for name, thresh, min_kept in cases:
    x = logits.clone().requires_grad_()
    out = prob_ohem_ce(x, target.clone(), IGNORE, thresh, min_kept)
    dout = torch.randn(())
    (g,) = torch.autograd.grad(out, [x], dout)
    fx.add(f"ohem.{name}.hp", torch.tensor([thresh, float(min_kept)], dtype=torch.float64))
    fx.add(f"ohem.{name}.out", out.reshape(1))
    fx.add(f"ohem.{name}.dout", dout.reshape(1))
    fx.add(f"ohem.{name}.dlogits", g)
fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "ohem.bin"))
print(f"ohem.bin: {n_valid} valid pixels; thresholds", [round(c[1], 6) for c in cases])
