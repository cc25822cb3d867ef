"""PyTorch reference for one U2PL iteration (tests/test_u2pl.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_u2pl.py
Writes tests/data/u2pl.bin (deterministic: rerunning gives identical bytes).

The step is re-implemented the way Haochen-Wang409/U2PL@ab3d2be writes it
(train_semi.py train(), u2pl/utils/loss_helper.py compute_unsupervised_loss
and compute_contra_memobank_loss, u2pl/utils/utils.py label_onehot and
dequeue_and_enqueue, u2pl/dataset/augmentation.py generate_unsup_data /
generate_cutout_mask, u2pl/models/decoder.py's representation head), with
torch's own ops (softmax, max, scatter_, interpolate, sort, cosine_similarity,
cross_entropy) and numpy.percentile, on the tiny DeepLabV3+ of
tests/ref/gen_model.py (imported: only its definitions run) plus a
representation head on its decoder input cat(reduce(c1), ASPP). Weights come
from Philox on both sides. U2PL's numpy / torch random draws are replaced by
semiseg's: the CutMix decision and boxes, and the anchor / negative indices,
are sg_rng draws (tests/ref/philox.py: sg_rng_uniform, sg_rng_below) of
generators both sides build from (RUN_SEED, stream); the heads' Dropout2d
masks are sg_dropout2d's. Everything runs in float64 on float32 data and is
rounded to float32.

Records:
  config          f64: CONFIG below (model, seeds, IT, SGD, U2PL hyper-parameters,
                  epoch / epochs / iterations per epoch, EMA, CLS_GAIN, CLS1_SHIFT,
                  queue capacities, sup_only_epoch of code / paper / sup, world
                  size of code / paper)
  x, y, uw        labeled batch, labels (255s), unlabeled weak batch
  queue0.sizes, queue0.rows   the queues before the step (sizes (K), rows oldest first)
  pct.v, pct.q, pct.out       numpy.percentile of float32 values (linear)
  boxes.hw, boxes             U2PL boxes [y0, x0, h, w] drawn from Rng(RUN_SEED, BOX_STREAM)
  head.x, head.train, head.eval, head.buf.<name>   the representation head alone
Per mode in (code, paper) (paper: the three contrastive quirks off, the
paper's L_u normalisation and no division of L_c's gradient; code: L_c's
gradient / 4 as the VOC release's all-reduce over 4 GPUs), one iteration with
epoch >= sup_only_epoch (code: after it, the EMA teacher; paper: in it, the
teacher shares the student's parameters):
  <mode>.terms    f64 [loss, loss_x, loss_u, loss_c, mask_ratio]
  <mode>.param.<name>, <mode>.buf.<name>             student after SGD (model, "rep." head)
  <mode>.teacher.<name>                              teacher after its update (params, buffers)
  <mode>.queue.sizes, <mode>.queue.rows              queues after the step
One supervised-only iteration (epoch < sup_only_epoch):
  sup.terms       f64 [loss, loss_x, loss_u, loss_c]
  sup.param.<name>, sup.buf.<name>                   student after SGD (the head: weight decay only)
  sup.teacher.<buffer>                               the teacher's BN statistics (its parameters
                                                     stay as they were)
Thresholds are checked to lie MARGIN away from every value they split, and the
teacher's class probabilities TIE apart, so that float32 cannot flip a pixel.
"""
import ast
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402

torch.set_num_threads(1)
HERE = os.path.dirname(__file__)


