"""PyTorch reference for one AllSpark training iteration (tests/test_allspark.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_allspark.py
Writes tests/data/allspark.bin and tests/data/allspark_tiny.safetensors (the
network's state_dict under semiseg's names: backbone.*, decode_head.* for
the released decoder.decoder.*, allspark.* for decoder.allspark.*; the
memory pointers as float32, as semiseg keeps them), which the C test loads
strictly by name; then, for the second network (main_deeplab: the suite's
DeepLabV3+ with the module between c4 and the ASPP, as
wangshanwen001/Awesome-semi-supervised-semantic-segmentation-code@8d62173:
nets/deeplabv3_plus_allspark.py inserts it), tests/data/allspark_deeplab.bin
and allspark_deeplab_tiny.safetensors (the DeepLabV3+'s names, allspark.*).

The step restates xmed-lab/AllSpark@9da63e2:train_allspark.py (the body of
the training loop) on the network of model/model_helper.py (ModelBuilder:
model/backbone/mit.py, then model/semseg/allspark.py SemiDecoder: AllSpark
on c4, SegFormerHead, logits resized to the input):
  1. model.eval(), no grad: pred_u_pseudo = model(img_u); pseudo_label =
     its argmax over classes (the module's eval path, BN running statistics);
  2. model.train(): preds = model(cat(img_x, img_u)) with pred_u_pseudo as
     the grouping map (set_pseudo_prob_map), the memory filled before it is
     read, keys/values from the memory when using_SMem;
  3. loss = (CE(pred_x, mask_x) + CE(pred_u, pseudo_label)) / 2, ignore 255,
     means over every pixel the labels keep (the pseudo-labels cover the
     unlabeled crops' padding: the released loader returns no padding mask);
  4. backward and SGD: group 0 the backbone at LR, group 1 everything else
     at LR * LR_MULTI, momentum 0.9, weight decay 1e-4 (the first step).
The network's parts are the references the other tests already check: the
tiny MiT and SegFormer head of tests/ref/gen_mit.py (embed dims 8/12/16/20,
heads 1/2/2/4, depths 1/2/1/1, sr 8/4/2/1, mlp ratio 2, drop_path_rate 0.3,
E = 16, K = 5, Dropout2d 0.1) and the AllSpark module of
tests/ref/gen_allspark_module.py (here C = 20 = c4's channels in and out,
2 heads, dropout 0.1). Everything runs in float64 on float32 weights and
inputs; the dropouts use the masks semiseg draws (tests/ref/philox.py), all
with gen_mit's SEED and the call key `a`: Dropout2d stream 0, drop-path of
block j stream 1 + j, the module's four dropouts streams 1 + blocks + 0..3.

Sizes: B = 2 labeled + 2 unlabeled crops of 66 x 66 (stages 17, 9, 5, 3:
c4 is 3 x 3, N = 9 tokens, the released patch_num (66 // 32 + 1)^2; a crop
divisible by 32 would not match it). The unlabeled crops carry padding
(zeros, 255 in "ign"), which loss_u counts as released.
Cases, from the same weights, images and BN statistics:
- batch: keys/values from the unlabeled half; pointers PTR0 near the ring
  ends so that class rings wrap around during the enqueue;
- memory: using_SMem, keys/values from the memory: batch's memory and
  pointers after its step, another call key.
Records: the inputs; eval.logits and eval.pseudo (the eval pass, shared);
per case (prefix batch. / memory.): a, use_memory, mem0 and ptr0 before,
terms (loss, loss_x, loss_u), grad.<name>, param.<name> after the SGD step,
buf.<name> (BN running statistics, kv_queue, queue_ptr) after the step;
memory leaves out the backbone's grad and param records (main says why).
Weights are gen_mit.randomize's, then the head's BN statistics and
linear_pred's bias are calibrated so that the eval pass labels several
classes (calibrate). The generator checks the margins the C side must
reproduce: every pseudo-label's top-two logit gap and every channel's
top-two grouping cosine gap are at least MARGIN, and that the enqueue wraps
two rings (deterministic search over the image seed).
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture import Fixture  # noqa: E402
import deeplabv3plus as dl  # noqa: E402
import gen_allspark_module as asm  # noqa: E402
import gen_mit as mit  # noqa: E402
import segformer  # noqa: E402

S = 66
B = 2
AS_HEADS = 2
AS_DROP = 0.1
LR = 0.01
LR_MULTI = 10.0
WD = 1e-4
MOMENTUM = 0.9
C4 = mit.EMBED[3]
K = mit.K
SIDE = S // 32 + 1            # SemiDecoder: patch_num = (image_size // 32 + 1) ** 2
N = SIDE * SIDE
BLOCKS = sum(mit.DEPTHS)
PTR0 = [16, 12, 19, 18, 17]
# Far above the float32 error of the C side's logits and cosines (~1e-5 of
# the logits' magnitude), so the argmaxes cannot flip.
MARGIN = 1e-3


class CrossAttnMem(nn.Module):
    """The parameters and buffers of allspark.py's CrossAttnMem (c channels,
    n tokens)."""

    def __init__(self, c=C4, n=N):
        super().__init__()
        for name in ("q_u", "k_u", "v_u", "q_l2u", "k_l2u", "v_l2u"):
            setattr(self, name, nn.Linear(c, c * AS_HEADS, bias=False))
        self.out_u = nn.Linear(c * AS_HEADS, c, bias=False)
        self.out_l2u = nn.Linear(c * AS_HEADS, c, bias=False)
        self.register_buffer("queue_ptr", torch.zeros(K))
        self.register_buffer("kv_queue", torch.zeros(K, c, n))


class AllSpark(nn.Module):
    """allspark.py's AllSpark (channel_num = embedding_channels =
    channel_num_out = c4's channels c, n tokens) by its parameter names; its
    forward is gen_allspark_module.forward."""

    def __init__(self, c=C4, n=N):
        super().__init__()
        self.map_in = nn.Sequential(nn.Conv2d(c, c, kernel_size=1), nn.GELU())
        self.attn_norm = nn.LayerNorm(c, eps=1e-6)
        self.attn = CrossAttnMem(c, n)
        self.encoder_norm = nn.LayerNorm(c, eps=1e-6)
        self.map_out = nn.Sequential(nn.Conv2d(c, c, kernel_size=1), nn.GELU())


class Net(nn.Module):
    """ModelBuilder(MiT, SemiDecoder): c4 <- AllSpark(c4), SegFormerHead,
    logits resized to the input (bilinear, align_corners=False)."""

    def __init__(self):
        super().__init__()
        self.backbone = segformer.MiT(mit.EMBED, mit.HEADS, mit.DEPTHS, mit.SR, mit.MLP, mit.DPR)
        self.decode_head = segformer.Head(mit.EMBED, mit.E, mit.K, mit.HEAD_DROP)
        self.allspark = AllSpark()

    def forward(self, x, masks=None, drops=None, prob_map=None, using_smem=False, ptr=None, record=None):
        feats = self.backbone(x, masks)
        P = dict(self.allspark.named_parameters())
        feats[3] = asm.forward(P, feats[3], self.training, prob_map, using_smem, self.allspark.attn.kv_queue, ptr,
                               drops, record)
        out, _ = self.decode_head(*feats, masks)
        return F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False)


def top2_gap(t, dim):
    v = t.topk(2, dim=dim).values
    return (v.select(dim, 0) - v.select(dim, 1)).min().item()


def inputs(seed):
    """The crops: labeled strong views, masks (a 255 patch), unlabeled crops
    whose right (image 0) and bottom (image 1) strips are padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 3, S, S, generator=g)
    mask = torch.randint(0, K, (B, S, S), generator=g)
    mask[0, 3:11, 40:60] = 255
    u = torch.randn(B, 3, S, S, generator=g)
    ign = torch.zeros(B, S, S, dtype=torch.int32)
    u[0, :, :, 54:] = 0
    ign[0, :, 54:] = 255
    u[1, :, 47:, :] = 0
    ign[1, 47:, :] = 255
    return x, mask, u, ign


