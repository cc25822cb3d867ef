"""PyTorch reference for semiseg's ResNet + DeepLabV3+ (tests/test_model.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_model.py
Writes tests/data/model.bin and tests/data/resnet_tv.safetensors.

The network is tests/ref/deeplabv3plus.py, a re-implementation with the
module names of UniMatch's DeepLabV3Plus state_dict (LiheYoung/UniMatch
model/semseg/deeplabv3plus.py, model/backbone/resnet.py), generalised as
semiseg generalises it (widths, torchvision or deep stem, BasicBlock with
dilation, configurable ASPP). Its
weights are NOT stored: both sides draw them from Philox (tests/ref/philox.py
is src/core/rng.c in Python), parameter i of the state_dict order from stream
sg_rng_stream(SG_RNG_INIT, 0, i) with semiseg's rules (backbone convs
N(0, 2/fan_out), head convs U(+-1/sqrt(fan_in)), classifier bias likewise, BN
1/0). So the C test also checks registration order, names and init.

Per configuration <c> (see CONFIGS) the fixture holds:
  <c>.config    f64 [depth, w1..w4, stem (0 tv, 1 deep), output stride,
                multi_grid, aspp channels, rate1..3, reduce, decoder, classes,
                training, fp, seed]
  <c>.x, <c>.y  input (N, 3, H, W) and labels (N, H, W) int32 with 255s
  <c>.x0        eval configurations: a train-mode forward (no grad) on x0
                first sets the BN running statistics, as after training
  <c>.logits, <c>.feature, <c>.loss (f64), <c>.grad.<name> for EVERY
                parameter, <c>.buf.<name> running statistics after the pass
  <c>.fp        [p, a1, b1, a4, b4]: Dropout2d masks of c1 / c4 from
                sg_rng_stream(SG_RNG_DROPOUT, a, b) and the model seed;
                <c>.logits_fp; loss = CE(logits) + 0.5 CE(logits_fp)
  <c>.count     f64 [parameters, buffers, conv MACs per image (backbone,
                head)] counted on the PyTorch modules (hooks)
The loss is cross_entropy(ignore_index=255, mean). Forward and backward run
in float64 on the float32 weights and inputs, then are rounded to float32,
so the fixture is exact to float32 and only semiseg's error remains.

paper.r101 / paper.r50: [parameters, buffers, MACs backbone, MACs head at
  1x3x65x65] of the paper-size models (21 classes), no weights drawn.

tv.*: a narrow torchvision-named ResNet-18 (7x7 stem, fc head, OS16,
  random weights and BN statistics from torch.manual_seed) saved as
  safetensors in pure Python (I64 num_batches_tracked included, as
  torch.save would keep them), with tv.x and its eval-mode c1..c4.
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from deeplabv3plus import DeepLab, ResNet  # noqa: E402
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)


# ---- semiseg's initialisation, from Philox ------------------------------------------
def init_like_semiseg(model, seed):
    with torch.no_grad():
        for i, (name, p) in enumerate(model.named_parameters()):
            rng = philox.Rng(seed, philox.stream(philox.SG_RNG_INIT, 0, i))
            n = p.numel()
            if p.dim() == 4 and name.startswith("backbone."):
                std = math.sqrt(2.0 / (p.shape[0] * p.shape[2] * p.shape[3]))
                vals = [philox.f32(std * rng.normal()) for _ in range(n)]
            elif p.dim() == 4:
                bound = philox.f32(1.0 / math.sqrt(p.shape[1] * p.shape[2] * p.shape[3]))
                vals = [philox.f32(bound * (2.0 * rng.uniform() - 1.0)) for _ in range(n)]
            elif name == "classifier.bias":
                fan_in = model.classifier.weight.shape[1]
                bound = philox.f32(1.0 / math.sqrt(fan_in))
                vals = [philox.f32(bound * (2.0 * rng.uniform() - 1.0)) for _ in range(n)]
            elif name.endswith(".weight"):  # BN gamma
                vals = [1.0] * n
            else:  # BN beta
                vals = [0.0] * n
            p.copy_(torch.tensor(vals, dtype=torch.float32).reshape(p.shape))


def count(model, h, w):
    """[params, buffers, MACs backbone, MACs head] of one h x w image, by conv hooks."""
    macs = {"backbone": 0, "head": 0}

    def hook(name):
        def fn(mod, inp, out):
            k = mod.weight[0].numel()  # Cin/groups * kh * kw
            macs["backbone" if name.startswith("backbone.") else "head"] += out[0].numel() * k
        return fn

    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules()
               if isinstance(m, nn.Conv2d)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, h, w, dtype=next(model.parameters()).dtype))
    for hd in handles:
        hd.remove()
    params = sum(p.numel() for p in model.parameters())
    bufs = sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    return [params, bufs, macs["backbone"], macs["head"]]


# ---- the parity configurations --------------------------------------------------------
# name: depth, widths, deep stem, OS, multi_grid, aspp, rates, reduce, decoder, classes,
#       training, fp, (N, H, W), seed.
# Together: R18 and R50, train and eval, OS 16 and 8, both stems, multi-grid,
# the fp branch; ASPP rates both below and above the c4 size (centre tap only).
CONFIGS = [
    ("r18_os16_train_fp", 18, [4, 8, 8, 16], True, 16, False, 8, [2, 4, 6], 6, 8, 5,
     True, True, (2, 33, 33), 0x123456789),
    ("r18_os8_eval_tv", 18, [4, 8, 8, 16], False, 8, False, 8, [2, 4, 6], 6, 8, 5,
     False, False, (2, 33, 29), 0x2468ACE),
    ("r50_os8_train_mg", 50, [4, 4, 8, 8], True, 8, True, 8, [1, 2, 3], 6, 8, 4,
     True, False, (2, 25, 25), 77),
    ("r50_os16_eval", 50, [4, 4, 8, 8], True, 16, False, 8, [1, 2, 3], 6, 8, 4,
     False, False, (2, 21, 23), 2024),
]
FP_P, FP_A1, FP_B1, FP_A4, FP_B4 = 0.5, 5, 0, 5, 1

fx = Fixture()
gen = torch.Generator().manual_seed(0)


def sample_images(n, h, w):
    """Noise images with a contrast per image and a mean per image and
    channel. i.i.d. noise alone gives every image nearly the same global
    average, and train-mode BN of the ASPP image-pooling branch (over N
    values per channel) then divides by a tiny spread: ill-conditioned, so
    even float32 PyTorch drifts ~1e-4 from float64. Real images differ."""
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return torch.randn(n, 3, h, w, generator=gen) * scale + torch.randn(n, 3, 1, 1, generator=gen)


for (name, depth, widths, deep, os_, mg, aspp, rates, red, dec, k, training, fp, (n, h, w),
     seed) in CONFIGS:
    model = DeepLab(depth, widths, deep, os_, mg, aspp, rates, red, dec, k)
    init_like_semiseg(model, seed)
    fx.add(f"{name}.config", torch.tensor(
        [depth, *widths, int(deep), os_, int(mg), aspp, *rates, red, dec, k, int(training),
         int(fp), seed], dtype=torch.float64))
    fx.add(f"{name}.count", torch.tensor(count(model, h, w), dtype=torch.float64))
    model = model.double()

    x = sample_images(n, h, w)
    y = torch.randint(0, k, (n, h, w), generator=gen)
    y[torch.rand(n, h, w, generator=gen) < 0.15] = 255
    fx.add(f"{name}.x", x)
    fx.add(f"{name}.y", y.to(torch.int32))
    if not training:
        # BN running statistics as after some training: one train-mode pass
        x0 = sample_images(n, h, w)
        fx.add(f"{name}.x0", x0)
        model.train()
        with torch.no_grad():
            model(x0.double())
    model.train(training)

    masks = None
    if fp:
        mult = 4 if depth >= 50 else 1
        c1c, c4c = widths[0] * mult, widths[3] * mult
        u1 = philox.uniforms(seed, philox.stream(philox.SG_RNG_DROPOUT, FP_A1, FP_B1), n * c1c)
        u4 = philox.uniforms(seed, philox.stream(philox.SG_RNG_DROPOUT, FP_A4, FP_B4), n * c4c)
        m1 = torch.tensor([1.0 if u >= philox.f32(FP_P) else 0.0 for u in u1],
                          dtype=torch.float64).reshape(n, c1c, 1, 1)
        m4 = torch.tensor([1.0 if u >= philox.f32(FP_P) else 0.0 for u in u4],
                          dtype=torch.float64).reshape(n, c4c, 1, 1)
        assert 0 < m1.sum() < m1.numel() and 0 < m4.sum() < m4.numel()
        masks = ((m1, m4), FP_P)
        fx.add(f"{name}.fp", torch.tensor([FP_P, FP_A1, FP_B1, FP_A4, FP_B4],
                                          dtype=torch.float64))
    logits, feature, _ = model(x.double(), masks)
    yl = y.long()
    if fp:
        out, out_fp = logits.chunk(2)
        loss = F.cross_entropy(out, yl, ignore_index=255) + \
            0.5 * F.cross_entropy(out_fp, yl, ignore_index=255)
        fx.add(f"{name}.logits", out.float())
        fx.add(f"{name}.logits_fp", out_fp.float())
        fx.add(f"{name}.feature", feature[:n].float())
    else:
        loss = F.cross_entropy(logits, yl, ignore_index=255)
        fx.add(f"{name}.logits", logits.float())
        fx.add(f"{name}.feature", feature.float())
    loss.backward()
    fx.add(f"{name}.loss", loss.detach().reshape(1))
    for pname, p in model.named_parameters():
        fx.add(f"{name}.grad.{pname}", p.grad.float())
    for bname, b in model.named_buffers():
        if not bname.endswith("num_batches_tracked"):
            fx.add(f"{name}.buf.{bname}", b.float())

# ---- paper-size counts (UniMatch training-logs: R101 59.5M, R50 40.5M with 21 classes) ---
for depth in (101, 50):
    paper = DeepLab(depth, [64, 128, 256, 512], True, 16, False, 256, [6, 12, 18], 48, 256, 21)
    fx.add(f"paper.r{depth}", torch.tensor(count(paper, 65, 65), dtype=torch.float64))
    del paper


# ---- pretrained loading: a torchvision-named ResNet-18 in safetensors --------------------
def write_safetensors(path, tensors):
    """safetensors by hand: u64 LE header length, JSON header (names sorted,
    padded with spaces to a multiple of 8, as safetensors.torch does), data."""
    dtypes = {torch.float32: "F32", torch.int64: "I64"}
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


TV_WIDTHS = [4, 8, 8, 16]
torch.manual_seed(1)
tv = ResNet(18, TV_WIDTHS, False, 16, False)
tv.fc = nn.Linear(TV_WIDTHS[3], 10)  # ImageNet-style classifier: skipped by the loader
with torch.no_grad():
    for mod in tv.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.weight.copy_(1 + 0.3 * torch.randn(mod.num_features))
            mod.bias.copy_(0.2 * torch.randn(mod.num_features))
            mod.running_mean.copy_(0.3 * torch.randn(mod.num_features))
            mod.running_var.copy_(0.5 + torch.rand(mod.num_features))
            mod.num_batches_tracked.fill_(1000)
tv.eval()
state = {k: v.detach().clone() for k, v in tv.state_dict().items()}
assert "conv1.weight" in state and "fc.weight" in state and "bn1.num_batches_tracked" in state
write_safetensors(os.path.join(HERE, "..", "data", "resnet_tv.safetensors"), state)
x = torch.randn(2, 3, 29, 31)
fx.add("tv.x", x)
fx.add("tv.config", torch.tensor([18, *TV_WIDTHS, 0, 16, 0], dtype=torch.float64))
with torch.no_grad():
    feats = tv.double()(x.double())
for s, f in enumerate(feats):
    fx.add(f"tv.c{s + 1}", f.float())

fx.write(os.path.join(HERE, "..", "data", "model.bin"))