def load_definitions(path):
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
REP = 8                          # representation channels
CIN = CFG["reduce"] + CFG["aspp"]
SEED_S, SEED_T, SEED_RS, SEED_RT = 0x5E311, 0x7EAC4E2, 0x4E9, 0x4EA
RUN_SEED = 0x2B6
LR, HEAD_MULT, WD = 0.01, 10.0, 1e-4
WARM = 10
# The classifier's weights and bias times CLS_GAIN (exact in float32 for a power of
# two) on both sides: a random tiny network predicts nearly flat softmaxes whose
# entropies crowd near log K, too close together for float32 to split reliably.
CLS_GAIN = 8.0
# ... and class 1's bias lowered by CLS1_SHIFT, so that the teacher never
# predicts it either (see y below).
CLS1_SHIFT = 8.0
# U2PL hyper-parameters for this test: the released ones where the tiny
# problem allows (drop_percent, alpha_0, temperature, dropout), ranks and
# thresholds that make every mask non-empty on 4 classes.
DROP, ALPHA0, TEMP, P_REP = 80.0, 20.0, 0.5, 0.1
LOW_RANK, HIGH_RANK = 1, 3
DELTA_P, DELTA_N = 0.27, 0.6
NQ, NNEG = 6, 4
# The schedule: epoch EPOCH of EPOCHS (progress 1/4) with IPE iterations per
# epoch; each scenario sets sup_only_epoch so that the iteration falls in one
# phase of train_semi.py's teacher: "code" after sup_only_epoch (the EMA with
# k = IT - IPE * 1), "paper" in it (the teacher shares the student's
# parameters), "sup" before it (supervised only).
EPOCH, EPOCHS, IPE = 2, 8, 5
SUP_ONLY_EPOCH = {"code": 1, "paper": 2, "sup": 3}
EMA_DECAY = 0.99
# The networks' seeds per scenario. "paper" swaps them: its teacher takes the
# student's parameters, and the SEED_T network's entropies are the ones the
# thresholds split with MARGIN to spare (the SEED_S network's lowest crowd
# closer than float32 can resolve).
STUDENT_SEEDS = {"code": (SEED_S, SEED_RS), "paper": (SEED_T, SEED_RT), "sup": (SEED_S, SEED_RS)}
TEACHER_SEEDS = {"code": (SEED_T, SEED_RT), "paper": (SEED_S, SEED_RS), "sup": (SEED_T, SEED_RT)}
# The GPUs train_semi.py's dist.all_reduce(contra_loss) / world_size sums over:
# "code" as the VOC release (4), "paper" 1 (no division).
WORLD = {"code": 4, "paper": 1}
CAP = [12, 8, 8, 8]
PREFILL = [10, 5, 0, 8]
BOX_STREAM = philox.stream(philox.SG_RNG_TEST, 7, 0)
MARGIN = 5e-5
TIE = 2e-5

fx = Fixture()
gen = torch.Generator().manual_seed(11)


def stream(call):
    return philox.stream(philox.SG_RNG_DROPOUT, IT, call)


# The iteration (i_iter) keys the draws: the first one of epoch EPOCH whose
# CutMix draw applies the mix, from the epoch's second on (in the copy epoch
# the EMA line then has a decay above 0, so that the shared tensors matter).
IT = EPOCH * IPE + 1
while philox.Rng(RUN_SEED, philox.stream(philox.SG_RNG_DROPOUT, IT, 0)).uniform() >= 0.5:
    IT += 1
assert IT < (EPOCH + 1) * IPE, "no CutMix draw below 0.5 in epoch EPOCH: change RUN_SEED"


def images(n):
    scale = 0.5 + torch.rand(n, 1, 1, 1, generator=gen)
    return torch.randn(n, 3, S, S, generator=gen) * scale + torch.randn(n, 3, 1, 1, generator=gen)


x = images(NL)
# Class 1 is absent from the labels and (CLS1_SHIFT) from the pseudo-labels:
# the valid classes are then 0, 2, 3, not 0..n-1, which quirk_class_index
# depends on.
y = torch.tensor([0, 2, 3])[torch.randint(0, K - 1, (NL, S, S), generator=gen)]
y[torch.rand(NL, S, S, generator=gen) < 0.15] = 255
uw = images(NU)
queue0 = [torch.randn(n, REP, generator=gen).float() for n in PREFILL]
for name, t in [("x", x), ("y", y.to(torch.int32)), ("uw", uw)]:
    fx.add(name, t)
