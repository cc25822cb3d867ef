"""PyTorch reference for one iteration of each semi-supervised method (tests/test_semi.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_semi.py
Writes tests/data/semi.bin (deterministic: rerunning gives identical bytes).

Each method is re-implemented here the way its reference code writes it
(LiheYoung/UniMatch@0324f3d:unimatch.py and fixmatch.py,
Britefury/cutmix-semisup-seg@c073d7b:train_seg_semisup_mask_mt.py, the
benchmark's Mean Teacher of experiments/meanteacher/README.md),
with torch's own softmax / argmax / boolean-mask pasting / cross_entropy, on
the DeepLabV3+ of tests/ref/gen_model.py (imported: only its definitions are
executed) whose weights both sides draw from Philox. The feature-perturbation
dropout masks are semiseg's sg_dropout2d masks of sg_semi_fp(0.5, seed, IT).
Everything runs in float64 on float32 data and is rounded to float32, so
the fixture is exact to float32.

One fixed batch serves all methods:
  x (NL, 3, S, S), y (NL, S, S) int32 with 255s          labeled
  uw, us1, us2 (NU, 3, S, S), ign (NU, S, S) 255 = pad   unlabeled weak / strong views
  box1, box2 (NU, S, S) int32 UniMatch boxes (one empty, as with p = 0.5)
  mw, ms1, ms2, mign                                     the second (mix) batch
  cmmask (NU, S, S) int32                                CutMix-Seg masks (area 1/2)
Before the step every network runs WARM train-mode passes on cat(x, uw)
without gradient, so that the BN running statistics the eval-mode passes
read are near the batch statistics (from 0 / 1 the teacher's outputs are
nearly flat, with no spread of confidences to threshold).

Per method <m> in (fixmatch, unimatch, meanteacher, cutmixseg):
  <m>.hp      f64: fixmatch [tau]; unimatch [tau, w_s, w_fp];
              meanteacher [cons_weight, rampup_iters, it, alpha, ema_buffers];
              cutmixseg [cons_weight, thresh, per_pixel, strong_colour, alpha, ema_buffers]
  <m>.terms   f64: the loss terms in sg_semi_terms order, then the mask ratio
              (NaN for meanteacher, which has no pseudo-labels)
  <m>.param.<name>, <m>.buf.<name>      student after the SGD step
  <m>.teacher.<name>                    teacher after the EMA update (params, buffers)
fixmatch mixes with the batch roll, unimatch with the second batch (eval-mode
pseudo-labels), cutmixseg with the roll and strong-coloured student copies.
The thresholds are picked in gaps of the confidence distribution (>= MARGIN
from every confidence) so that float32 rounding cannot flip a pixel.
"""
import ast
import math
import os
import sys
import types

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)


def load_definitions(path):
    """The imports, functions and classes of a fixture script, without running
    its top-level generation code."""
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    mod = types.ModuleType("gen_model_defs")
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), mod.__dict__)
    return mod


gm = load_definitions(os.path.join(HERE, "gen_model.py"))

# Model: R18 deep stem, widths 4-4-4-8, OS16, ASPP 6 (rates 1/2/3), reduce 6,
# decoder 8, 4 classes. Batch: 2 labeled + 2 unlabeled crops of 21 x 21.
CFG = dict(depth=18, widths=[4, 4, 4, 8], deep=True, os_=16, mg=False, aspp=6, rates=[1, 2, 3],
           reduce=6, dec=8, k=4)
NL, NU, S, K = 2, 2, 21, 4
SEED_S, SEED_T = 0x5E311, 0x7EAC4E2
LR, HEAD_MULT, WD = 0.01, 10.0, 1e-4
FP_P, FP_IT = 0.5, 3
WARM = 10
# The C logits agree with these to about 1e-6 (logits of size ~1; test_model.c
# bounds a whole network's error by 1e-5 of the maximum), a confidence moves
# less than a logit: thresholds stay MARGIN from every confidence and the
# top two logits of every pixel TIE apart, so no pixel can flip.
MARGIN = 5e-5
TIE = 2e-5