def calibrate(model):
    """The head's BN running statistics near the fused feature's own and
    linear_pred's bias centring each class's logits, both on a random batch
    and perturbed, so that the eval pass labels several classes (with
    gen_mit's random statistics and ReLU features one or two classes win
    everywhere)."""
    g = torch.Generator().manual_seed(12345)
    calib = torch.randn(B, 3, S, S, generator=g)
    seen = {}
    hook = model.decode_head.linear_fuse.conv.register_forward_hook(lambda m, i, o: seen.setdefault("f", o))
    model.eval()
    with torch.no_grad():
        model(calib)
        hook.remove()
        f = seen["f"]
        bn = model.decode_head.linear_fuse.bn
        mean, var = f.mean((0, 2, 3)), f.var((0, 2, 3))
        bn.running_mean.copy_(mean + 0.3 * var.sqrt() * torch.randn(mean.shape, generator=g))
        bn.running_var.copy_(var * (0.5 + torch.rand(var.shape, generator=g)))
        centre = model(calib).mean((0, 2, 3))
        model.decode_head.linear_pred.bias.sub_(centre + 0.2 * torch.randn(K, generator=g))


def pseudo_pass(model, u):
    """Step 1: the eval-mode prediction and its argmax."""
    model.eval()
    with torch.no_grad():
        pred = model(u.double())
    return pred, pred.argmax(dim=1)


