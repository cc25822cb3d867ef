"""PyTorch reference for DSSN (tests/test_dssn.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_dssn.py
Writes tests/data/dssn.bin (deterministic: rerunning gives identical bytes).

Re-implements, with torch's own ops, the pieces of
kunzhan/DSSN@efaee86 (voc/DSSN.py, city/DSSN.py, voc/util/utils.py,
voc/model/semseg/deeplabv3plus2fp.py) that semiseg's DSSN step runs:

1. select.<case>: get_adaptive_binary_mask, copied in its arithmetic (float32
   softmax, per-image per-class maximum, torch.where(max > gate, max * factor,
   max), strict "conf > thresh", sum over the classes), on random logits:
     select.<case>.logits (N, K, H, W) f32, .hp [gate, factor], .mask (N, H, W) f32
   Cases: "default" (the released 0.92 / 0.96) and "wide" (0.7 / 0.8).
   The logits are redrawn until no gated class's threshold lies within
   MARGIN of a probability and no class maximum within MARGIN of the gate,
   so float32 rounding in C cannot flip a pixel.

2. One training iteration of DSSN on the tiny DeepLabV3+ of
   tests/ref/gen_model.py (weights from Philox, as gen_semi.py), the batch of
   gen_semi.py's layout (labeled x, y; unlabeled uw, us1, us2, ign, box1, box2;
   the mix batch mw, ms1, ms2, mign), in float64 rounded to float32:
     <v>.hp     f64 [select (0 class-relative, 1 fixed), gate, factor, conf_thresh,
                     w_s, w_fp, w_siamese, siamese_inside, drop_strong,
                     teacher_train_bn, keep]
     <v>.terms  f64 [loss, loss_x, loss_s1, loss_s2, loss_fp, loss_Fp, loss_img,
                     loss_feat, mask_ratio]
     <v>.param.<name>, <v>.buf.<name>   student after the SGD step
     <v>.teacher.<name>                 teacher after its EMA update (params, buffers)
   Variants:
     voc:  voc/DSSN.py at an iteration after the first: class-relative
           selection, Siamese weight 0.01 inside the 1/2, strong terms in,
           teacher in train mode (its two passes update its BN statistics),
           EMA keep 0.996 over every state entry;
     city: city/DSSN.py during its first epochs: fixed threshold, Siamese
           weight outside the 1/2 (0.5 here instead of 0.005, so that the
           Siamese gradients are large enough for the weight check to see
           them), strong terms out, teacher in eval mode, keep 0.
   The classifier is scaled by CLS_SCALE so that the tiny model's
   confidences spread up to ~0.99; the thresholds (gate / factor,
   conf_thresh) are checked or chosen in gaps of them, as gen_semi.py does.
   Both feature-perturbed copies use sg_dropout2d's Philox masks of
   sg_semi_fp2(FP_P, SEED_S, FP_IT): streams (dropout, FP_IT, 0..3).
"""
import ast
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
    its top-level generation code (as gen_semi.py)."""
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    mod = types.ModuleType("gen_model_defs")
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), mod.__dict__)
    return mod


gm = load_definitions(os.path.join(HERE, "gen_model.py"))

CFG = dict(depth=18, widths=[4, 4, 4, 8], deep=True, os_=16, mg=False, aspp=6, rates=[1, 2, 3],
           reduce=6, dec=8, k=4)
NL, NU, S, K = 2, 2, 21, 4
SEED_S, SEED_T = 0x5E311, 0x7EAC4E2
LR, HEAD_MULT, WD = 0.01, 10.0, 1e-4
FP_P, FP_IT = 0.5, 3
WARM = 10
# The classifier's weights and bias x 4 (a power of two: exact in float32), so
# that the tiny model's confidences spread up to ~0.99 and the class-relative
# selection has classes on both sides of its gate.
CLS_SCALE = 4.0
# As gen_semi.py: C logits agree to ~1e-6, so thresholds stay MARGIN from every
# probability they are compared with and argmax margins exceed TIE.
MARGIN = 5e-5
TIE = 2e-5

fx = Fixture()
gen = torch.Generator().manual_seed(11)


# ---- 1. get_adaptive_binary_mask -----------------------------------------------------
def adaptive_mask(logit, gate, factor):
    """voc/util/utils.py get_adaptive_binary_mask with the gate and factor as
    arguments (0.92, 0.96 in the released code)."""
    conf = torch.softmax(logit, dim=1)
    max_value, _ = torch.max(conf.reshape(logit.shape[0], logit.shape[1], -1), dim=2)
    new_max = torch.where(max_value > gate, max_value * factor, max_value)
    thresh = new_max.unsqueeze(-1).unsqueeze(-1)
    binary_mask = (conf > thresh)
    return torch.sum(binary_mask, dim=1)


def select_margin_ok(logit, gate, factor):
    """No float32-sensitive comparison: class maxima MARGIN from the gate; the
    probabilities of a gated class MARGIN from its threshold."""
    conf = torch.softmax(logit.double(), dim=1)
    mx = conf.flatten(2).max(dim=2)[0]
    if ((mx - gate).abs() < MARGIN).any():
        return False
    t = mx * factor
    gated = (mx > gate).unsqueeze(-1).unsqueeze(-1)
    near = ((conf - t.unsqueeze(-1).unsqueeze(-1)).abs() < MARGIN) & gated
    return not near.any()


for case, gate, factor in (("default", 0.92, 0.96), ("wide", 0.7, 0.8)):
    while True:
        z = (torch.randn(3, 5, 7, 9, generator=gen) * 3.0).float()
        # one image flat, so that no class of it reaches the gate
        z[2] *= 0.1
        if select_margin_ok(z, gate, factor):
            break
    mask = adaptive_mask(z, gate, factor)
    assert mask.max() <= 1 and mask[2].sum() == 0 and 0 < mask[:2].float().mean() < 1
    fx.add(f"select.{case}.logits", z)
    fx.add(f"select.{case}.hp", torch.tensor([gate, factor], dtype=torch.float64))
    fx.add(f"select.{case}.mask", mask.float())

# ---- 2. one iteration ----------------------------------------------------------------
fx.add("config", torch.tensor(
    [CFG["depth"], *CFG["widths"], int(CFG["deep"]), CFG["os_"], int(CFG["mg"]), CFG["aspp"],
     *CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"], SEED_S, SEED_T, LR, HEAD_MULT, WD, FP_P,
     FP_IT, WARM, CLS_SCALE], dtype=torch.float64))


def images(n):
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return torch.randn(n, 3, S, S, generator=gen) * scale + torch.randn(n, 3, 1, 1, generator=gen)


def strong(u):
    a = 0.6 + 0.8 * torch.rand(u.shape[0], 3, 1, 1, generator=gen)
    return u * a + 0.3 * torch.randn(u.shape, generator=gen)


def ignore_map(pad_rows, pad_cols):
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
for name, t in [("x", x), ("y", y.to(torch.int32)), ("uw", uw), ("us1", us1), ("us2", us2),
                ("ign", ign), ("box1", box1), ("box2", box2), ("mw", mw), ("ms1", ms1),
                ("ms2", ms2), ("mign", mign)]:
    fx.add(name, t)
x, uw, us1, us2, mw, ms1, ms2 = (t.double() for t in (x, uw, us1, us2, mw, ms1, ms2))
y = y.long()


def make(seed):
    m = gm.DeepLab(CFG["depth"], CFG["widths"], CFG["deep"], CFG["os_"], CFG["mg"], CFG["aspp"],
                   CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"])
    gm.init_like_semiseg(m, seed)
    with torch.no_grad():
        m.classifier.weight *= CLS_SCALE
        m.classifier.bias *= CLS_SCALE
    m = m.double()
    m.train()
    with torch.no_grad():
        for _ in range(WARM):
            m(torch.cat([x, uw]))
    return m


def fp2_masks(n):
    """sg_dropout2d's masks of sg_semi_fp2(FP_P, SEED_S, FP_IT) on a batch of n:
    copy 1 from streams 0 (c1) and 1 (c4), copy 2 from 2 and 3."""
    c1, c4 = CFG["widths"][0], CFG["widths"][3]
    out = []
    for b, c in ((0, c1), (1, c4), (2, c1), (3, c4)):
        u = philox.uniforms(SEED_S, philox.stream(philox.SG_RNG_DROPOUT, FP_IT, b), n * c)
        out.append(torch.tensor([1.0 if v >= philox.f32(FP_P) else 0.0 for v in u],
                                dtype=torch.float64).reshape(n, c, 1, 1))
    return out


def forward(m, inp, masks=None):
    """DeepLabV3Plus.forward of voc/model/semseg/deeplabv3plus2fp.py: with need_fp
    the decoder sees cat(c, Dropout2d(c), Dropout2d(c)) (here semiseg's masks,
    c * mask / (1 - p)) and the logits are chunked in three."""
    feats = m.backbone(inp)
    c1, c4 = feats[0], feats[3]
    if masks is not None:
        a1, a4, b1, b4 = masks
        c1 = torch.cat([c1, c1 * a1 / (1 - FP_P), c1 * b1 / (1 - FP_P)])
        c4 = torch.cat([c4, c4 * a4 / (1 - FP_P), c4 * b4 / (1 - FP_P)])
    h = F.interpolate(m.head(c4), c1.shape[-2:], mode="bilinear", align_corners=True)
    feature = m.fuse(torch.cat([m.reduce(c1), h], 1))
    out = F.interpolate(m.classifier(feature), inp.shape[-2:], mode="bilinear", align_corners=True)
    return out.chunk(3) if masks is not None else out


def no_tie(z):
    top2 = z.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).min() > TIE, "near tie in an argmax: change the seeds"


def paste(dst, src, box):
    out = dst.clone()
    sel = box.unsqueeze(1).expand(dst.shape) == 1 if dst.dim() == 4 else box == 1
    out[sel] = src[sel]
    return out


def pick_gate_factor(zs):
    """A (gate, factor) with gate * factor >= 0.5 for which the class-relative
    selection of every logit map in zs is far from float32 flips and keeps
    some pixels but not all: the released 0.92 / 0.96 if they qualify, else a
    gate in a gap of the class maxima with the largest factor of 0.99, 0.98,
    ... that keeps the margins."""
    candidates = [(philox.f32(0.92), philox.f32(0.96))]
    mx = sorted(torch.cat([torch.softmax(z, 1).flatten(2).max(2)[0].flatten() for z in zs]).tolist())
    gaps = sorted(((mx[i + 1] - mx[i], (mx[i] + mx[i + 1]) / 2) for i in range(len(mx) - 1)
                   if mx[i] > 0.55), reverse=True)
    candidates += [(philox.f32(g), philox.f32(1.0 - 0.01 * j)) for _, g in gaps for j in range(1, 40)]
    for gate, factor in candidates:
        if gate * factor >= 0.5:
            if not all(select_margin_ok(z, gate, factor) for z in zs):
                continue
            sel = torch.cat([adaptive_mask(z, gate, factor).flatten() for z in zs]).double().mean()
            if 0.1 < sel < 0.9:
                return gate, factor
    raise AssertionError("no gate / factor with wide enough margins")


def gap_threshold(values, others):
    """A threshold in the widest gap between the 10th and 90th percentiles of
    `values`, rounded to float32, at least MARGIN from them and from `others`."""
    v = sorted(values.flatten().tolist())
    lo, hi = len(v) // 10, 9 * len(v) // 10
    i = max(range(lo, hi), key=lambda j: v[j + 1] - v[j])
    t = philox.f32((v[i] + v[i + 1]) / 2)
    assert min(abs(a - t) for a in v + others.flatten().tolist()) >= MARGIN, "no confidence gap wide enough"
    return t


def masked_ce(z, label, keep, ignm):
    """criterion_u(pred, label) * (keep & (ignore != 255)), summed, over #(ignore != 255)."""
    ce = F.cross_entropy(z, label, reduction="none")
    ce = ce * (keep & (ignm != 255))
    return ce.sum() / (ignm != 255).sum().item()


