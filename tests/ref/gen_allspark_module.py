"""PyTorch reference for the AllSpark module (tests/test_allspark_module.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_allspark_module.py
Writes tests/data/allspark_module.bin.

The module restates xmed-lab/AllSpark@9da63e2:model/semseg/allspark.py
(AllSpark.forward, CrossAttnMem.forward, _dequeue_and_enqueue, multi_head_rep)
in its token layout (B, N, C), with einops' rearrange/repeat written as
reshape/expand, in float64 on float32 weights and inputs. The four dropouts
use the masks semiseg draws: sg_dropout over its own channels-first tensors,
element i from draw i of stream (SG_RNG_DROPOUT, 7, 1..4), rebuilt with
tests/ref/philox.py and transposed to the token layout where the layouts
differ (the projections' outputs).

Tiny sizes: B = 2 labeled + 2 unlabeled images, Cin = 6, C = 8 channels,
H = 2 heads, K = 3 classes, a 3 x 3 feature (N = 9), group logits 12 x 12.
Cases, each with the memory and pointers before and after, the output, an
upstream gradient and every gradient (input and parameters):
- train_batch: training, keys/values from the unlabeled half, pointers
  (0, 5, 7) so that the enqueue wraps around;
- train_memory: training after warm-up, keys/values from the memory (the
  memory state left by train_batch), the same weights;
- eval: the duplicated-input path, no grouping, memory untouched;
- train_groups, eval_groups: pool_size 2 on 4 + 4 (4) images, as the
  released DDP run sees them: each pair of images through the module alone
  (forward_groups), the dropout masks the slices of semiseg's whole-batch
  masks (GroupDrops).
tests/ref/gen_allspark.py imports forward, enqueue and Dropouts for the
whole network's reference.
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402

B, CIN, C, H, K, HW, GL = 2, 6, 8, 2, 3, 3, 12
BG, POOL = 4, 2   # the pool_size cases: 4 + 4 images in groups of 2
N = HW * HW
P_DROP = 0.1
SEED = 0xA11595A2
STREAM_A = 7


def make_params():
    """The module's weights: random, not the released init."""
    torch.manual_seed(0)
    params = {
        "map_in.0.weight": torch.randn(C, CIN, 1, 1) * 0.5,
        "map_in.0.bias": torch.randn(C) * 0.1,
        "attn_norm.weight": 1 + 0.3 * torch.randn(C),
        "attn_norm.bias": 0.2 * torch.randn(C),
    }
    for n in ("q_u", "k_u", "v_u", "q_l2u", "k_l2u", "v_l2u"):
        params[f"attn.{n}.weight"] = torch.randn(H * C, C) * 0.4
    params["attn.out_u.weight"] = torch.randn(C, H * C) * 0.3
    params["attn.out_l2u.weight"] = torch.randn(C, H * C) * 0.3
    params["encoder_norm.weight"] = 1 + 0.3 * torch.randn(C)
    params["encoder_norm.bias"] = 0.2 * torch.randn(C)
    params["map_out.0.weight"] = torch.randn(C, C, 1, 1) * 0.4
    params["map_out.0.bias"] = torch.randn(C) * 0.1
    return params


class Dropouts:
    """The module's four dropouts with the masks semiseg draws: sg_dropout of
    rate p over its own channels-first tensors, element i from draw i of
    stream (SG_RNG_DROPOUT, a, first + which) of seed, which = 1 attn_u,
    2 proj_u, 3 attn_l2u, 4 proj_l2u. Here first = 0; in the whole network
    (tests/ref/gen_allspark.py) first = the number of MiT blocks, after the
    drop-path streams."""

    def __init__(self, p, seed, a, first=0):
        self.p, self.seed, self.a, self.first = p, seed, a, first

    def mask(self, which, shape):
        """The mask over a tensor of `shape` (semiseg's layout)."""
        n = math.prod(shape)
        u = philox.uniforms(self.seed, philox.stream(philox.SG_RNG_DROPOUT, self.a, self.first + which), n)
        return torch.tensor([1.0 if ui >= philox.f32(self.p) else 0.0 for ui in u],
                            dtype=torch.float64).reshape(shape)

    def drop(self, x, mask):
        return x * mask / (1 - self.p)


class GroupDrops:
    """Group gi of G of `base`'s masks: semiseg draws each dropout mask once
    over the whole batch (its first dimension: G groups of samples, or of
    labeled images' attention rows, one after the other), the released code
    runs one group per GPU; so a group's mask is its slice of the whole."""

    def __init__(self, base, gi, G):
        self.base, self.gi, self.G = base, gi, G

    def mask(self, which, shape):
        full = self.base.mask(which, (self.G * shape[0],) + tuple(shape[1:]))
        return full[self.gi * shape[0]:(self.gi + 1) * shape[0]]

    def drop(self, x, mask):
        return self.base.drop(x, mask)