fx = Fixture()
gen = torch.Generator().manual_seed(6)
fx.add("config", torch.tensor(
    [CFG["depth"], *CFG["widths"], int(CFG["deep"]), CFG["os_"], int(CFG["mg"]), CFG["aspp"],
     *CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"], SEED_S, SEED_T, LR, HEAD_MULT, WD, FP_P,
     FP_IT, WARM], dtype=torch.float64))


def images(n):
    """Noise with a contrast per image and a mean per image and channel (see
    gen_model.sample_images: BN over few, alike images is ill-conditioned)."""
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return torch.randn(n, 3, S, S, generator=gen) * scale + torch.randn(n, 3, 1, 1, generator=gen)


def strong(u):
    """A strong view: the weak view with a per-image affine colour change and noise."""
    a = 0.6 + 0.8 * torch.rand(u.shape[0], 3, 1, 1, generator=gen)
    return u * a + 0.3 * torch.randn(u.shape, generator=gen)


def ignore_map(pad_rows, pad_cols):
    """Crop padding at the bottom / right of the second image, as the loader pads."""
    ign = torch.zeros(NU, S, S, dtype=torch.int32)
    ign[1, S - pad_rows:, :] = 255
    ign[1, :, S - pad_cols:] = 255
    return ign


def boxes(rects):
    m = torch.zeros(NU, S, S, dtype=torch.int32)
    for i, r in enumerate(rects):
        if r:
            y, x, h, w = r
            m[i, y:y + h, x:x + w] = 1
    return m


x = images(NL)
y = torch.randint(0, K, (NL, S, S), generator=gen)
y[torch.rand(NL, S, S, generator=gen) < 0.15] = 255
uw, mw = images(NU), images(NU)
us1, us2, ms1, ms2 = strong(uw), strong(uw), strong(mw), strong(mw)
ign, mign = ignore_map(5, 3), ignore_map(2, 6)
box1 = boxes([(3, 4, 9, 7), None])
box2 = boxes([(10, 0, 6, 12), (2, 9, 12, 8)])
cmmask = boxes([(2, 3, 15, 15), (0, 7, 21, 10)])
for name, t in [("x", x), ("y", y.to(torch.int32)), ("uw", uw), ("us1", us1), ("us2", us2),
                ("ign", ign), ("box1", box1), ("box2", box2), ("mw", mw), ("ms1", ms1),
                ("ms2", ms2), ("mign", mign), ("cmmask", cmmask)]:
    fx.add(name, t)
x, uw, us1, us2, mw, ms1, ms2 = (t.double() for t in (x, uw, us1, us2, mw, ms1, ms2))
y = y.long()


def make(seed):
    m = gm.DeepLab(CFG["depth"], CFG["widths"], CFG["deep"], CFG["os_"], CFG["mg"], CFG["aspp"],
                   CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"])
    gm.init_like_semiseg(m, seed)
    m = m.double()
    m.train()
    with torch.no_grad():
        for _ in range(WARM):
            m(torch.cat([x, uw]))
    return m


def logits(m, inp, masks=None):
    return m(inp, masks)[0]


def fp_masks(n):
    """sg_dropout2d's masks for sg_semi_fp(FP_P, SEED_S, FP_IT) on a batch of n."""
    c1, c4 = CFG["widths"][0], CFG["widths"][3]
    out = []
    for b, c in ((0, c1), (1, c4)):
        u = philox.uniforms(SEED_S, philox.stream(philox.SG_RNG_DROPOUT, FP_IT, b), n * c)
        out.append(torch.tensor([1.0 if v >= philox.f32(FP_P) else 0.0 for v in u],
                                dtype=torch.float64).reshape(n, c, 1, 1))
    return (out[0], out[1]), FP_P


def pseudo(z):
    """UniMatch: conf = softmax(z).max(dim=1)[0], label = z.argmax(dim=1); checks
    that no two logits of a pixel are so close that float32 could swap them."""
    top2 = z.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).min() > TIE, "near tie in an argmax: change the seeds"
    return z.softmax(dim=1).max(dim=1)[0], z.argmax(dim=1)