def standardise(p):
    return (p - torch.mean(p, dim=1, keepdim=True)) / torch.std(p, dim=1, keepdim=True)


def sgd_step(m):
    with torch.no_grad():
        for name, p in m.named_parameters():
            lr = LR * (1.0 if name.startswith("backbone.") else HEAD_MULT)
            p -= lr * (p.grad + WD * p)


def update_teacher(student, teacher, keep_rate):
    """voc/util/utils.py update_teacher: every state_dict entry
    student * (1 - keep) + teacher * keep (num_batches_tracked is not stored
    by semiseg and never read: BN momentum is fixed).

    The student's factor follows semiseg, not the released code: keep_rate
    is float32(0.996) (philox.f32), so float32(1 - keep_rate) =
    0.0040000081 as sg_ema_update's (float)(1.0 - (double)0.996f), where the
    released keep_rate = 0.996 (a Python double) gives float32(0.004) =
    0.0040000002 (experiments/dssn/README.md, Deviations)."""
    with torch.no_grad():
        sd = student.state_dict()
        for key, value in teacher.state_dict().items():
            if not key.endswith("num_batches_tracked"):
                value.copy_(sd[key] * (1 - keep_rate) + value * keep_rate)


def store(prefix, m, teacher):
    for name, p in m.named_parameters():
        fx.add(f"{prefix}.param.{name}", p.detach().float())
    for name, b in m.named_buffers():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{prefix}.buf.{name}", b.float())
    for name, t in list(teacher.named_parameters()) + list(teacher.named_buffers()):
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{prefix}.teacher.{name}", t.detach().float())