def forward_groups(P, x, training, glogits, mem, ptr, drops, pool):
    """The module as the released DDP run applies it: each GPU's batch of
    `pool` labeled + `pool` unlabeled images (training; keys from the
    batch) or `pool` images (eval) through forward, the outputs put back in
    semiseg's order (every labeled image, then every unlabeled one). The
    enqueue runs group by group into one memory, which only the memory-read
    path would see differently (not used here)."""
    n = x.shape[0] // 2 if training else x.shape[0]
    G = n // pool
    outs_l, outs_u = [], []
    for gi in range(G):
        s = slice(gi * pool, (gi + 1) * pool)
        xg = torch.cat((x[:n][s], x[n:][s])) if training else x[s]
        gd = GroupDrops(drops, gi, G) if training else None
        y = forward(P, xg, training, glogits[s] if training else None, False, mem, ptr, gd)
        outs_l.append(y[:pool])
        if training:
            outs_u.append(y[pool:])
    return torch.cat(outs_l + outs_u)


def enqueue(mem, ptr, emb_u_b, channel_cls):
    """_dequeue_and_enqueue for one sample: emb_u_b (N, C), channel_cls (C);
    mem (K, C, N), the ring of C = SMem_size maps per class."""
    C = mem.shape[1]
    for cls_i in torch.unique(channel_cls).tolist():
        index = torch.nonzero(channel_cls == cls_i).squeeze(-1)
        rows = emb_u_b[:, index].transpose(-2, -1)
        n = rows.shape[0]
        p = int(ptr[cls_i])
        if p + n > C:
            mem[cls_i, p:, :] = rows[:C - p, :]
            mem[cls_i, :p + n - C, :] = rows[C - p:, :]
            ptr[cls_i] = p + n - C
        else:
            mem[cls_i, p:p + n, :] = rows
            ptr[cls_i] = (p + n) % C


def heads(x, H, C):
    """multi_head_rep: (b, N, H C) -> (b, H, N, C)."""
    return x.reshape(x.shape[0], x.shape[1], H, C).permute(0, 2, 1, 3)