def train_step(model, state, x, mask, u, pred_u, pseudo, a, using_smem, mem0, ptr0, first=BLOCKS):
    """Steps 2-4 from `state` with the memory (mem0, ptr0): the terms, the
    gradients, the state after the step, the pointers after the enqueue and
    the smallest grouping margin. The module's dropouts draw from streams
    first + 1..4 (after the MiT's drop-path streams; 0 on the DeepLabV3+)."""
    model.load_state_dict(state)
    model.allspark.attn.kv_queue.copy_(mem0)
    model.train()
    masks = mit.DropMask(a)
    masks.dropped = 0
    drops = asm.Dropouts(AS_DROP, mit.SEED, a, first)
    ptr = list(ptr0)
    record = {}
    preds = model(torch.cat((x, u)).double(), masks, drops, pred_u, using_smem, ptr, record)
    pred_x, pred_u_s = preds.split([B, B])
    loss_x = F.cross_entropy(pred_x, mask, ignore_index=255)
    loss_u = F.cross_entropy(pred_u_s, pseudo, ignore_index=255)
    loss = (loss_x + loss_u) / 2.0
    opt = torch.optim.SGD([{"params": model.backbone.parameters(), "lr": LR},
                           {"params": [p for n, p in model.named_parameters() if "backbone" not in n],
                            "lr": LR * LR_MULTI}], lr=LR, momentum=MOMENTUM, weight_decay=WD)
    opt.zero_grad()
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    model.allspark.attn.queue_ptr.copy_(torch.tensor(ptr, dtype=torch.float64))
    after = {k: v.detach().clone() for k, v in model.state_dict().items()}
    terms = torch.tensor([loss.item(), loss_x.item(), loss_u.item()], dtype=torch.float64)
    return terms, grads, after, ptr, top2_gap(record["sim"], 1)


def search(model, state, make_inputs, a, mem0, ptr0, first=BLOCKS):
    """The image seed: the first whose pseudo-labels and channel groupings
    (both cases) have MARGIN everywhere and whose enqueue wraps two rings.
    Returns it, its inputs, the eval pass, the batch case, the memory after
    it (float32, as the C side holds it) and the memory case."""
    seed = 0
    while True:
        ins = make_inputs(seed)
        x, mask, u = ins[:3]
        model.load_state_dict(state)
        pred_u, pseudo = pseudo_pass(model, u)
        if top2_gap(pred_u, 1) >= MARGIN:
            batch = train_step(model, state, x, mask, u, pred_u, pseudo, a, False, mem0, ptr0, first)
            mem1 = batch[2]["allspark.attn.kv_queue"].float().double()
            memory = train_step(model, state, x, mask, u, pred_u, pseudo, a + 1, True, mem1, batch[3], first)
            if min(batch[4], memory[4]) >= MARGIN and len(wraps(ptr0, batch[3])) >= 2:
                return seed, ins, pred_u, pseudo, batch, mem1, memory
        seed += 1


def wraps(ptr0, ptr1):
    """Classes whose ring wrapped around (their pointer moved backwards)."""
    return [k for k in range(K) if ptr1[k] < ptr0[k]]


