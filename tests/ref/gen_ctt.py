"""PyTorch reference for one iteration of cross teacher training (tests/test_ctt.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_ctt.py
Writes tests/data/ctt.bin (deterministic: rerunning gives identical bytes).

Re-implements one step of 1181110317/SSL_CTT@33d7e3c:cross_teacher_contr.py main() on the
tiny DeepLabV3+ of tests/ref/gen_model.py (tests/ref/gen_semi.py's CFG), the networks in
float64 on float32 data:
  pred_l = model_l(images); pred_r = model_r(images); L_l_s = CE(interp(pred_s['out']), labels)
  ema_loss(model_l, ema_model_r, ...), then ema_loss(model_r, ema_model_l, ...): the teacher
      (train mode) predicts the unlabeled batch, softmax; ClassMix masks from its argmax
      (the class choices are semiseg's Philox draws sg_run_rng(run, s) of iteration IT,
      as tests/ref/gen_classmix.py checks them); the images and the probabilities mixed with
      the next image of the batch; then the blur of the strong transform when
      U(0, 1) > 0.5 (kornia 0.3.0 GaussianBlur2d, sigma ~ U(0.15, 1.15) from the same
      generator); the student predicts the mix;
      L_u = consistency_weight * mean(CE(logits_u_s, pseudo_label) * unlabeled_weight),
      unlabeled_weight = fraction of max_probs >= conf_uniform
  loss_l.backward(); SGD step of L; loss_r.backward(); SGD step of R (first step: the
      momentum buffer is the gradient)
  update_ema_variables for both teachers: model.parameters() averaged with
      min(1 - 1/(IT + 1), 0.99); the teachers' BN statistics are their own (the
      released update touches parameters only), moved by their train-mode passes
      (ema_loss on u, add_to_memory_bank on x)
  add_to_memory_bank for both teachers: a no-grad train-mode pass of the labeled batch,
      the classifier's output at feature size, labels nearest-downsampled, candidates
      argmax == label and max raw logit >= bank_logit, per class the n_add largest
      (sorted) or all, their features L2-normalised and appended, oldest dropped past
      the capacity.
The banks start partly filled (class c holds PREFILL[c] rows), so the step runs without
the contrastive terms (they wait for full banks) and the update exercises both the plain
append and the FIFO drop.

The thresholds are picked in gaps (>= MARGIN from every value) and argmaxes, as well as
the sorted candidate logits, are TIE apart, so float32 rounding cannot move a pixel.
Records: config, hp (f64), the inputs x, y, uw, bank.<l|r>.init / .init_size, the terms
(f64: loss, loss_l, loss_r, x_l, x_r, u_l, u_r, lambda_l, lambda_r), then
<l|r>.param/.buf.<name> (students after SGD), <l|r>.teacher.<name> (after EMA and the
bank pass), bank.<l|r>.rows (K, CAP, D) oldest first and bank.<l|r>.size.
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
    tree = ast.parse(open(path).read(), path)
    keep = [n for n in tree.body
            if isinstance(n, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef))]
    mod = types.ModuleType(os.path.basename(path)[:-3] + "_defs")
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), mod.__dict__)
    return mod


gm = load_definitions(os.path.join(HERE, "gen_model.py"))
gc = load_definitions(os.path.join(HERE, "gen_classmix.py"))

CFG = dict(depth=18, widths=[4, 4, 4, 8], deep=True, os_=16, mg=False, aspp=6, rates=[1, 2, 3],
           reduce=6, dec=8, k=4)
NL, NU, S, K, D = 2, 2, 21, 4, 8
SEED_L, SEED_R, SEED_TL, SEED_TR = 0xC7710, 0xC7711, 0xC7712, 0xC7713
RUN_SEED = 0x5EED5
LR, HEAD_MULT, WD = 0.01, 10.0, 1e-4
WARM = 10
WEIGHT_U, BLUR_P, SIGMA_MIN, SIGMA_MAX, ALPHA = 1.0, 0.5, 0.15, 1.15, 0.99
CAP, N_LABELED = 5, 100
N_ADD = max(int(CAP / N_LABELED * 2), NL)
PREFILL = [1, 3, 4, 5]
MARGIN = 5e-5
TIE = 2e-5

fx = Fixture()
gen = torch.Generator().manual_seed(2022)


def images(n):
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return torch.randn(n, 3, S, S, generator=gen) * scale + torch.randn(n, 3, 1, 1, generator=gen)


x = images(NL)
y = torch.randint(0, K, (NL, S, S), generator=gen)
y[torch.rand(NL, S, S, generator=gen) < 0.15] = 255
uw = images(NU)
for name, t in [("x", x), ("y", y.to(torch.int32)), ("uw", uw)]:
    fx.add(name, t)
x, uw = x.double(), uw.double()
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


def no_tie(z, what):
    top2 = z.topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).min() > TIE, f"near tie in an argmax ({what}): change the seeds"


def gap_threshold(values, lo_q=0.1, hi_q=0.9):
    v = sorted(values.flatten().tolist())
    lo, hi = int(len(v) * lo_q), int(len(v) * hi_q)
    i = max(range(lo, hi), key=lambda j: v[j + 1] - v[j])
    t = philox.f32((v[i] + v[i + 1]) / 2)
    assert min(abs(a - t) for a in v) >= MARGIN, "no gap wide enough"
    return t


def blur(data, sigma):
    """kornia 0.3.0 GaussianBlur2d (gen_classmix.blur) in float64 on float32 taps."""
    ky, kx = gc.kernel_size(data.shape[2]), gc.kernel_size(data.shape[3])
    k2 = torch.matmul(gc.gaussian(ky, sigma).double().unsqueeze(-1),
                      gc.gaussian(kx, sigma).double().unsqueeze(-1).t())
    c = data.shape[1]
    pad = F.pad(data, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
    return F.conv2d(pad, k2.expand(c, 1, ky, kx), groups=c)


def sgd_step(m):
    with torch.no_grad():
        for name, p in m.named_parameters():
            lr = LR * (1.0 if name.startswith("backbone.") else HEAD_MULT)
            p -= lr * (p.grad + WD * p)


def ema(teacher, student, decay):
    """update_ema_variables: parameters only, the buffers stay the teacher's."""
    with torch.no_grad():
        for e, p in zip(teacher.parameters(), student.parameters()):
            e.copy_(decay * e + (1 - decay) * p)