def forward(P, x, training, glogits, use_mem, mem, ptr, drops=None, record=None):
    """AllSpark.forward with CrossAttnMem on x (2B, Cin, h, w), labeled first
    (training) or (B, Cin, h, w) (eval); P the parameters by their released
    names; mem and ptr (a list) are updated in place by the enqueue; drops
    (Dropouts) in training. Sizes come from the tensors. A dict `record`
    receives the grouping's cosines "sim" (b, K, C), for margin checks."""
    C = P["attn_norm.weight"].shape[0]
    H = P["attn.q_u.weight"].shape[0] // C
    if not training:
        x = torch.cat((x, x))
    h, w = x.shape[2:]
    en = F.gelu(F.conv2d(x, P["map_in.0.weight"], P["map_in.0.bias"]))
    en = en.flatten(2).transpose(-1, -2)
    emb = F.layer_norm(en, (C,), P["attn_norm.weight"], P["attn_norm.bias"], 1e-6)
    emb_l, emb_u = torch.split(emb, emb.shape[0] // 2, dim=0)
    b, N = emb_u.shape[0], emb_u.shape[1]
    if training:
        with torch.no_grad():
            side = int(math.sqrt(N))
            pm = F.interpolate(glogits, size=(side, side), mode="bilinear", align_corners=False)
            pm = pm.flatten(2)
            sim = torch.matmul(F.normalize(pm, dim=-1), F.normalize(emb_u, dim=1))
            channel_cls = torch.argmax(sim, dim=1)
            if record is not None:
                record["sim"] = sim
            for i in range(b):
                enqueue(mem, ptr, emb_u[i].detach(), channel_cls[i])

    def lin(t, name):
        return t @ P[name].t()

    q, k, v = heads(lin(emb_u, "attn.q_u.weight"), H, C), heads(lin(emb_u, "attn.k_u.weight"), H, C), \
        heads(lin(emb_u, "attn.v_u.weight"), H, C)
    a = torch.matmul(q.transpose(-1, -2), k)                      # (b, H, C, C)
    a = torch.softmax(F.instance_norm(a, eps=1e-5), dim=3)
    if training:
        a = drops.drop(a, drops.mask(1, (b, H, C, C)))
    o = torch.matmul(a, v.transpose(-1, -2))                      # (b, H, C, N)
    o = o.permute(0, 3, 2, 1).reshape(b, N, C * H)
    out_u = lin(o, "attn.out_u.weight")
    if training:
        out_u = drops.drop(out_u, drops.mask(2, (b, C, N)).transpose(1, 2))

    ql = lin(emb_l, "attn.q_l2u.weight")
    src = mem.clone().transpose(-1, -2) if (use_mem and training) else emb_u
    kl, vl = lin(src, "attn.k_l2u.weight"), lin(src, "attn.v_l2u.weight")
    kl = kl.permute(1, 0, 2).reshape(N, -1).unsqueeze(0).expand(b, -1, -1)   # 'b n c -> n (b c)', repeat
    vl = vl.permute(1, 0, 2).reshape(N, -1).unsqueeze(0).expand(b, -1, -1)
    qq = ql.unsqueeze(1).transpose(-1, -2)                        # (b, 1, H C, N)
    a = torch.matmul(qq, kl.unsqueeze(1))                        # (b, 1, H C, S H C)
    a = torch.softmax(F.instance_norm(a, eps=1e-5), dim=3)
    if training:
        a = drops.drop(a, drops.mask(3, (b, 1, H * C, a.shape[-1])))
    o = torch.matmul(a, vl.unsqueeze(1).transpose(-1, -2))       # (b, 1, H C, N)
    o = o.permute(0, 3, 2, 1).reshape(b, N, H * C)
    out_l = lin(o, "attn.out_l2u.weight")
    if training:
        out_l = drops.drop(out_l, drops.mask(4, (b, C, N)).transpose(1, 2))

    y = torch.cat([out_l, out_u], dim=0) + en
    y = F.layer_norm(y, (C,), P["encoder_norm.weight"], P["encoder_norm.bias"], 1e-6)
    y = y.permute(0, 2, 1).reshape(y.shape[0], C, h, w)
    y = F.gelu(F.conv2d(y, P["map_out.0.weight"], P["map_out.0.bias"]))
    if not training:
        y = torch.split(y, y.shape[0] // 2, dim=0)[0]
    return y


def main():
    params = make_params()
    fx = Fixture()
    fx.add("cfg", torch.tensor([B, CIN, C, H, K, HW, P_DROP, SEED, STREAM_A], dtype=torch.float64))
    for name, t in params.items():
        fx.add("param." + name, t)
    drops = Dropouts(P_DROP, SEED, STREAM_A)

    mem = torch.randn(K, C, N, dtype=torch.float64).float().double()
    ptr = [0, 5, 7]

    def run_case(name, training, use_mem, nimg):
        nonlocal mem
        x = torch.randn(nimg, CIN, HW, HW)
        glog = torch.randn(B, K, GL, GL) * 2.0
        p64 = {k: v.double().requires_grad_() for k, v in params.items()}
        xd = x.double().requires_grad_()
        fx.add(f"{name}.x", x)
        fx.add(f"{name}.group_logits", glog)
        fx.add(f"{name}.mem0", mem.float())
        fx.add(f"{name}.ptr0", torch.tensor(ptr, dtype=torch.float32))
        m = mem.clone()
        pt = list(ptr)
        out = forward(p64, xd, training, glog.double(), use_mem, m, pt, drops)
        dout = torch.randn(out.shape)
        out.backward(dout.double())
        fx.add(f"{name}.out", out.float())
        fx.add(f"{name}.dout", dout)
        fx.add(f"{name}.dx", xd.grad.float())
        for k, v in p64.items():
            fx.add(f"{name}.grad.{k}", v.grad.float())
        fx.add(f"{name}.mem1", m.float())
        fx.add(f"{name}.ptr1", torch.tensor(pt, dtype=torch.float32))
        mem = m.float().double()
        return pt

    ptr = run_case("train_batch", True, False, 2 * B)
    assert ptr != [0, 5, 7]
    run_case("train_memory", True, True, 2 * B)
    run_case("eval", False, False, B)

    # pool_size 2 on 4 + 4 images: two "GPUs" of 2 + 2, keys from each
    # one's own unlabeled pair (training and eval).
    def run_groups(name, training):
        nonlocal mem
        x = torch.randn(2 * BG if training else BG, CIN, HW, HW)
        glog = torch.randn(BG, K, GL, GL) * 2.0
        p64 = {k: v.double().requires_grad_() for k, v in params.items()}
        xd = x.double().requires_grad_()
        for k, v in (("x", x), ("group_logits", glog), ("mem0", mem.float()),
                     ("ptr0", torch.tensor(ptr, dtype=torch.float32))):
            fx.add(f"{name}.{k}", v)
        m, pt = mem.clone(), list(ptr)
        out = forward_groups(p64, xd, training, glog.double(), m, pt, drops, POOL)
        dout = torch.randn(out.shape)
        out.backward(dout.double())
        for k, v in (("out", out), ("dout", dout), ("dx", xd.grad)):
            fx.add(f"{name}.{k}", v.float())
        for k, v in p64.items():
            fx.add(f"{name}.grad.{k}", v.grad.float())
        fx.add(f"{name}.mem1", m.float())
        fx.add(f"{name}.ptr1", torch.tensor(pt, dtype=torch.float32))

    run_groups("train_groups", True)
    run_groups("eval_groups", False)
    fx.write(os.path.join(HERE, "..", "data", "allspark_module.bin"))


if __name__ == "__main__":
    main()