def paste(dst, src, box):
    """UniMatch: dst[box.unsqueeze(1).expand(dst.shape) == 1] = src[...] on a clone."""
    out = dst.clone()
    sel = box.unsqueeze(1).expand(dst.shape) == 1 if dst.dim() == 4 else box == 1
    out[sel] = src[sel]
    return out


def roll(t):
    """Each image's partner is the next of the batch: out[i] = t[(i + 1) % N]."""
    return torch.roll(t, -1, 0)


def gap_threshold(values):
    """A threshold in the widest gap between the 10th and 90th percentiles of
    `values`, rounded to float32, at least MARGIN from every value."""
    v = sorted(values.flatten().tolist())
    lo, hi = len(v) // 10, 9 * len(v) // 10
    i = max(range(lo, hi), key=lambda j: v[j + 1] - v[j])
    t = philox.f32((v[i] + v[i + 1]) / 2)
    assert min(abs(a - t) for a in v) >= MARGIN, "no confidence gap wide enough"
    return t


def masked_ce(z, label, conf, ignm, tau):
    ce = F.cross_entropy(z, label, reduction="none")
    ce = ce * ((conf >= tau) & (ignm != 255))
    return ce.sum() / (ignm != 255).sum().item()


def mask_ratio(conf, ignm, tau):
    return (((conf >= tau) & (ignm != 255)).sum() / (ignm != 255).sum()).item()


def sgd_step(m):
    """torch.optim.SGD's first step (momentum buffer = d): p -= lr_g (g + wd p)."""
    with torch.no_grad():
        for name, p in m.named_parameters():
            lr = LR * (1.0 if name.startswith("backbone.") else HEAD_MULT)
            p -= lr * (p.grad + WD * p)


def ema(teacher, student, decay, buffers):
    """e = decay e + (1 - decay) p on parameters; buffers likewise or copied."""
    with torch.no_grad():
        for e, p in zip(teacher.parameters(), student.parameters()):
            e.copy_(decay * e + (1 - decay) * p)
        for (name, e), p in zip(teacher.named_buffers(), student.buffers()):
            if not name.endswith("num_batches_tracked"):
                e.copy_(decay * e + (1 - decay) * p if buffers else p)


def store(prefix, m, teacher=None):
    for name, p in m.named_parameters():
        fx.add(f"{prefix}.param.{name}", p.detach().float())
    for name, b in m.named_buffers():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{prefix}.buf.{name}", b.float())
    if teacher is not None:
        for name, t in list(teacher.named_parameters()) + list(teacher.named_buffers()):
            if not name.endswith("num_batches_tracked"):
                fx.add(f"{prefix}.teacher.{name}", t.detach().float())


def terms(prefix, values, ratio):
    fx.add(f"{prefix}.terms", torch.tensor([v.item() if torch.is_tensor(v) else v
                                            for v in values] + [ratio], dtype=torch.float64))


# ---- FixMatch (UniMatch's fixmatch.py), CutMix partner = the batch roll ----------------
m = make(SEED_S)
s1 = paste(us1, roll(us1), box1)
pred_x, pred_w = logits(m, torch.cat([x, uw])).split([NL, NU])
pred_s = logits(m, s1)
conf_w, lab_w = pseudo(pred_w.detach())
tau = gap_threshold(conf_w)
lab1, conf1, ign1 = (paste(a, roll(a), box1) for a in (lab_w, conf_w, ign))
loss_x = F.cross_entropy(pred_x, y, ignore_index=255)
loss_s = masked_ce(pred_s, lab1, conf1, ign1, tau)
loss = (loss_x + loss_s) / 2.0
loss.backward()
sgd_step(m)
fx.add("fixmatch.hp", torch.tensor([tau], dtype=torch.float64))
terms("fixmatch", [loss, loss_x, loss_s], mask_ratio(conf_w, ign, tau))
store("fixmatch", m)

# ---- UniMatch (unimatch.py), CutMix partner = the second batch --------------------------
W_S, W_FP = 0.25, 0.5
m = make(SEED_S)
m.eval()
with torch.no_grad():
    conf_m, lab_m = pseudo(logits(m, mw))