def keep_all(kind, name):
    return True


def keep_head(kind, name):
    """Everything but the backbone."""
    return not name.startswith("backbone.")


def add_case(fx, name, a, using_smem, mem0, ptr0, terms, grads, after, keep):
    """A case's records; `after` holds parameters (those with gradients) and
    buffers; keep(kind, name) says which gradients ("grad"), parameters
    after the step ("param") and buffers after it ("buf") are recorded."""
    fx.add(f"{name}.a", torch.tensor([a], dtype=torch.float64))
    fx.add(f"{name}.use_memory", torch.tensor([1.0 if using_smem else 0.0], dtype=torch.float64))
    fx.add(f"{name}.mem0", mem0.float())
    fx.add(f"{name}.ptr0", torch.tensor(ptr0, dtype=torch.float32))
    fx.add(f"{name}.terms", terms)
    for n, g in grads.items():
        if keep("grad", n):
            fx.add(f"{name}.grad.{n}", g.float())
    for n, v in after.items():
        kind = "param" if n in grads else "buf"
        if not n.endswith("num_batches_tracked") and keep(kind, n):
            fx.add(f"{name}.{kind}.{n}", v.float())


def main():
    torch.manual_seed(0)
    model = Net()
    mit.randomize(model)
    calibrate(model)
    with torch.no_grad():
        model.allspark.attn.kv_queue.copy_(torch.randn(K, C4, N))
        model.allspark.attn.queue_ptr.copy_(torch.tensor(PTR0, dtype=torch.float32))
    state32 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.double()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mem0 = state["allspark.attn.kv_queue"].clone()

    # The call key: the first whose drop-path drops a sample of the batch
    # (the masks depend on the batch size only); the memory case uses a + 1.
    a = 0
    while True:
        masks = mit.DropMask(a)
        masks.dropped = 0
        with torch.no_grad():
            model.backbone(torch.zeros(2 * B, 3, S, S, dtype=torch.float64), masks)
        if masks.dropped > 0:
            break
        a += 1
    seed, (x, mask, u, ign), pred_u, pseudo, batch, mem1, memory = search(model, state, inputs, a, mem0, PTR0)
    ptr1 = batch[3]

    fx = Fixture()
    for k, v in (("embed", mit.EMBED), ("heads", mit.HEADS), ("depths", mit.DEPTHS), ("sr", mit.SR)):
        fx.add(f"cfg.{k}", torch.tensor(v, dtype=torch.float64))
    fx.add("cfg.misc", torch.tensor([mit.MLP, mit.DPR, mit.E, K, mit.HEAD_DROP, mit.SEED], dtype=torch.float64))
    fx.add("cfg.allspark", torch.tensor([AS_HEADS, AS_DROP, N], dtype=torch.float64))
    fx.add("cfg.step", torch.tensor([LR, LR_MULTI, WD], dtype=torch.float64))
    fx.add("x", x)
    fx.add("mask", mask.to(torch.int32))
    fx.add("u", u)
    fx.add("ign", ign)
    fx.add("eval.logits", pred_u.float())
    fx.add("eval.pseudo", pseudo.to(torch.int32))

    add_case(fx, "batch", a, False, mem0, PTR0, *batch[:3], keep_all)
    # The memory changes the computation from the module on: the backbone's
    # gradients flow through the same code as in batch, so they and the
    # backbone after the step are left out here to keep the fixture small.
    add_case(fx, "memory", a + 1, True, mem1, ptr1, *memory[:3], keep_head)

    data = os.path.join(HERE, "..", "data")
    fx.write(os.path.join(data, "allspark.bin"))
    mit.write_safetensors(os.path.join(data, "allspark_tiny.safetensors"),
                          {k: v for k, v in state32.items() if not k.endswith("num_batches_tracked")})
    print(f"image seed {seed}, a {a}, pseudo-label margin {top2_gap(pred_u, 1):.3g}, grouping margins "
          f"{batch[4]:.3g} {memory[4]:.3g}, pointers {PTR0} -> {ptr1}, pseudo-labels per class "
          f"{torch.bincount(pseudo.flatten(), minlength=K).tolist()}, terms {batch[0].tolist()} / "
          f"{memory[0].tolist()}")