fx.add("queue0.sizes", torch.tensor(PREFILL, dtype=torch.int32))
fx.add("queue0.rows", torch.cat(queue0))
x, uw = x.double(), uw.double()
y = y.long()

CONFIG = [CFG["depth"], *CFG["widths"], int(CFG["deep"]), CFG["os_"], int(CFG["mg"]), CFG["aspp"],
          *CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"], SEED_S, SEED_T, SEED_RS, SEED_RT, RUN_SEED,
          IT, LR, HEAD_MULT, WD, WARM, REP, DROP, ALPHA0, TEMP, P_REP, LOW_RANK, HIGH_RANK, DELTA_P,
          DELTA_N, NQ, NNEG, EPOCH, EPOCHS, IPE, EMA_DECAY, CLS_GAIN, CLS1_SHIFT, *CAP,
          SUP_ONLY_EPOCH["code"], SUP_ONLY_EPOCH["paper"], SUP_ONLY_EPOCH["sup"], WORLD["code"], WORLD["paper"]]
fx.add("config", torch.tensor(CONFIG, dtype=torch.float64))


# ---- sg_rng draws ------------------------------------------------------------------
def below(r, n):
    """sg_rng_below: Lemire's threshold rejection, then x % n."""
    threshold = ((1 << 32) - n) % n
    while True:
        v = r.u32()
        if v >= threshold:
            return v % n


def dropout_masks(n, c, call):
    u = philox.uniforms(RUN_SEED, stream(call), n * c)
    return torch.tensor([1.0 if v >= philox.f32(P_REP) else 0.0 for v in u],
                        dtype=torch.float64).reshape(n, c, 1, 1)


KEEP = philox.f32(1.0 / philox.f32(1.0 - philox.f32(P_REP)))   # sg_dropout2d's 1 / (1 - p) in float


# ---- networks ------------------------------------------------------------------------
def make_head(seed):
    """U2PL's representation head (decoder.py) with Dropout2d applied by hand."""
    h = nn.Sequential(nn.Conv2d(CIN, REP, 3, padding=1), nn.BatchNorm2d(REP), nn.ReLU(), nn.Identity(),
                      nn.Conv2d(REP, REP, 3, padding=1), nn.BatchNorm2d(REP), nn.ReLU(), nn.Identity(),
                      nn.Conv2d(REP, REP, 1))
    with torch.no_grad():
        for i, (name, p) in enumerate(h.named_parameters()):
            rng = philox.Rng(seed, philox.stream(philox.SG_RNG_INIT, 0, i))
            mod = h[int(name.split(".")[0])]
            if isinstance(mod, nn.Conv2d):
                fan_in = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
                bound = philox.f32(1.0 / math.sqrt(fan_in))
                vals = [philox.f32(bound * (2.0 * rng.uniform() - 1.0)) for _ in range(p.numel())]
            else:
                vals = [1.0 if name.endswith("weight") else 0.0] * p.numel()
            p.copy_(torch.tensor(vals, dtype=torch.float32).reshape(p.shape))
    return h.double()


def head_fwd(h, z, masks):
    z = F.relu(h[1](h[0](z)))
    if masks is not None:
        z = z * masks[0] * KEEP
    z = F.relu(h[5](h[4](z)))
    if masks is not None:
        z = z * masks[1] * KEEP
    return h[8](z)


def fwd(m, inp):
    """DeepLab of gen_model with U2PL's outputs: upsampled logits, decoder-resolution
    logits and the decoder input the representation head reads."""
    feats = m.backbone(inp)
    c1, c4 = feats[0], feats[3]
    yy = F.interpolate(m.head(c4), c1.shape[-2:], mode="bilinear", align_corners=True)
    cat = torch.cat([m.reduce(c1), yy], 1)
    small = m.classifier(m.fuse(cat))
    large = F.interpolate(small, inp.shape[-2:], mode="bilinear", align_corners=True)
    return large, small, cat