s1, s2 = paste(us1, ms1, box1), paste(us2, ms2, box2)
m.train()
preds, preds_fp = logits(m, torch.cat([x, uw]), fp_masks(NL + NU)).chunk(2)
pred_x, pred_w = preds.split([NL, NU])
pred_fp = preds_fp[NL:]
pred_s1, pred_s2 = logits(m, torch.cat([s1, s2])).chunk(2)
conf_w, lab_w = pseudo(pred_w.detach())
tau = gap_threshold(torch.cat([conf_w.flatten(), conf_m.flatten()]))
lab1, conf1, ign1 = (paste(a, b, box1) for a, b in ((lab_w, lab_m), (conf_w, conf_m), (ign, mign)))
lab2, conf2, ign2 = (paste(a, b, box2) for a, b in ((lab_w, lab_m), (conf_w, conf_m), (ign, mign)))
loss_x = F.cross_entropy(pred_x, y, ignore_index=255)
loss_s1 = masked_ce(pred_s1, lab1, conf1, ign1, tau)
loss_s2 = masked_ce(pred_s2, lab2, conf2, ign2, tau)
loss_fp = masked_ce(pred_fp, lab_w, conf_w, ign, tau)
loss = (loss_x + loss_s1 * W_S + loss_s2 * W_S + loss_fp * W_FP) / 2.0
loss.backward()
sgd_step(m)
fx.add("unimatch.hp", torch.tensor([tau, W_S, W_FP], dtype=torch.float64))
terms("unimatch", [loss, loss_x, loss_s1, loss_s2, loss_fp], mask_ratio(conf_w, ign, tau))
store("unimatch", m)

# ---- Mean Teacher (MT-Seg, experiments/meanteacher/README.md), EMA with the warm-start decay
CONS_W, RAMP, IT, ALPHA = 30.0, 10, 4, 0.99
m, t = make(SEED_S), make(SEED_T)
t.eval()
with torch.no_grad():
    p_t = logits(t, uw).softmax(dim=1)
pred_x, pred_s = logits(m, torch.cat([x, us1])).split([NL, NU])
loss_x = F.cross_entropy(pred_x, y, ignore_index=255)
loss_c = F.mse_loss(pred_s.softmax(dim=1), p_t)
w = philox.f32(CONS_W * math.exp(-5.0 * (1.0 - IT / RAMP) ** 2))
loss = loss_x + w * loss_c
loss.backward()
sgd_step(m)
decay = philox.f32(min(1.0 - 1.0 / (IT + 1), ALPHA))
ema(t, m, decay, False)
fx.add("meanteacher.hp", torch.tensor([CONS_W, RAMP, IT, ALPHA, 0], dtype=torch.float64))
terms("meanteacher", [loss, loss_x, loss_c, w], float("nan"))
store("meanteacher", m, t)

# ---- CutMix-Seg (train_seg_semisup_mask_mt.py, mix mode), partner = the roll ----------
CM_W, CM_ALPHA = 1.0, 0.99
m, t = make(SEED_S), make(SEED_T)
t.eval()
with torch.no_grad():
    z0 = logits(t, uw)
    p_t = paste(z0, roll(z0), cmmask).softmax(dim=1)
thresh = gap_threshold(p_t.max(dim=1)[0])
v0 = (ign != 255).double()
v_mix = paste(v0, roll(v0), cmmask)
x_mix = paste(us1, roll(us1), cmmask)  # strong_colour: the student copy is s1
loss_x = F.cross_entropy(logits(m, x), y, ignore_index=255)
p_s = logits(m, x_mix).softmax(dim=1)
conf = (p_t.max(dim=1)[0] >= thresh).double().mean()
loss_c = (((p_s - p_t) ** 2).sum(dim=1) * v_mix * conf).mean()
loss = loss_x + CM_W * loss_c
loss.backward()
sgd_step(m)
ema(t, m, CM_ALPHA, True)
fx.add("cutmixseg.hp", torch.tensor([CM_W, thresh, 0, 1, CM_ALPHA, 1], dtype=torch.float64))
terms("cutmixseg", [loss, loss_x, loss_c], conf.item())
store("cutmixseg", m, t)

fx.write(os.path.join(HERE, "..", "data", "semi.bin"))