# ---- the second network: the DeepLabV3+ with the module between c4 and the ASPP --------
# The suite's DeepLabV3+ (tests/ref/deeplabv3plus.py: UniMatch's names) with
# AllSpark inserted where wangshanwen001/Awesome-semi-supervised-semantic-
# segmentation-code@8d62173:nets/deeplabv3_plus_allspark.py inserts it, on
# the backbone's last feature before the ASPP (src/core/allspark_deeplab.c).
# Tiny: ResNet-18 of widths 4/4/8/8 (torchvision stem, OS 8, as the demo's),
# ASPP 8 at rates 1/2/3, reduce 4, decoder 8, K = 5; the module on c4 (C =
# 8 in and out, 2 heads, dropout 0.1). Crops of 25 x 25: c1 7 x 7, c4 4 x 4
# (N = 16 tokens; the C side takes N from sg_resnet_cost).
DL_ARCH = dict(depth=18, widths=[2, 4, 4, 8], deep=False, os_=8, mg=False, aspp=4, rates=[1, 2, 3], reduce=2,
               dec=4)
DL_S = 17
DL_C4 = DL_ARCH["widths"][3]
DL_N = 9
DL_PTR0 = [6, 5, 7, 6, 7]


class DeepLabNet(dl.DeepLab):
    """c1..c4 = ResNet(x), c4 <- AllSpark(c4) (gen_allspark_module.forward),
    logits = DeepLab.decode(c1, c4) at the input size. The module's mode
    follows the network's unless module_training says otherwise (the
    calibration); `masks` is the SegFormer's drop-path, which this network
    has none of."""

    def __init__(self):
        a = DL_ARCH
        super().__init__(a["depth"], a["widths"], a["deep"], a["os_"], a["mg"], a["aspp"], a["rates"],
                         a["reduce"], a["dec"], K)
        self.allspark = AllSpark(DL_C4, DL_N)

    def forward(self, x, masks=None, drops=None, prob_map=None, using_smem=False, ptr=None, record=None,
                module_training=None):
        feats = self.backbone(x)
        tr = self.training if module_training is None else module_training
        P = dict(self.allspark.named_parameters())
        c4 = asm.forward(P, feats[3], tr, prob_map, using_smem, self.allspark.attn.kv_queue, ptr, drops, record)
        return self.decode(feats[0], c4, x.shape[2:])[0]


def dl_images(g):
    """Noise images with a contrast per image and a mean per image and
    channel (gen_model.py's sample_images: the ASPP's image-pooling BN in
    train mode sees one value per image, which i.i.d. noise makes nearly
    equal, an ill-conditioned normalisation)."""
    scale = 0.5 + torch.rand(2 * B, 1, 1, 1, generator=g)
    return torch.randn(2 * B, 3, DL_S, DL_S, generator=g) * scale + torch.randn(2 * B, 3, 1, 1, generator=g)


def dl_inputs(seed):
    """x, mask (a 255 patch) and u (zeroed right and bottom strips, the
    padding; no padding mask: the C test leaves ignore_padding off)."""
    g = torch.Generator().manual_seed(seed)
    x, u = dl_images(g).split([B, B])
    mask = torch.randint(0, K, (B, DL_S, DL_S), generator=g)
    mask[0, 2:6, 8:14] = 255
    u = u.clone()
    u[0, :, :, 13:] = 0
    u[1, :, 12:, :] = 0
    return x, mask, u