def make(seed, head_seed):
    m = gm.DeepLab(CFG["depth"], CFG["widths"], CFG["deep"], CFG["os_"], CFG["mg"], CFG["aspp"],
                   CFG["rates"], CFG["reduce"], CFG["dec"], CFG["k"])
    gm.init_like_semiseg(m, seed)
    with torch.no_grad():
        m.classifier.weight.mul_(CLS_GAIN)
        m.classifier.bias.mul_(CLS_GAIN)
        m.classifier.bias[1] -= CLS1_SHIFT
    m = m.double()
    h = make_head(head_seed)
    m.train()
    h.train()
    with torch.no_grad():
        for _ in range(WARM):
            head_fwd(h, fwd(m, torch.cat([x, uw]))[2], None)
    return m, h


# ---- primitives: percentile, boxes, the head alone ---------------------------------------
pv = (torch.rand(37, generator=gen) * 3 - 1).float()
pq = [0.0, 12.5, 50.0, 80.0, 85.0, 99.9, 100.0]
fx.add("pct.v", pv)
fx.add("pct.q", torch.tensor(pq, dtype=torch.float64))
fx.add("pct.out", torch.tensor([np.percentile(pv.double().numpy(), q) for q in pq], dtype=torch.float64))


def u2pl_box(r, h, w):
    """generate_cutout_mask(img_size, ratio=2) with sg_rng draws: [y0, x0, bh, bw]."""
    bw = int(w / 2 + 1) + below(r, w - int(w / 2 + 1))
    bh = int(np.round(h * w / 2 / bw))
    x0 = below(r, w - bw + 1)
    y0 = below(r, h - bh + 1)
    return [y0, x0, bh, bw]


rb = philox.Rng(RUN_SEED, BOX_STREAM)
box_hw = [[21, 21], [13, 30], [30, 13], [8, 9]]
fx.add("boxes.hw", torch.tensor(box_hw, dtype=torch.int32))
fx.add("boxes", torch.tensor([u2pl_box(rb, h, w) for h, w in box_hw for _ in range(3)], dtype=torch.int32))

hh = make_head(SEED_RS)
hx = torch.randn(2, CIN, 5, 6, generator=gen)
fx.add("head.x", hx)
with torch.no_grad():
    hh.train()
    fx.add("head.train", head_fwd(hh, hx.double(), (dropout_masks(2, REP, 2), dropout_masks(2, REP, 3))).float())
    hh.eval()
    fx.add("head.eval", head_fwd(hh, hx.double(), None).float())
for name, b in hh.named_buffers():
    if not name.endswith("num_batches_tracked"):
        fx.add(f"head.buf.{name}", b.float())


# ---- U2PL's pieces (restated from the released code) ---------------------------------------
def label_onehot(inputs, num_segments, quirk):
    """u2pl/utils/utils.py label_onehot; paper: one one-hot per image."""
    if not quirk:
        t = inputs.clone()
        t[inputs == 255] = 0
        out = F.one_hot(t, num_segments).permute(0, 3, 1, 2).double()
        return out * (inputs != 255).unsqueeze(1)
    batch_size, im_h, im_w = inputs.shape
    outputs = torch.zeros((num_segments, batch_size, im_h, im_w), dtype=torch.float64)
    inputs_temp = inputs.clone()
    inputs_temp[inputs == 255] = 0
    outputs.scatter_(0, inputs_temp.unsqueeze(1), 1.0)
    outputs[:, inputs == 255] = 0
    return outputs.permute(1, 0, 2, 3)


def dequeue_and_enqueue(keys, queue, queue_size):
    queue[0] = torch.cat((queue[0], keys.float()), dim=0)
    if queue[0].shape[0] >= queue_size:
        queue[0] = queue[0][-queue_size:, :]
    return keys.shape[0]


def check_split(values, thresh, what):
    d = (values - thresh).abs().min().item()
    assert d >= MARGIN, f"{what}: a value {d:.2e} from its threshold: change the seeds"


