"""SegFormer in PyTorch: the MiT encoder and the all-MLP head, shared by
tests/ref/gen_mit.py (the parity fixture of tests/test_mit.c, a tiny model in
float64) and bench/bench_train.py (workload mit, MiT-B0 against bench_train.c).

A restatement of NVlabs/SegFormer@65fa8cf (mmseg/models/backbones/
mix_transformer.py and mmseg/models/decode_heads/segformer_head.py; the same
code as xmed-lab/AllSpark@9da63e2:model/backbone/mit.py and
model/semseg/allspark.py's SegFormerHead) in the token layout it uses:
Linear on (B, N, C) tokens, LayerNorm over C, reshape/permute to heads,
(q @ k^T) * scale, softmax, DWConv through a transpose to NCHW.

The random draws of a training forward come from a `masks` object (None in
evaluation): masks.drop_path(x, p, j) for block j's stochastic depth (over
all stages) and masks.dropout2d(f, p) for the head's Dropout2d. gen_mit.py's
draws are semiseg's Philox masks, bench_train.py's torch's own generator.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


def drop_path(x, p, masks, j):
    """x, or masks.drop_path(x, p, j) in training with a nonzero rate."""
    if masks is None or p == 0.0:
        return x
    return masks.drop_path(x, p, j)


class Attention(nn.Module):
    def __init__(self, dim, heads, sr):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=True)
        self.kv = nn.Linear(dim, dim * 2, bias=True)
        self.proj = nn.Linear(dim, dim)
        self.sr_ratio = sr
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, kernel_size=sr, stride=sr)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, H, W):
        B, N, C = x.shape
        q = self.q(x).reshape(B, N, self.heads, C // self.heads).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            x_ = x.permute(0, 2, 1).reshape(B, C, H, W)
            x_ = self.sr(x_).reshape(B, C, -1).permute(0, 2, 1)
            x_ = self.norm(x_)
        else:
            x_ = x
        kv = self.kv(x_).reshape(B, -1, 2, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class DWConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x, H, W):
        B, N, C = x.shape
        x = x.transpose(1, 2).reshape(B, C, H, W)
        return self.dwconv(x).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x, H, W):
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), H, W)))


class Block(nn.Module):
    def __init__(self, dim, heads, sr, mlp_ratio, dp, j):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sr)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * mlp_ratio)
        self.dp, self.j = dp, j

    def forward(self, x, H, W, masks):
        x = x + drop_path(self.attn(self.norm1(x), H, W), self.dp, masks, self.j)
        return x + drop_path(self.mlp(self.norm2(x), H, W), self.dp, masks, self.j)


class PatchEmbed(nn.Module):
    def __init__(self, k, s, cin, dim):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, kernel_size=k, stride=s, padding=k // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        x = self.proj(x)
        _, _, H, W = x.shape
        return self.norm(x.flatten(2).transpose(1, 2)), H, W


class MiT(nn.Module):
    """embed, heads, depths, sr: the four stages' lists; MiT-B0 is
    [32, 64, 160, 256], [1, 2, 5, 8], [2, 2, 2, 2], [8, 4, 2, 1], mlp 4, dpr 0.1."""

    def __init__(self, embed, heads, depths, sr, mlp_ratio, dpr):
        super().__init__()
        for s in range(4):
            setattr(self, f"patch_embed{s + 1}",
                    PatchEmbed(7 if s == 0 else 3, 4 if s == 0 else 2, 3 if s == 0 else embed[s - 1],
                               embed[s]))
        rates = [x.item() for x in torch.linspace(0, dpr, sum(depths))]
        j = 0
        for s in range(4):
            blocks = []
            for _ in range(depths[s]):
                blocks.append(Block(embed[s], heads[s], sr[s], mlp_ratio, rates[j], j))
                j += 1
            setattr(self, f"block{s + 1}", nn.ModuleList(blocks))
            setattr(self, f"norm{s + 1}", nn.LayerNorm(embed[s], eps=1e-6))

    def forward(self, x, masks):
        B = x.shape[0]
        outs = []
        for s in range(4):
            x, H, W = getattr(self, f"patch_embed{s + 1}")(x)
            for blk in getattr(self, f"block{s + 1}"):
                x = blk(x, H, W, masks)
            x = getattr(self, f"norm{s + 1}")(x)
            x = x.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs


class MLPProj(nn.Module):
    def __init__(self, cin, E):
        super().__init__()
        self.proj = nn.Linear(cin, E)

    def forward(self, x):
        return self.proj(x.flatten(2).transpose(1, 2))


class ConvModule(nn.Module):
    """mmcv ConvModule(kernel 1, SyncBN): conv (no bias), bn, relu."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Head(nn.Module):
    """embed: the encoder's stage widths; E the head width; K classes;
    drop the Dropout2d rate before linear_pred."""

    def __init__(self, embed, E, K, drop):
        super().__init__()
        self.linear_c4 = MLPProj(embed[3], E)
        self.linear_c3 = MLPProj(embed[2], E)
        self.linear_c2 = MLPProj(embed[1], E)
        self.linear_c1 = MLPProj(embed[0], E)
        self.linear_fuse = ConvModule(4 * E, E)
        self.linear_pred = nn.Conv2d(E, K, kernel_size=1)
        self.drop = drop

    def forward(self, c1, c2, c3, c4, masks):
        n = c4.shape[0]
        parts = []
        for lin, c in ((self.linear_c4, c4), (self.linear_c3, c3), (self.linear_c2, c2)):
            t = lin(c).permute(0, 2, 1).reshape(n, -1, c.shape[2], c.shape[3])
            parts.append(F.interpolate(t, size=c1.shape[2:], mode="bilinear", align_corners=False))
        parts.append(self.linear_c1(c1).permute(0, 2, 1).reshape(n, -1, c1.shape[2], c1.shape[3]))
        f = self.linear_fuse(torch.cat(parts, dim=1))
        feature = f
        if masks is not None:
            f = masks.dropout2d(f, self.drop)
        return self.linear_pred(f), feature


class SegFormer(nn.Module):
    """forward(x, masks) -> (logits resized to x, [c1..c4], the fused feature)."""

    def __init__(self, embed, heads, depths, sr, mlp_ratio, dpr, E, K, drop):
        super().__init__()
        self.backbone = MiT(embed, heads, depths, sr, mlp_ratio, dpr)
        self.decode_head = Head(embed, E, K, drop)

    def forward(self, x, masks):
        feats = self.backbone(x, masks)
        out, feature = self.decode_head(*feats, masks)
        return F.interpolate(out, size=x.shape[2:], mode="bilinear", align_corners=False), feats, feature