students = [make(SEED_L), make(SEED_R)]
teachers = [make(SEED_TL), make(SEED_TR)]


# ---- the teachers' mixes (each from its own generator, iteration IT) -------------------------
def teacher_mix(t, rng):
    """ema_loss up to the student's forward: probabilities, masks, mixed image,
    blur draw; returns (inputs_u_s, max_probs, pseudo_label, blurred)."""
    with torch.no_grad():
        z = t(uw)[0]
    no_tie(z, "teacher on u")
    p = torch.softmax(z, dim=1)
    arg = torch.max(p, dim=1)[1]
    mask = torch.stack([gc.class_mask(arg[i], rng) for i in range(NU)]).unsqueeze(1).double()
    xs = gc.mix(mask, uw)
    conf, lab = torch.max(gc.mix(mask, p), dim=1)
    blurred = False
    if rng.uniform() > philox.f32(1.0 - BLUR_P):
        # float32 as the C computes it: min + (max - min) * u, each step rounded
        sigma = philox.f32(philox.f32(SIGMA_MIN) + philox.f32(
            philox.f32(philox.f32(SIGMA_MAX) - philox.f32(SIGMA_MIN)) * rng.uniform()))
        xs = blur(xs, sigma)
        blurred = True
    return xs, conf, lab, blurred


def pick_iteration():
    """An iteration whose draws blur one student's mix and not the other's (both
    paths run); the teachers are copied so that their BN statistics stay put."""
    import copy
    for it in range(1, 60):
        flags = []
        for s in range(2):
            rng = philox.Rng(RUN_SEED, philox.stream(philox.SG_RNG_DROPOUT, it, s))
            flags.append(teacher_mix(copy.deepcopy(teachers[1 - s]), rng)[3])
        if flags[0] != flags[1]:
            return it
    raise AssertionError("no iteration blurs exactly one mix")


IT = pick_iteration()

# ---- one iteration -----------------------------------------------------------------------
pred_x = [students[s](x)[0] for s in range(2)]
loss_x = [F.cross_entropy(pred_x[s], y, ignore_index=255) for s in range(2)]
mixes, logits_u = [], []
for s in range(2):
    rng = philox.Rng(RUN_SEED, philox.stream(philox.SG_RNG_DROPOUT, IT, s))
    xs, conf, lab, _ = teacher_mix(teachers[1 - s], rng)
    mixes.append((conf, lab))
    logits_u.append(students[s](xs)[0])