def compute_unsupervised_loss(predict, target, percent, pred_teacher, norm):
    batch_size, num_class, h, w = predict.shape
    with torch.no_grad():
        prob = torch.softmax(pred_teacher, dim=1)
        entropy = -torch.sum(prob * torch.log(prob + 1e-10), dim=1)
        thresh = np.percentile(entropy[target != 255].detach().cpu().numpy().flatten(), percent)
        check_split(entropy, thresh, "drop_percent threshold")
        thresh_mask = entropy.ge(thresh).bool() * (target != 255).bool()
        target[thresh_mask] = 255
        kept = torch.sum(target != 255)
        weight = batch_size * h * w / kept
    ce = F.cross_entropy(predict, target, ignore_index=255)
    if norm == "code":
        loss = weight * ce
    else:   # the paper: sum over the reliable pixels / (B H W)
        loss = ce * kept / (batch_size * h * w)
    return loss, (kept / (batch_size * h * w)).item()


def compute_contra_memobank_loss(rep, label_l, label_u, prob_l, prob_u, low_mask, high_mask, memobank,
                                 queue_size, rep_teacher, sample, quirks):
    current_class_threshold, current_class_negative_threshold = DELTA_P, DELTA_N
    low_rank, high_rank = LOW_RANK, HIGH_RANK
    num_queries, num_negatives = NQ, NNEG
    num_feat = rep.shape[1]
    num_segments = label_l.shape[1]
    low_valid_pixel = torch.cat((label_l, label_u), dim=0) * low_mask
    high_valid_pixel = torch.cat((label_l, label_u), dim=0) * high_mask
    rep = rep.permute(0, 2, 3, 1)
    rep_teacher = rep_teacher.permute(0, 2, 3, 1)
    seg_feat_low_entropy_list, seg_num_list, seg_proto_list = [], [], []
    _, prob_indices_l = torch.sort(prob_l, 1, True)
    prob_indices_l = prob_indices_l.permute(0, 2, 3, 1)
    _, prob_indices_u = torch.sort(prob_u, 1, True)
    prob_indices_u = prob_indices_u.permute(0, 2, 3, 1)
    prob = torch.cat((prob_l, prob_u), dim=0)
    for t in (current_class_threshold, current_class_negative_threshold):
        check_split(prob, t, "class-probability threshold")
    srt = prob.sort(1, True).values
    # float32 probabilities carry a relative error near 1e-7: ranks need a relative gap
    assert ((srt[:, :-1] - srt[:, 1:]) / srt[:, :-1]).min() > 1e-4, "near tie in a class ranking: change the seeds"
    valid_classes = []
    for i in range(num_segments):
        low_valid_pixel_seg = low_valid_pixel[:, i]
        high_valid_pixel_seg = high_valid_pixel[:, i] if quirks else high_mask[:, 0]
        prob_seg = prob[:, i, :, :]
        rep_mask_low_entropy = (prob_seg > current_class_threshold) * low_valid_pixel_seg.bool()
        rep_mask_high_entropy = (prob_seg < current_class_negative_threshold) * high_valid_pixel_seg.bool()
        seg_feat_low_entropy_list.append(rep[rep_mask_low_entropy])
        seg_proto_list.append(torch.mean(rep_teacher[low_valid_pixel_seg.bool()].detach(), dim=0,
                                         keepdim=True))
        class_mask_u = torch.sum(prob_indices_u[:, :, :, low_rank:high_rank].eq(i), dim=3).bool()
        class_mask_l = torch.sum(prob_indices_l[:, :, :, :low_rank].eq(i), dim=3).bool()
        class_mask = torch.cat((class_mask_l * (label_l[:, i] == 0), class_mask_u), dim=0)
        negative_mask = rep_mask_high_entropy * class_mask
        keys = rep_teacher[negative_mask].detach()
        dequeue_and_enqueue(keys, memobank[i], queue_size[i])
        if low_valid_pixel_seg.sum() > 0:
            seg_num_list.append(int(low_valid_pixel_seg.sum().item()))
            valid_classes.append(i)
    assert len(seg_num_list) > 1
    reco_loss = torch.tensor(0.0, dtype=torch.float64)
    seg_proto = torch.cat(seg_proto_list)
    valid_seg = len(seg_num_list)
    used = 0
    for i in range(valid_seg):
        c = i if quirks else valid_classes[i]
        if len(seg_feat_low_entropy_list[c]) > 0 and memobank[valid_classes[i]][0].shape[0] > 0:
            seg_low_entropy_idx = torch.tensor([below(sample, len(seg_feat_low_entropy_list[c]))
                                                for _ in range(num_queries)])
            anchor_feat = seg_feat_low_entropy_list[c][seg_low_entropy_idx].clone()
        else:
            continue
        with torch.no_grad():
            negative_feat = memobank[valid_classes[i]][0].clone().double()
            high_entropy_idx = torch.tensor([below(sample, len(negative_feat))
                                             for _ in range(num_queries * num_negatives)])
            negative_feat = negative_feat[high_entropy_idx]
            negative_feat = negative_feat.reshape(num_queries, num_negatives, num_feat)
            # the prototype as semiseg keeps it: float32
            positive_feat = seg_proto[c].float().double().unsqueeze(0).unsqueeze(0).repeat(num_queries, 1, 1)
            all_feat = torch.cat((positive_feat, negative_feat), dim=1)
        seg_logits = torch.cosine_similarity(anchor_feat.unsqueeze(1), all_feat, dim=2)
        reco_loss = reco_loss + F.cross_entropy(seg_logits / TEMP, torch.zeros(num_queries).long())
        used += 1
    assert used > 0, "no class reached the loss: change the seeds"
    return reco_loss / valid_seg


