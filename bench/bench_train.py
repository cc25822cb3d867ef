"""PyTorch reference for `make bench` (bench/run_bench.sh): the same models
and the same workloads as bench/bench_train.c, timed the same way.

    /usr/bin/python3 bench/bench_train.py --workload a|b|fwd|mit --threads T [--steps S] [--warmup W]

Model (fwd, a, b): DeepLabV3+ as UniMatch builds it
(model/semseg/deeplabv3plus.py) on a ResNet-18 (BasicBlock, torchvision 7x7
stem) with stage widths 32-64-128-256, output stride 16 (layer4 dilated),
ASPP 128 channels at rates 6/12/18, low-level projection 48, decoder 128, 21
classes; input 3x128x128, batch 8.
Workloads:
  fwd  forward only (train-mode BN, no grad)
  a    one supervised training step: forward + CE(ignore 255) + backward + SGD
  b    one UniMatch iteration (LiheYoung/UniMatch@0324f3d:unimatch.py):
       eval-mode no-grad forward on the mix source's weak views, CutMix of
       the strong views, a forward of labeled+weak with the
       feature-perturbation branch, a forward of the two strong views, all
       four losses, one backward, one SGD step.
  mit  workload a on SegFormer with a MiT-B0 encoder instead (embed dims
       32/64/160/256, heads 1/2/5/8, depths 2/2/2/2, sr 8/4/2/1, mlp ratio 4,
       drop-path 0.1; all-MLP head E = 256 with BN + ReLU fuse and Dropout2d
       0.1; 21 classes, same input, targets and optimizer): a train-mode
       forward with drop-path and dropout drawn from torch's generator (as
       timm's DropPath and nn.Dropout2d), CE(ignore 255), backward, SGD. The
       model is tests/ref/segformer.py, the restatement of NVlabs/SegFormer
       that tests/ref/gen_mit.py checks the C model against.
Prints one line: `py <workload> threads=<T> median_s=<..> img_per_s=<..> rss_mb=<..>`
(median over the timed steps after warm-up; peak RSS of this process).
"""
import argparse
import os
import resource
import statistics
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--workload", choices=["fwd", "a", "b", "mit"], required=True)
ap.add_argument("--threads", type=int, required=True)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=3)
args = ap.parse_args()
# Debian's torch calls OpenBLAS for some ops; its pool ignores torch.set_num_threads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(args.threads))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)

WIDTHS, ASPP_CH, LOW, DEC, K, B, S = (32, 64, 128, 256), 128, 48, 128, 21, 8, 128


def cbr(cin, cout, k, stride=1, pad=0, dil=1):
    return [nn.Conv2d(cin, cout, k, stride, pad, dil, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class Basic(nn.Module):
    def __init__(self, cin, cout, stride, dil):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, dil, dil, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, dil, dil, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.down(x) if self.down is not None else x))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*cbr(3, WIDTHS[0], 7, 2, 3), nn.MaxPool2d(3, 2, 1))
        w = WIDTHS
        self.layer1 = nn.Sequential(Basic(w[0], w[0], 1, 1), Basic(w[0], w[0], 1, 1))
        self.layer2 = nn.Sequential(Basic(w[0], w[1], 2, 1), Basic(w[1], w[1], 1, 1))
        self.layer3 = nn.Sequential(Basic(w[1], w[2], 2, 1), Basic(w[2], w[2], 1, 1))
        # OS16: layer4's stride becomes dilation (torchvision's rule: the first
        # block keeps the previous dilation 1, the rest use 2).
        self.layer4 = nn.Sequential(Basic(w[2], w[3], 1, 1), Basic(w[3], w[3], 1, 2))

    def forward(self, x):
        c1 = self.layer1(self.stem(x))
        return c1, self.layer4(self.layer3(self.layer2(c1)))


class ASPP(nn.Module):
    def __init__(self, cin, cout, rates):
        super().__init__()
        self.b0 = nn.Sequential(*cbr(cin, cout, 1))
        self.b1, self.b2, self.b3 = (nn.Sequential(*cbr(cin, cout, 3, 1, r, r)) for r in rates)
        self.b4 = nn.Sequential(nn.AdaptiveAvgPool2d(1), *cbr(cin, cout, 1))
        self.project = nn.Sequential(*cbr(5 * cout, cout, 1))

    def forward(self, x):
        h, w = x.shape[-2:]
        pool = F.interpolate(self.b4(x), (h, w), mode="bilinear", align_corners=True)
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x), pool], 1))