conf_uniform = gap_threshold(torch.cat([m[0].flatten() for m in mixes]), 0.3, 0.9)
loss_u, lam = [], []
for s in range(2):
    conf, lab = mixes[s]
    lam.append(torch.sum(conf.ge(conf_uniform).long() == 1).item() / lab.numel())
    ce = F.cross_entropy(logits_u[s], lab, reduction="none")
    loss_u.append(WEIGHT_U * torch.mean(ce * (lam[s] * torch.ones(conf.shape, dtype=torch.float64))))
assert all(0 < v < 1 for v in lam), lam
loss_s = [loss_x[s] + loss_u[s] for s in range(2)]
for s in range(2):
    loss_s[s].backward()
    sgd_step(students[s])
decay = philox.f32(min(1.0 - 1.0 / (IT + 1), ALPHA))
for s in range(2):
    ema(teachers[s], students[s], decay)

# ---- the banks --------------------------------------------------------------------------------
banks, sizes = [], []
for s in range(2):
    b = torch.zeros(K, CAP, D)
    for c in range(K):
        r = torch.randn(PREFILL[c], D, generator=gen)
        b[c, :PREFILL[c]] = r
    banks.append(b)
    sizes.append(list(PREFILL))
    fx.add(f"bank.{'lr'[s]}.init", b)
fx.add("bank.init_size", torch.tensor(PREFILL, dtype=torch.int32))

outs = []
for s in range(2):
    with torch.no_grad():
        _, feat, _ = teachers[s](x)
        z = teachers[s].classifier(feat)
    no_tie(z, "teacher on x")
    outs.append((z, feat))
labels_feat = F.interpolate(y.unsqueeze(1).double(), size=outs[0][0].shape[2:], mode="nearest").squeeze(1).long()
bank_logit = gap_threshold(torch.cat([o[0].max(dim=1)[0].flatten() for o in outs]), 0.3, 0.7)
n_sorted = n_all = 0
for s in range(2):
    z, feat = outs[s]
    rep = F.normalize(feat, dim=1)
    prob, arg = torch.max(z, dim=1)
    mask_acc = (labels_feat == arg) & (prob >= bank_logit)
    for c in range(K):
        if c not in torch.unique(labels_feat):
            continue
        mask = (labels_feat == c) & mask_acc
        rep_c = rep.permute(0, 2, 3, 1)[mask]
        n = N_ADD
        if len(rep_c) >= n:
            v, order = prob[mask].sort(descending=True)
            assert len(v) < 2 or (v[:-1] - v[1:]).min() > TIE, "near tie among the candidates"
            rep_c = rep_c[order][:n]
            n_sorted += len(v) > n
        else:
            n = len(rep_c)
            n_all += n > 0
        size = sizes[s][c]
        if size + n <= CAP:
            banks[s][c, size:size + n] = rep_c.float()
            sizes[s][c] = size + n
        else:
            keep = banks[s][c, n - (CAP - size):size].clone()
            banks[s][c, :CAP - n] = keep
            banks[s][c, CAP - n:] = rep_c.float()
            sizes[s][c] = CAP
assert n_sorted > 0 and n_all > 0, (n_sorted, n_all)

fx.add("config", torch.tensor(
    [CFG["depth"], *CFG["widths"], int(CFG["deep"]), CFG["os_"], int(CFG["mg"]), CFG["aspp"],
     *CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"], SEED_L, SEED_R, SEED_TL, SEED_TR, LR,
     HEAD_MULT, WD, WARM, RUN_SEED, IT], dtype=torch.float64))
fx.add("hp", torch.tensor([conf_uniform, WEIGHT_U, BLUR_P, SIGMA_MIN, SIGMA_MAX, ALPHA, CAP, N_LABELED,
                           N_ADD, bank_logit], dtype=torch.float64))
fx.add("terms", torch.tensor([(loss_s[0] + loss_s[1]).item(), loss_s[0].item(), loss_s[1].item(),
                              loss_x[0].item(), loss_x[1].item(), loss_u[0].item(), loss_u[1].item(),
                              lam[0], lam[1]], dtype=torch.float64))