def sgd_step(params, mult):
    with torch.no_grad():
        for name, p in params:
            lr = LR * (1.0 if name.startswith("backbone.") else mult)
            p -= lr * (p.grad + WD * p)


def store(prefix, m, h, teacher=False, params=True):
    kind_p, kind_b = ("teacher", "teacher") if teacher else ("param", "buf")
    for net, pre in ((m, ""), (h, "rep.")):
        for name, p in net.named_parameters() if params else ():
            fx.add(f"{prefix}.{kind_p}.{pre}{name}", p.detach().float())
        for name, b in net.named_buffers():
            if not name.endswith("num_batches_tracked"):
                fx.add(f"{prefix}.{kind_b}.{pre}{name}", b.float())


def teacher_params(teacher, rt, student, rs):
    return zip((*teacher.parameters(), *rt.parameters()), (*student.parameters(), *rs.parameters()))


def update_teacher(teacher, rt, student, rs, sup_only_epoch):
    """train_semi.py after optimizer.step(): the EMA of the parameters only."""
    if EPOCH >= sup_only_epoch:
        with torch.no_grad():
            # decay rounded to float32 as semiseg computes it
            ema_decay = philox.f32(min(1 - 1 / (IT - IPE * sup_only_epoch + 1), EMA_DECAY))
            for t_params, s_params in teacher_params(teacher, rt, student, rs):
                t_params.data = ema_decay * t_params.data + (1 - ema_decay) * s_params.data