def dl_randomize(model):
    """gen_mit.randomize's draws by module type: norm affine parameters
    away from 1 / 0, biases nonzero, weights N(0, (1.5 / sqrt(fan_in))^2)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
                m.weight.copy_(1.0 + 0.3 * torch.randn_like(m.weight))
                m.bias.copy_(0.2 * torch.randn_like(m.bias))
            elif isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn_like(m.weight) * (1.5 / m.weight[0].numel() ** 0.5))
                if m.bias is not None:
                    m.bias.copy_(0.1 * torch.randn_like(m.bias))


def dl_calibrate(model):
    """Every BN's running statistics those of a train-mode pass over a
    random batch (the module on its eval path), perturbed, then the
    classifier's bias centring each class's logits, so that the eval pass
    labels several classes."""
    g = torch.Generator().manual_seed(54321)
    calib = dl_images(g)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None   # cumulative average: one batch gives its own statistics
    model.train()
    with torch.no_grad():
        model(calib, module_training=False)
        for bn in bns:
            bn.momentum = 0.1
            bn.running_mean.add_(0.3 * bn.running_var.sqrt() * torch.randn(bn.num_features, generator=g))
            bn.running_var.mul_(0.5 + torch.rand(bn.num_features, generator=g))
        model.eval()
        centre = model(calib).mean((0, 2, 3))
        model.classifier.bias.sub_(centre + 0.2 * torch.randn(K, generator=g))


def main_deeplab():
    """tests/data/allspark_deeplab.bin and allspark_deeplab_tiny.safetensors:
    main's records for the second network (no "ign": ignore_padding stays
    off), with cfg.deeplab [depth, widths 1..4, stem (0 torchvision), OS,
    multi_grid, ASPP channels, rates 1..3, reduce, decoder, K], cfg.allspark
    [heads, dropout, N], cfg.seed (the dropouts' seed) and cfg.step. The
    module's dropouts are streams 1..4 of the call key (no drop-path). Fewer
    parameter records than main's, to keep the fixture small (add_case's
    filters below)."""
    torch.manual_seed(1)
    model = DeepLabNet()
    dl_randomize(model)
    dl_calibrate(model)
    with torch.no_grad():
        model.allspark.attn.kv_queue.copy_(torch.randn(K, DL_C4, DL_N))
        model.allspark.attn.queue_ptr.copy_(torch.tensor(DL_PTR0, dtype=torch.float32))
    state32 = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.double()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    mem0 = state["allspark.attn.kv_queue"].clone()
    a = 0
    seed, (x, mask, u), pred_u, pseudo, batch, mem1, memory = search(model, state, dl_inputs, a, mem0, DL_PTR0, 0)
    ptr1 = batch[3]

    fx = Fixture()
    d = DL_ARCH
    fx.add("cfg.deeplab", torch.tensor([d["depth"], *d["widths"], int(d["deep"]), d["os_"], int(d["mg"]), d["aspp"],
                                        *d["rates"], d["reduce"], d["dec"], K], dtype=torch.float64))
    fx.add("cfg.allspark", torch.tensor([AS_HEADS, AS_DROP, DL_N], dtype=torch.float64))
    fx.add("cfg.seed", torch.tensor([mit.SEED], dtype=torch.float64))
    fx.add("cfg.step", torch.tensor([LR, LR_MULTI, WD], dtype=torch.float64))
    fx.add("x", x)
    fx.add("mask", mask.to(torch.int32))
    fx.add("u", u)
    fx.add("eval.logits", pred_u.float())
    fx.add("eval.pseudo", pseudo.to(torch.int32))
    # Every gradient and buffer; parameters after the step of the module
    # (the group the DeepLabV3+ gives it: the head's); the other groups'
    # steps are the SegFormer case's and the DeepLabV3+ trainers' checks.
    add_case(fx, "batch", a, False, mem0, DL_PTR0, *batch[:3],
             lambda kind, n: kind != "param" or n.startswith("allspark."))
    # The memory changes the computation from the module's labeled branch
    # on: the module's gradients and parameters, and every buffer.
    add_case(fx, "memory", a + 1, True, mem1, ptr1, *memory[:3],
             lambda kind, n: kind == "buf" or n.startswith("allspark."))

    data = os.path.join(HERE, "..", "data")
    fx.write(os.path.join(data, "allspark_deeplab.bin"))
    mit.write_safetensors(os.path.join(data, "allspark_deeplab_tiny.safetensors"),
                          {k: v for k, v in state32.items() if not k.endswith("num_batches_tracked")})
    print(f"deeplab: image seed {seed}, pseudo-label margin {top2_gap(pred_u, 1):.3g}, grouping margins "
          f"{batch[4]:.3g} {memory[4]:.3g}, pointers {DL_PTR0} -> {ptr1}, pseudo-labels per class "
          f"{torch.bincount(pseudo.flatten(), minlength=K).tolist()}, terms {batch[0].tolist()} / "
          f"{memory[0].tolist()}")


if __name__ == "__main__":
    main()
    main_deeplab()