class DeepLabV3Plus(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = ASPP(WIDTHS[3], ASPP_CH, (6, 12, 18))
        self.reduce = nn.Sequential(*cbr(WIDTHS[0], LOW, 1))
        self.fuse = nn.Sequential(*cbr(ASPP_CH + LOW, DEC, 3, 1, 1), *cbr(DEC, DEC, 3, 1, 1))
        self.classifier = nn.Conv2d(DEC, K, 1)

    def decode(self, c1, c4):
        c4 = F.interpolate(self.head(c4), c1.shape[-2:], mode="bilinear", align_corners=True)
        return self.classifier(self.fuse(torch.cat([self.reduce(c1), c4], 1)))

    def forward(self, x, need_fp=False):
        h, w = x.shape[-2:]
        c1, c4 = self.backbone(x)
        if need_fp:
            out = self.decode(torch.cat((c1, nn.Dropout2d(0.5)(c1))), torch.cat((c4, nn.Dropout2d(0.5)(c4))))
            out = F.interpolate(out, (h, w), mode="bilinear", align_corners=True)
            return out.chunk(2)
        return F.interpolate(self.decode(c1, c4), (h, w), mode="bilinear", align_corners=True)


class TorchMasks:
    """The training draws of segformer.py's SegFormer from torch's generator:
    timm's DropPath (a per-sample keep mask scaled by 1 / keep) and Dropout2d."""

    def drop_path(self, x, p, j):
        keep = 1.0 - p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def dropout2d(self, f, p):
        return F.dropout2d(f, p, training=True)


if args.workload == "mit":
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    from segformer import SegFormer  # noqa: E402

    # MiT-B0 (NVlabs/SegFormer mit_b0) with the B0 head width E = 256.
    model = SegFormer([32, 64, 160, 256], [1, 2, 5, 8], [2, 2, 2, 2], [8, 4, 2, 1], 4, 0.1, 256, K, 0.1)
else:
    model = DeepLabV3Plus()
# Group 0 the encoder (lr 0.001), group 1 the head (x10), as bench_train.c.
head = [p for n, p in model.named_parameters() if not n.startswith("backbone")]
opt = torch.optim.SGD([{"params": model.backbone.parameters(), "lr": 0.001},
                       {"params": head, "lr": 0.01}], lr=0.001, momentum=0.9, weight_decay=1e-4)
ce = nn.CrossEntropyLoss(ignore_index=255)
ce_none = nn.CrossEntropyLoss(reduction="none")

g = torch.Generator().manual_seed(1)
x = torch.randn(B, 3, S, S, generator=g)
y = torch.randint(0, K, (B, S, S), generator=g)
y[:, :8] = 255
u_w, u_s1, u_s2 = (torch.randn(B, 3, S, S, generator=g) for _ in range(3))
m_w, m_s1, m_s2 = (torch.randn(B, 3, S, S, generator=g) for _ in range(3))
ign = torch.zeros(B, S, S, dtype=torch.long)
ign[:, -8:] = 255
box1 = torch.zeros(B, S, S, dtype=torch.long)
box1[:, 20:80, 30:90] = 1
box2 = torch.zeros(B, S, S, dtype=torch.long)
box2[:, 50:110, 10:60] = 1


def step_fwd():
    model.train()
    with torch.no_grad():
        model(x)


def step_a():
    model.train()
    loss = ce(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def step_b():
    thresh = 0.95
    with torch.no_grad():
        model.eval()
        pred_mix = model(m_w).detach()
        conf_mix, mask_mix = pred_mix.softmax(1).max(1)
    s1, s2 = u_s1.clone(), u_s2.clone()
    b1 = box1.unsqueeze(1).expand(s1.shape) == 1
    b2 = box2.unsqueeze(1).expand(s2.shape) == 1
    s1[b1] = m_s1[b1]
    s2[b2] = m_s2[b2]
    model.train()
    preds, preds_fp = model(torch.cat((x, u_w)), True)
    pred_x, pred_w = preds.split([B, B])
    pred_w_fp = preds_fp[B:]
    pred_s1, pred_s2 = model(torch.cat((s1, s2))).chunk(2)
    pred_w = pred_w.detach()
    conf_w, mask_w = pred_w.softmax(1).max(1)
    m1, c1, i1 = mask_w.clone(), conf_w.clone(), ign.clone()
    m2, c2, i2 = mask_w.clone(), conf_w.clone(), ign.clone()
    m1[box1 == 1], c1[box1 == 1], i1[box1 == 1] = mask_mix[box1 == 1], conf_mix[box1 == 1], ign[box1 == 1]
    m2[box2 == 1], c2[box2 == 1], i2[box2 == 1] = mask_mix[box2 == 1], conf_mix[box2 == 1], ign[box2 == 1]
    loss_x = ce(pred_x, y)
    l1 = (ce_none(pred_s1, m1) * ((c1 >= thresh) & (i1 != 255))).sum() / (i1 != 255).sum().item()
    l2 = (ce_none(pred_s2, m2) * ((c2 >= thresh) & (i2 != 255))).sum() / (i2 != 255).sum().item()
    lfp = (ce_none(pred_w_fp, mask_w) * ((conf_w >= thresh) & (ign != 255))).sum() / (ign != 255).sum().item()
    loss = (loss_x + 0.25 * l1 + 0.25 * l2 + 0.5 * lfp) / 2.0
    opt.zero_grad()
    loss.backward()
    opt.step()


def step_mit():
    model.train()
    loss = ce(model(x, TorchMasks())[0], y)
    opt.zero_grad()
    loss.backward()
    opt.step()


step = {"fwd": step_fwd, "a": step_a, "b": step_b, "mit": step_mit}[args.workload]
# Images through the network per step, as the C side counts them.
images = {"fwd": B, "a": B, "b": 5 * B, "mit": B}[args.workload]
for _ in range(args.warmup):
    step()
times = []
for _ in range(args.steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
med = statistics.median(times)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(f"py {args.workload} threads={args.threads} median_s={med:.5f} img_per_s={images / med:.2f} rss_mb={rss:.1f}")