# ---- one supervised-only iteration of train_semi.py (epoch < sup_only_epoch) ------------------
def sup_step():
    student, rs = make(SEED_S, SEED_RS)
    teacher, rt = make(SEED_T, SEED_RT)
    before = [t.detach().clone() for t, _ in teacher_params(teacher, rt, student, rs)]
    assert EPOCH < SUP_ONLY_EPOCH["sup"]
    # outs = model(image_l): the head runs on the labeled batch alone
    student.train()
    rs.train()
    pred, _, cat_s = fwd(student, x)
    rep = head_fwd(rs, cat_s, (dropout_masks(NL, REP, 2), dropout_masks(NL, REP, 3)))
    sup_loss = F.cross_entropy(pred, y, ignore_index=255)
    # model_teacher.train(); _ = model_teacher(image_l): its BN statistics move
    teacher.train()
    rt.train()
    head_fwd(rt, fwd(teacher, x)[2], (dropout_masks(NL, REP, 4), dropout_masks(NL, REP, 5)))
    unsup_loss = 0 * rep.sum()
    contra_loss = 0 * rep.sum()
    loss = sup_loss + unsup_loss + contra_loss
    loss.backward()
    # the head's gradient is 0, not None: weight decay still moves it
    sgd_step(student.named_parameters(), HEAD_MULT)
    sgd_step(rs.named_parameters(), HEAD_MULT)
    update_teacher(teacher, rt, student, rs, SUP_ONLY_EPOCH["sup"])
    assert all(torch.equal(t, b) for (t, _), b in zip(teacher_params(teacher, rt, student, rs), before))
    fx.add("sup.terms", torch.tensor([loss.item(), sup_loss.item(), unsup_loss.item(), contra_loss.item()],
                                     dtype=torch.float64))
    store("sup", student, rs)
    store("sup", teacher, rt, teacher=True, params=False)


