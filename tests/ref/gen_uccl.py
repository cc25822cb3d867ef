"""PyTorch reference for one UCCL iteration (tests/test_uccl.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_uccl.py
Writes tests/data/uccl.bin (deterministic: rerunning gives identical bytes).

Re-implements the training step of YUKEKEJAN/UCCL@804ce93:UCCL.py as the
released code writes it: the per-image, per-class loops of
cal_loss_divergence (SBU) and calculate_region (CKR) with boolean-mask
indexing, torch's softmax / cross_entropy / cosine_similarity, and the
UniMatch part of the step (the eval-mode mix-source pass, the FP pass,
the strong pass, the masked CE), on the tiny DeepLabV3+ of
tests/ref/gen_model.py (imported: only its definitions run; weights from
Philox as semiseg draws them), the decoder feature and the classifier
output before upsampling being deeplabv3plus.py's `feature` and
`pre_logit`. The FP dropout masks are sg_dropout2d's for
sg_semi_fp(0.5, seed, FP_IT). float64 on float32 data, rounded to float32.

Batch (as tests/ref/gen_semi.py's): x, y labeled; uw, us1, us2, ign,
box1, box2 unlabeled; mw, ms1, ms2, mign the mix-source batch. At crop
21 the stride-4 map is 6 x 6 and align_corners=True samples the crop at
whole pixels, so the bilinearly resized ignore map is exactly 0 or 255.

Records, for each variant v in (uccl, alt):
  v.hp      f64 [tau, w_s, w_fp, w_sbu, w_ckr, bn_passes, sbu_softmax_all, ckr_weight_grad,
             ckr_fill_reshaped]
  v.terms   f64 [loss, loss_x, loss_s1, loss_s2, loss_fp, loss_sbu, loss_ckr, mask_ratio]
  v.detail  f64 [sbu_1, sbu_2, ckr_1, ckr_2] (unweighted, per view)
  v.param.<name>, v.buf.<name>   the model after the SGD step
uccl = the released code; alt = every quirk switch flipped (no BN-only
passes, SBU softmax over the uncertain set only, CKR weights detached,
ignored pixels' own features in the CKR maps).
tau is picked in a gap of every confidence the step thresholds (>= MARGIN).
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
    """The imports, functions and classes of a fixture script, without its
    top-level generation code."""
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
SEED_S = 0x5E311
LR, HEAD_MULT, WD = 0.01, 10.0, 1e-4
FP_P, FP_IT = 0.5, 3
WARM = 10
W_S, W_FP, W_SBU, W_CKR = 0.25, 0.5, 0.015, 0.02
# As gen_semi.py: the C logits agree to ~1e-6, so thresholds stay MARGIN
# from every confidence and the top two logits of every pixel TIE apart.
MARGIN = 5e-5
TIE = 2e-5

fx = Fixture()
gen = torch.Generator().manual_seed(61)
fx.add("config", torch.tensor(
    [CFG["depth"], *CFG["widths"], int(CFG["deep"]), CFG["os_"], int(CFG["mg"]), CFG["aspp"],
     *CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"], SEED_S, LR, HEAD_MULT, WD, FP_P,
     FP_IT, WARM], dtype=torch.float64))


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
ign, mign = ignore_map(5, 3), ignore_map(9, 6)
box1 = boxes([(3, 4, 9, 7), (8, 0, 13, 13)])
box2 = boxes([(10, 0, 6, 12), None])
for name, t in [("x", x), ("y", y.to(torch.int32)), ("uw", uw), ("us1", us1), ("us2", us2),
                ("ign", ign), ("box1", box1), ("box2", box2), ("mw", mw), ("ms1", ms1),
                ("ms2", ms2), ("mign", mign)]:
    fx.add(name, t)
x, uw, us1, us2, mw, ms1, ms2 = (t.double() for t in (x, uw, us1, us2, mw, ms1, ms2))
y = y.long()
ign, mign, box1, box2 = ign.long(), mign.long(), box1.long(), box2.long()


def make():
    m = gm.DeepLab(CFG["depth"], CFG["widths"], CFG["deep"], CFG["os_"], CFG["mg"], CFG["aspp"],
                   CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"])
    gm.init_like_semiseg(m, SEED_S)
    m = m.double()
    m.train()
    with torch.no_grad():
        for _ in range(WARM):
            m(torch.cat([x, uw]))
    return m


def forward(m, inp, masks=None):
    """deeplabv3plus.py forward(need_pre_logit=True): feature, out, pre_logit."""
    out, feature, _ = m(inp, masks)
    return feature, out, m.classifier(feature)


def fp_masks(n):
    c1, c4 = CFG["widths"][0], CFG["widths"][3]
    out = []
    for b, c in ((0, c1), (1, c4)):
        u = philox.uniforms(SEED_S, philox.stream(philox.SG_RNG_DROPOUT, FP_IT, b), n * c)
        out.append(torch.tensor([1.0 if v >= philox.f32(FP_P) else 0.0 for v in u],
                                dtype=torch.float64).reshape(n, c, 1, 1))
    return (out[0], out[1]), FP_P


def no_tie(z):
    top2 = z.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).min() > TIE, "near tie in an argmax: change the seeds"


def paste(dst, src, box):
    out = dst.clone()
    sel = box.unsqueeze(1).expand(dst.shape) == 1 if dst.dim() == 4 else box == 1
    out[sel] = src[sel]
    return out


def gap_threshold(values):
    v = sorted(values.flatten().tolist())
    lo, hi = len(v) // 10, 9 * len(v) // 10
    i = max(range(lo, hi), key=lambda j: v[j + 1] - v[j])
    t = philox.f32((v[i] + v[i + 1]) / 2)
    assert min(abs(a - t) for a in v) >= MARGIN, "no confidence gap wide enough"
    return t


cos_dis = torch.nn.CosineSimilarity(dim=1, eps=1e-6)
criterion_u = torch.nn.CrossEntropyLoss(reduction="none")


def calculate_region(feature, label, ignore_mask, detach_weights, reshaped):
    """UCCL.py calculate_region; the alt variant's detach_weights: the
    weights from label.detach(); reshaped False: ignored pixels carry their
    own feature instead of the rows of feature.reshape(b, h * w, c)."""
    if detach_weights:
        label = label.detach()
    b, c, h, w = feature.size()
    k = label.size(1)
    feats_sl = torch.zeros(b, h * w, c).type_as(feature)
    index = label.softmax(dim=1).max(dim=1)[0] > 0
    feature_temp = feature.clone().reshape(b, h * w, c)  # no permute: as released
    if not reshaped:
        feature_temp = feature.clone().permute(0, 2, 3, 1).reshape(b, h * w, c)
    for bi in range(b):
        feats_iter = feature[bi].reshape(c, -1).permute(1, 0)
        preds_iter = label[bi].reshape(k, -1).permute(1, 0)
        index_batch = index[bi].reshape(h * w)
        batch_ig = ignore_mask[bi].reshape(h * w)
        argmax = preds_iter.argmax(1)
        feature_temp_index = feature_temp[bi]
        for clsid in range(k):
            maskk = argmax == clsid
            mask = maskk & index_batch & (batch_ig != 255)
            if mask.sum() == 0:
                continue
            weight = F.softmax(preds_iter[:, clsid][mask], dim=0)
            feats_sl[bi][maskk] = (feats_iter[mask] * weight.unsqueeze(-1)).sum(0)
        feats_sl[bi][batch_ig == 255] = feature_temp_index[batch_ig == 255]
    return feats_sl.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()


def cal_loss_divergence(sim, label_u_w, pred, ignore_mask, tau, softmax_all):
    """UCCL.py cal_loss_divergence; softmax_all False: the alt variant's
    softmax over the uncertain set only (-inf elsewhere)."""
    b, h, w = sim.size()
    k = label_u_w.size(1)
    index = label_u_w.softmax(dim=1).max(dim=1)[0] <= tau
    label = label_u_w.softmax(dim=1).max(dim=1)[1]
    loss_all = torch.tensor(0)
    for bi in range(b):
        s = sim[bi] * (-1)
        argmax = label[bi]
        ig = ignore_mask[bi]
        loss_cur, count = torch.tensor(0), 0
        for clsid in range(k):
            mask = (argmax == clsid) & (ig != 255) & index[bi]
            if mask.sum() == 0:
                continue
            e = (s * mask).reshape(h * w)
            if not softmax_all:
                e = e.masked_fill(~mask.reshape(h * w), float("-inf"))
            omega = F.softmax(e, dim=0).view(h, w)
            ce = criterion_u(pred[bi].unsqueeze(0), argmax.unsqueeze(0))
            loss_cur = loss_cur + (ce * omega * (ig != 255)).sum()
            count += 1
        loss_all = loss_all + (loss_cur / count if count else loss_cur)
    return loss_all / b


def masked_ce(z, label, conf, ignm, tau):
    ce = criterion_u(z, label)
    ce = ce * ((conf >= tau) & (ignm != 255))
    return ce.sum() / (ignm != 255).sum().item()


def sgd_step(m):
    with torch.no_grad():
        for name, p in m.named_parameters():
            lr = LR * (1.0 if name.startswith("backbone.") else HEAD_MULT)
            p -= lr * (p.grad + WD * p)


def run(prefix, bn_passes, softmax_all, weight_grad, reshaped, tau=None):
    m = make()
    m.eval()
    with torch.no_grad():
        pred_mix = forward(m, mw)[1]
        no_tie(pred_mix)
        conf_mix, lab_mix = pred_mix.softmax(dim=1).max(dim=1)[0], pred_mix.argmax(dim=1)
    s1, s2 = paste(us1, ms1, box1), paste(us2, ms2, box2)
    w1, w2 = paste(uw, mw, box1), paste(uw, mw, box2)
    ig_u1, ig_u2 = paste(ign, mign, box1), paste(ign, mign, box2)
    m.train()
    feat_1, _, z_1 = forward(m, w1)
    feat_2, _, z_2 = forward(m, w2)
    if bn_passes:
        forward(m, uw)
        forward(m, us1)
    preds, preds_fp = forward(m, torch.cat([x, uw]), fp_masks(NL + NU))[1].chunk(2)
    pred_x, pred_w = preds.split([NL, NU])
    pred_fp = preds_fp[NL:]
    feat_s, out_s, z_s = forward(m, torch.cat([s1, s2]))
    pred_s1, pred_s2 = out_s.chunk(2)
    z_s1, z_s2 = z_s.chunk(2)
    feat_s1, feat_s2 = feat_s.chunk(2)
    for z in (z_1, z_2, pred_w):
        no_tie(z.detach())
    conf_w, lab_w = pred_w.detach().softmax(dim=1).max(dim=1)[0], pred_w.detach().argmax(dim=1)
    if tau is None:
        tau = gap_threshold(torch.cat([conf_w.flatten(), conf_mix.flatten(),
                                       z_1.detach().softmax(1).max(1)[0].flatten(),
                                       z_2.detach().softmax(1).max(1)[0].flatten()]))
    hh, ww = feat_s2.shape[-2:]
    sim_1 = cos_dis(feat_1.clone().detach(), feat_s1)
    sim_2 = cos_dis(feat_2.clone().detach(), feat_s2)
    ig_1 = F.interpolate(ig_u1.double().unsqueeze(1), size=(hh, ww), mode="bilinear",
                         align_corners=True).squeeze(1)
    ig_2 = F.interpolate(ig_u2.double().unsqueeze(1), size=(hh, ww), mode="bilinear",
                         align_corners=True).squeeze(1)
    assert ((ig_1 == 0) | (ig_1 == 255)).all() and ((ig_2 == 0) | (ig_2 == 255)).all()
    assert (ig_1 == 255).any() and (ig_2 == 255).any()
    r_1 = calculate_region(feat_1, z_1, ig_1, False, reshaped)
    r_2 = calculate_region(feat_2, z_2, ig_2, False, reshaped)
    r_s1 = calculate_region(feat_s1, z_1, ig_1, not weight_grad, reshaped)
    r_s2 = calculate_region(feat_s2, z_2, ig_2, not weight_grad, reshaped)
    ckr_1 = 1 - cos_dis(r_1.clone().detach(), r_s1).mean()
    ckr_2 = 1 - cos_dis(r_2.clone().detach(), r_s2).mean()
    loss_region = (ckr_1 * W_CKR + ckr_2 * W_CKR) / 2
    sbu_1 = cal_loss_divergence(sim_1, z_1.clone(), z_s1, ig_1, tau, softmax_all)
    sbu_2 = cal_loss_divergence(sim_2, z_2.clone(), z_s2, ig_2, tau, softmax_all)
    assert sbu_1.item() > 0 and sbu_2.item() > 0, "SBU found no uncertain pixel: change tau"
    loss_sim = (sbu_1 * W_SBU + sbu_2 * W_SBU) / 2
    lab1, conf1, ign1 = (paste(a, b, box1) for a, b in ((lab_w, lab_mix), (conf_w, conf_mix), (ign, mign)))
    lab2, conf2, ign2 = (paste(a, b, box2) for a, b in ((lab_w, lab_mix), (conf_w, conf_mix), (ign, mign)))
    loss_x = F.cross_entropy(pred_x, y, ignore_index=255)
    loss_s1 = masked_ce(pred_s1, lab1, conf1, ign1, tau)
    loss_s2 = masked_ce(pred_s2, lab2, conf2, ign2, tau)
    loss_fp = masked_ce(pred_fp, lab_w, conf_w, ign, tau)
    loss = (loss_x + loss_s1 * W_S + loss_s2 * W_S + loss_fp * W_FP) / 2.0 + loss_sim + loss_region
    loss.backward()
    sgd_step(m)
    ratio = (((conf_w >= tau) & (ign != 255)).sum() / (ign != 255).sum()).item()
    fx.add(f"{prefix}.hp", torch.tensor([tau, W_S, W_FP, W_SBU, W_CKR, int(bn_passes), int(softmax_all),
                                         int(weight_grad), int(reshaped)], dtype=torch.float64))
    fx.add(f"{prefix}.terms", torch.tensor([t.item() for t in (loss, loss_x, loss_s1, loss_s2, loss_fp,
                                                               loss_sim, loss_region)] + [ratio],
                                           dtype=torch.float64))
    fx.add(f"{prefix}.detail", torch.tensor([t.item() for t in (sbu_1, sbu_2, ckr_1, ckr_2)],
                                            dtype=torch.float64))
    for name, p in m.named_parameters():
        fx.add(f"{prefix}.param.{name}", p.detach().float())
    for name, b in m.named_buffers():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{prefix}.buf.{name}", b.float())
    return tau


tau = run("uccl", True, True, True, True)
run("alt", False, False, False, False, tau)
fx.write(os.path.join(HERE, "..", "data", "uccl.bin"))