for s, tag in enumerate("lr"):
    for name, p in students[s].named_parameters():
        fx.add(f"{tag}.param.{name}", p.detach().float())
    for name, b in students[s].named_buffers():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{tag}.buf.{name}", b.float())
    for name, t in list(teachers[s].named_parameters()) + list(teachers[s].named_buffers()):
        if not name.endswith("num_batches_tracked"):
            fx.add(f"{tag}.teacher.{name}", t.detach().float())
    fx.add(f"bank.{tag}.rows", banks[s])
    fx.add(f"bank.{tag}.size", torch.tensor(sizes[s], dtype=torch.int32))


# ---- scenario c: full banks, the contrastive modules on --------------------------------------
# The same networks and batch again (fresh copies), both banks full of random unit rows
# (class c of bank b: CAP rows), so with_embed holds and
#   loss_s = L_x + L_u + W_LOW * contr_net_loss + W_HIGH * contr_self_loss
# (the first upload's composition, with weights other than 0.1 so that a swap shows).
W_HIGH, W_LOW, TAU_HIGH, TAU_LOW = 0.3, 0.7, 0.1, 0.5
EPS = 1e-12


def contr_self_loss(memory_bank, pred_rep, labels, mask, temp):
    """cross_teacher_contr.py contr_self_loss, as released."""
    num_feat = pred_rep.shape[1]
    pred_rep = pred_rep.permute(0, 2, 3, 1)
    loss = torch.tensor(0.0, dtype=torch.float64)
    class_count = 0
    size = int(memory_bank.size(1))
    for i in range(K):
        with torch.no_grad():
            negative_feat = memory_bank[[j for j in range(K) if j != i]].reshape(-1, num_feat)
            all_feats = torch.cat([memory_bank[i], negative_feat])
        which_choice = mask & (labels == i)
        if which_choice.sum() == 0:
            continue
        class_count += 1
        a = pred_rep[which_choice]
        logits = (a @ all_feats.T) / (torch.norm(a, dim=1).unsqueeze(0).T @ torch.norm(all_feats, dim=1).unsqueeze(0))
        logits = torch.exp(logits / temp)
        down = torch.sum(logits[:, size:], dim=1).unsqueeze(1)
        posi = logits[:, :size]
        loss = loss + (-torch.log((posi / (posi + down + EPS)) + EPS)).sum() / (size * len(a))
    return loss / class_count, class_count


def contr_net_loss(memory_bank, rep_s, rep_p, labels, mask, temp):
    """cross_teacher_contr.py contr_net_loss, as released (which_memory all ones)."""
    num_feat = rep_s.shape[1]
    rep_s, rep_p = rep_s.permute(0, 2, 3, 1), rep_p.permute(0, 2, 3, 1)
    loss = torch.tensor(0.0, dtype=torch.float64)
    class_count = 0
    for i in range(K):
        with torch.no_grad():
            negative_feat = memory_bank[[j for j in range(K) if j != i]].reshape(-1, num_feat)
        which_choice = mask & (labels == i)
        if which_choice.sum() == 0:
            continue
        class_count += 1
        a, p = rep_s[which_choice], rep_p[which_choice]
        logits = (a @ negative_feat.T) / (torch.norm(a, dim=1).unsqueeze(0).T @ torch.norm(negative_feat, dim=1).unsqueeze(0))
        down = torch.sum(torch.exp(logits / temp), dim=1)
        posi = torch.exp(torch.sum(a * p, dim=1) / (torch.norm(a, dim=1) * torch.norm(p, dim=1)) / temp)
        loss = loss + (-torch.log((posi / (posi + down + EPS)) + EPS)).sum() / len(a)
    return loss / class_count, class_count