# ---- one iteration of train_semi.py (epoch >= sup_only_epoch) -------------------------------
def step(mode):
    quirks = mode == "code"
    student, rs = make(*STUDENT_SEEDS[mode])
    teacher, rt = make(*TEACHER_SEEDS[mode])
    if EPOCH == SUP_ONLY_EPOCH[mode]:
        # copy student parameters to teacher (shared from here on in this epoch)
        with torch.no_grad():
            for t_params, s_params in teacher_params(teacher, rt, student, rs):
                t_params.data = s_params.data
    memobank = [[q.clone()] for q in queue0]
    mix = philox.Rng(RUN_SEED, stream(0))
    sample = philox.Rng(RUN_SEED, stream(1))
    h, w = S, S

    # generate pseudo labels first
    teacher.eval()
    with torch.no_grad():
        pred_u_teacher = fwd(teacher, uw)[0]
        pred_u_teacher = F.softmax(pred_u_teacher, dim=1)
        logits_u_aug, label_u_aug = torch.max(pred_u_teacher, dim=1)
        top2 = pred_u_teacher.topk(2, dim=1).values
        assert (top2[:, 0] - top2[:, 1]).min() > TIE, "near tie in a pseudo-label: change the seeds"
    # CutMix (generate_unsup_data, mode="cutmix"); the p = 0.5 draw applies it (IT was chosen so)
    assert mix.uniform() < 0.5
    new_data, new_target = [], []
    for i in range(NU):
        y0, x0, bh, bw = u2pl_box(mix, h, w)
        mix_mask = torch.ones(h, w, dtype=torch.float64)
        mix_mask[y0:y0 + bh, x0:x0 + bw] = 0
        new_data.append((uw[i] * mix_mask + uw[(i + 1) % NU] * (1 - mix_mask)).unsqueeze(0))
        new_target.append((label_u_aug[i] * mix_mask + label_u_aug[(i + 1) % NU] * (1 - mix_mask)).unsqueeze(0))
    image_u_aug, label_u_aug = torch.cat(new_data), torch.cat(new_target).long()

    # forward
    student.train()
    rs.train()
    image_all = torch.cat((x, image_u_aug))
    pred_all_large, pred_all, cat_s = fwd(student, image_all)
    rep_all = head_fwd(rs, cat_s, (dropout_masks(NL + NU, REP, 2), dropout_masks(NL + NU, REP, 3)))
    pred_l_large, pred_u_large = pred_all_large[:NL], pred_all_large[NL:]
    sup_loss = F.cross_entropy(pred_l_large, y, ignore_index=255)

    # teacher forward
    teacher.train()
    rt.train()
    with torch.no_grad():
        t_large, pred_all_teacher, cat_t = fwd(teacher, image_all)
        rep_all_teacher = head_fwd(rt, cat_t, (dropout_masks(NL + NU, REP, 4), dropout_masks(NL + NU, REP, 5)))
        prob_all_teacher = F.softmax(pred_all_teacher, dim=1)
        prob_l_teacher, prob_u_teacher = prob_all_teacher[:NL], prob_all_teacher[NL:]
        pred_u_large_teacher = t_large[NL:]

    # unsupervised loss
    percent_unreliable = (100 - DROP) * (1 - EPOCH / EPOCHS)
    drop_percent = 100 - percent_unreliable
    unsup_loss, ratio = compute_unsupervised_loss(pred_u_large, label_u_aug.clone(), drop_percent,
                                                  pred_u_large_teacher.detach(), mode)

    # contrastive loss using unreliable pseudo labels
    alpha_t = ALPHA0 * (1 - EPOCH / EPOCHS)
    with torch.no_grad():
        prob = torch.softmax(pred_u_large_teacher, dim=1)
        entropy = -torch.sum(prob * torch.log(prob + 1e-10), dim=1)
        low_thresh = np.percentile(entropy[label_u_aug != 255].cpu().numpy().flatten(), alpha_t)
        check_split(entropy, low_thresh, "low entropy threshold")
        low_entropy_mask = entropy.le(low_thresh).float() * (label_u_aug != 255).bool()
        high_thresh = np.percentile(entropy[label_u_aug != 255].cpu().numpy().flatten(), 100 - alpha_t)
        check_split(entropy, high_thresh, "high entropy threshold")
        high_entropy_mask = entropy.ge(high_thresh).float() * (label_u_aug != 255).bool()
        low_mask_all = torch.cat(((y.unsqueeze(1) != 255).float(), low_entropy_mask.unsqueeze(1)))
        low_mask_all = F.interpolate(low_mask_all, size=pred_all.shape[2:], mode="nearest")
        high_mask_all = torch.cat(((y.unsqueeze(1) != 255).float(), high_entropy_mask.unsqueeze(1)))
        high_mask_all = F.interpolate(high_mask_all, size=pred_all.shape[2:], mode="nearest")
        label_l_small = F.interpolate(label_onehot(y, K, quirks), size=pred_all.shape[2:], mode="nearest")
        label_u_small = F.interpolate(label_onehot(label_u_aug, K, quirks), size=pred_all.shape[2:],
                                      mode="nearest")
    contra_loss = compute_contra_memobank_loss(
        rep_all, label_l_small.long(), label_u_small.long(), prob_l_teacher.detach(),
        prob_u_teacher.detach(), low_mask_all, high_mask_all, memobank, CAP,
        rep_all_teacher.detach(), sample, quirks)

    # dist.all_reduce(contra_loss): WORLD processes each holding this L_c; the
    # sum is written in place, unseen by autograd (exact: WORLD is a power of two)
    world_size = WORLD[mode]
    contra_loss.data.mul_(world_size)
    contra_loss = contra_loss / world_size * 1   # contrastive.get("loss_weight", 1)

    loss = sup_loss + unsup_loss + contra_loss
    loss.backward()
    sgd_step(student.named_parameters(), HEAD_MULT)
    sgd_step(rs.named_parameters(), HEAD_MULT)   # the head is in U2PL's decoder: the x10 group
    update_teacher(teacher, rt, student, rs, SUP_ONLY_EPOCH[mode])
    fx.add(f"{mode}.terms", torch.tensor([loss.item(), sup_loss.item(), unsup_loss.item(), contra_loss.item(),
                                          ratio], dtype=torch.float64))
    store(mode, student, rs)
    store(mode, teacher, rt, teacher=True)
    fx.add(f"{mode}.queue.sizes", torch.tensor([q[0].shape[0] for q in memobank], dtype=torch.int32))
    fx.add(f"{mode}.queue.rows", torch.cat([q[0] for q in memobank]).float())


step("code")
step("paper")
sup_step()
fx.write(os.path.join(HERE, "..", "data", "u2pl.bin"))