def iteration(variant, fixed, w_siamese, inside, drop_strong, teacher_train_bn, keep):
    W_S, W_FP = 0.25, 0.25
    m, t = make(SEED_S), make(SEED_T)
    t.requires_grad_(False)   # for param in model_tea.parameters(): param.detach_()
    t.train(teacher_train_bn)
    # pred_u_w_mix_tea = model_tea(img_u_w_mix).detach()
    zt_mix = t(mw)[0].detach()
    s1, s2 = paste(us1, ms1, box1), paste(us2, ms2, box2)
    m.train()
    preds, preds_fp, preds_Fp = forward(m, torch.cat([x, uw]), fp2_masks(NL + NU))
    pred_x, pred_w = preds.split([NL, NU])
    pred_fp, pred_Fp = preds_fp[NL:], preds_Fp[NL:]
    pred_s1, pred_s2 = forward(m, torch.cat([s1, s2])).chunk(2)
    pred_w = pred_w.detach()
    # preds_tea = model_tea(img_u_w)
    zt_w = t(uw)[0].detach()
    zt1, zt2 = paste(zt_w, zt_mix, box1), paste(zt_w, zt_mix, box2)
    for z in (pred_w, zt1, zt2):
        no_tie(z)
    ign1, ign2 = paste(ign, mign, box1), paste(ign, mign, box2)
    if fixed:
        conf = [z.softmax(dim=1).max(dim=1)[0] for z in (pred_w, zt1, zt2)]
        # picked among the teacher's (less confident, eval mode) confidences
        tau = gap_threshold(torch.cat([conf[1].flatten(), conf[2].flatten()]), conf[0])
        gate, factor = 0.92, 0.96
        keep_w, keep1, keep2 = (c >= tau for c in conf)
    else:
        tau = 0.0
        gate, factor = pick_gate_factor([pred_w, zt1, zt2])
        # voc/DSSN.py keeps the int64 count of passing classes and ANDs it
        # bitwise with the non-padding mask (`adaptive_binary_mask &
        # (ignore_mask != 255)`, in masked_ce and the ratio below); with
        # gate * factor >= 0.5 the count is 0 or 1.
        keep_w, keep1, keep2 = (adaptive_mask(z, gate, factor) for z in (pred_w, zt1, zt2))
    lab_w, lab1, lab2 = pred_w.argmax(dim=1), zt1.argmax(dim=1), zt2.argmax(dim=1)
    loss_x = F.cross_entropy(pred_x, y, ignore_index=255)
    loss_s1 = masked_ce(pred_s1, lab1, keep1, ign1)
    loss_s2 = masked_ce(pred_s2, lab2, keep2, ign2)
    loss_fp = masked_ce(pred_fp, lab_w, keep_w, ign)
    loss_Fp = masked_ce(pred_Fp, lab_w, keep_w, ign)
    loss_img = F.mse_loss(standardise(pred_s1), standardise(pred_s2))
    loss_feat = F.mse_loss(standardise(pred_fp), standardise(pred_Fp))
    sup = loss_x
    if not drop_strong:
        sup = sup + loss_s1 * W_S + loss_s2 * W_S
    sup = sup + loss_fp * W_FP + loss_Fp * W_FP
    siam = (loss_img + loss_feat) * w_siamese
    loss = (sup + siam) / 2.0 if inside else sup / 2.0 + siam
    loss.backward()
    sgd_step(m)
    update_teacher(m, t, keep)
    ratio = ((keep_w & (ign != 255)).sum() / (ign != 255).sum()).item()
    fx.add(f"{variant}.hp", torch.tensor(
        [int(fixed), gate, factor, tau, W_S, W_FP, w_siamese, int(inside), int(drop_strong),
         int(teacher_train_bn), keep], dtype=torch.float64))
    fx.add(f"{variant}.terms", torch.tensor(
        [v.item() for v in (loss, loss_x, loss_s1, loss_s2, loss_fp, loss_Fp, loss_img, loss_feat)]
        + [ratio], dtype=torch.float64))
    store(variant, m, t)


iteration("voc", fixed=False, w_siamese=philox.f32(0.01), inside=True, drop_strong=False,
          teacher_train_bn=True, keep=philox.f32(0.996))
iteration("city", fixed=True, w_siamese=0.5, inside=False, drop_strong=True,
          teacher_train_bn=False, keep=0.0)

fx.write(os.path.join(HERE, "..", "data", "dssn.bin"))