# A pixel whose decoder feature is all zero (after the ReLU) has no direction: the released
# cosine divides 0 by 0 (NaN), semiseg's is 0. Networks of other seeds (offset off) are
# tried until no feature vanishes, no argmax nearly ties and each term has at least two
# classes of anchors. The search starts at 5: offset 1 gives a student R whose float32
# BN updates (2 images of 21 pixels) drift by 3e-3 of the update scale even with both
# contrastive weights 0, beyond test_semi.c's tolerance; 2 to 4 have near ties.
for off in range(5, 64):
    students = [make(SEED_L + off), make(SEED_R + off)]
    teachers = [make(SEED_TL + off), make(SEED_TR + off)]
    full = []
    for b in range(2):
        r = F.normalize(torch.randn(K, CAP, D, generator=gen), dim=2)
        full.append(r)
    outs_x = [students[s](x) for s in range(2)]
    loss_x = [F.cross_entropy(outs_x[s][0], y, ignore_index=255) for s in range(2)]
    mixes, outs_u = [], []
    try:
        for s in range(2):
            rng = philox.Rng(RUN_SEED, philox.stream(philox.SG_RNG_DROPOUT, IT, s))
            xs, conf, lab, _ = teacher_mix(teachers[1 - s], rng)
            mixes.append((conf, lab))
            outs_u.append(students[s](xs))
    except AssertionError:
        continue
    if min(o[1].norm(dim=1).min().item() for o in outs_x + outs_u) == 0.0:
        continue
    if min((m[0] - conf_uniform).abs().min().item() for m in mixes) < MARGIN:
        continue
    loss_u = []
    for s in range(2):
        conf, lab = mixes[s]
        lam_s = torch.sum(conf.ge(conf_uniform).long() == 1).item() / lab.numel()
        ce = F.cross_entropy(outs_u[s][0], lab, reduction="none")
        loss_u.append(WEIGHT_U * torch.mean(ce * (lam_s * torch.ones(conf.shape, dtype=torch.float64))))
    hf = outs_x[0][1].shape[2:]
    labels_feat = F.interpolate(y.unsqueeze(1).double(), size=hf, mode="nearest").squeeze(1).long()
    prob_d = [F.interpolate(m[0].unsqueeze(1), size=hf, mode="nearest").squeeze(1) for m in mixes]
    max_d = [F.interpolate(m[1].unsqueeze(1).double(), size=hf, mode="nearest").squeeze(1).long() for m in mixes]
    gamma = gap_threshold(torch.cat([p.flatten() for p in prob_d]), 0.3, 0.7)
    rep_x = [F.normalize(outs_x[s][1], dim=1) for s in range(2)]
    rep_u = [F.normalize(outs_u[s][1], dim=1) for s in range(2)]
    max_u = [students[s].classifier(outs_u[s][1]).detach() for s in range(2)]
    top2 = [z.topk(2, dim=1).values for z in max_u]
    if min((t[:, 0] - t[:, 1]).min().item() for t in top2) <= TIE:
        continue
    max_u = [torch.max(torch.softmax(z, dim=1), dim=1)[1] for z in max_u]
    both = torch.cat([full[0], full[1]], dim=1).double()
    high, low, counts = [], [], []
    for s in range(2):
        labels_s = torch.cat([labels_feat, max_d[s]])
        mask_s = torch.cat([labels_feat != 255, prob_d[s] >= gamma])
        h, nh = contr_self_loss(full[s].double(), torch.cat([rep_x[s], rep_u[s]]), labels_s, mask_s, TAU_HIGH)
        lo, nl = contr_net_loss(both, rep_u[s], rep_u[1 - s].detach(), max_u[1 - s], prob_d[s] < gamma, TAU_LOW)
        high.append(h)
        low.append(lo)
        counts += [nh, nl]
    if min(counts) < 2:
        continue
    break
else:
    raise AssertionError("no seed offset without vanishing features")
for b in range(2):
    fx.add(f"c.bank.{'lr'[b]}", full[b])
loss_s = [loss_x[s] + loss_u[s] + W_LOW * low[s] + W_HIGH * high[s] for s in range(2)]
for s in range(2):
    loss_s[s].backward()
    sgd_step(students[s])
fx.add("c.hp", torch.tensor([gamma, W_HIGH, W_LOW, TAU_HIGH, TAU_LOW, off], dtype=torch.float64))
fx.add("c.terms", torch.tensor([(loss_s[0] + loss_s[1]).item(), loss_s[0].item(), loss_s[1].item(),
                                high[0].item(), high[1].item(), low[0].item(), low[1].item()],
                               dtype=torch.float64))
for s, tag in enumerate("lr"):
    for name, p in students[s].named_parameters():
        fx.add(f"c.{tag}.param.{name}", p.detach().float())
    for name, b in students[s].named_buffers():
        if not name.endswith("num_batches_tracked"):
            fx.add(f"c.{tag}.buf.{name}", b.float())
print(f"contrastive: gamma {gamma} high {[v.item() for v in high]} low {[v.item() for v in low]} classes {counts}")

fx.write(os.path.join(HERE, "..", "data", "ctt.bin"))
print(f"IT {IT} lambda {lam} conf_uniform {conf_uniform} bank_logit {bank_logit} sizes {sizes}")
