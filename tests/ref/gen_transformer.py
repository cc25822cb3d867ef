"""PyTorch reference values for the transformer ops (tests/test_ops_transformer.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_transformer.py
Writes tests/data/transformer.bin. Cases, each with its inputs, output, an
upstream gradient `dout` and the gradients PyTorch computes from it:

- lnc.<case>: layer norm over dim 1, as F.layer_norm of the channels-last
  permutation (the LayerNorm2d of ConvNeXt / mmcv);
- attn.<case>: multi-head attention as SegFormer's MiT computes it
  (xmed-lab/AllSpark@9da63e2:model/backbone/mit.py, Attention.forward:
  reshape to heads, (q @ k^T) * scale, softmax(dim=-1), @ v, heads merged),
  in the token layout (B, N, C) and in the channels-first layout (the same
  tokens transposed to (B, C, H, W));
- drop_path / dropout: timm's DropPath (random_tensor.div_(keep_prob), then
  x * random_tensor) and F.dropout's x * mask / (1 - p), with the masks that
  semiseg draws rebuilt with the pure-Python Philox of tests/ref/philox.py.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402
from philox import f32, uniforms as rng_uniforms  # noqa: E402

torch.manual_seed(0)
fx = Fixture()


def scalar(name, v):
    fx.add(name, torch.tensor([float(v)], dtype=torch.float64))


def lnc_case(name, shape, affine, eps):
    c = shape[1]
    x = (torch.randn(shape) * 2.0 + 0.5)
    # One position with a small spread across channels (variance ~4e-4):
    # eps = 1e-6 moves it by ~1e-3 relative, a hundred times the tolerance,
    # while PyTorch's float statistics stay accurate to ~1e-6 there.
    x.view(shape[0], c, -1)[0, :, 1] = 0.3 + 0.02 * torch.randn(c)
    x.requires_grad_()
    w = (torch.rand(c) + 0.5).requires_grad_() if affine else None
    b = torch.randn(c).requires_grad_() if affine else None
    xl = x.movedim(1, -1)
    out = F.layer_norm(xl, (c,), w, b, eps).movedim(-1, 1).contiguous()
    dout = torch.randn_like(out)
    out.backward(dout)
    p = f"lnc.{name}."
    fx.add(p + "x", x)
    if affine:
        fx.add(p + "weight", w)
        fx.add(p + "bias", b)
        fx.add(p + "dweight", w.grad)
        fx.add(p + "dbias", b.grad)
    fx.add(p + "out", out)
    fx.add(p + "dout", dout)
    fx.add(p + "dx", x.grad)
    scalar(p + "eps", eps)


lnc_case("nchw", (2, 6, 5, 7), affine=True, eps=1e-6)
lnc_case("ncl_plain", (3, 5, 9), affine=False, eps=1e-5)


def mit_attention(q, k, v, heads, scale):
    """MiT's Attention.forward after the projections: q (B, N, C), k, v (B, M, C)."""
    B, N, C = q.shape
    M = k.shape[1]
    qh = q.reshape(B, N, heads, C // heads).permute(0, 2, 1, 3)
    kh = k.reshape(B, M, heads, C // heads).permute(0, 2, 1, 3)
    vh = v.reshape(B, M, heads, C // heads).permute(0, 2, 1, 3)
    attn = (qh @ kh.transpose(-2, -1)) * scale
    attn = attn.softmax(dim=-1)
    return (attn @ vh).transpose(1, 2).reshape(B, N, C)


def attn_case(name, B, N, M, C, heads, cf_hw=None, cf_kv_hw=None):
    scale = (C // heads) ** -0.5
    # Spread logits of O(1..4) so the softmax is neither uniform nor one-hot.
    q = (torch.randn(B, N, C) * 1.5).requires_grad_()
    k = (torch.randn(B, M, C) * 1.5).requires_grad_()
    v = torch.randn(B, M, C).requires_grad_()
    out = mit_attention(q, k, v, heads, scale)
    dout = torch.randn_like(out)
    out.backward(dout)
    p = f"attn.{name}."
    if cf_hw is None:
        tensors = dict(q=q, k=k, v=v, out=out, dout=dout, dq=q.grad, dk=k.grad, dv=v.grad)
    else:
        def cf(t, hw):  # tokens (B, L, C) -> (B, C, h, w)
            return t.detach().transpose(1, 2).reshape(B, C, hw[0], hw[1]).contiguous()
        tensors = dict(q=cf(q, cf_hw), k=cf(k, cf_kv_hw), v=cf(v, cf_kv_hw), out=cf(out, cf_hw),
                       dout=cf(dout, cf_hw), dq=cf(q.grad, cf_hw), dk=cf(k.grad, cf_kv_hw),
                       dv=cf(v.grad, cf_kv_hw))
    for key, t in tensors.items():
        fx.add(p + key, t)
    scalar(p + "heads", heads)
    scalar(p + "scale", scale)


# Tokens: 3 heads of 4 channels, 10 queries over 7 keys (a reduced sequence).
attn_case("tokens", B=2, N=10, M=7, C=12, heads=3)
# Channels-first: a 4x6 map attending to its 2x3 spatial reduction (sr 2),
# 2 heads of 8 channels: SegFormer's efficient self-attention shapes.
attn_case("nchw", B=2, N=24, M=6, C=16, heads=2, cf_hw=(4, 6), cf_kv_hw=(2, 3))
# One head, keys = queries (sr_ratio 1, the last MiT stage).
attn_case("single_head", B=1, N=9, M=9, C=5, heads=1, cf_hw=(3, 3), cf_kv_hw=(3, 3))

# Drop-path and dropout: seed above 32 bits, stream sg_rng_stream(SG_RNG_DROPOUT
# = 4, 5, 9) for drop-path and (4, 5, 10) for dropout.
DROP_SEED = 0x0123456789ABCDEF
DP_STREAM = (4 << 56) | (5 << 32) | 9
DO_STREAM = (4 << 56) | (5 << 32) | 10

p = 0.3
keep = 1.0 - p
n = 8
u = rng_uniforms(DROP_SEED, DP_STREAM, n)
mask = torch.tensor([1.0 if ui >= f32(p) else 0.0 for ui in u])
assert 0 < mask.sum() < n, "the drop-path mask should keep some samples and drop others"
x = torch.randn(n, 3, 4, 5).requires_grad_()
random_tensor = mask.reshape(n, 1, 1, 1).clone()
random_tensor.div_(keep)
out = x * random_tensor
dout = torch.randn_like(out)
out.backward(dout)
fx.add("drop_path.x", x)
scalar("drop_path.p", p)
fx.add("drop_path.mask", mask)
fx.add("drop_path.out", out)
fx.add("drop_path.dout", dout)
fx.add("drop_path.dx", x.grad)

p = 0.25
shape = (2, 3, 5, 7)
numel = 2 * 3 * 5 * 7
u = rng_uniforms(DROP_SEED, DO_STREAM, numel)
mask = torch.tensor([1.0 if ui >= f32(p) else 0.0 for ui in u]).reshape(shape)
x = torch.randn(shape).requires_grad_()
noise = mask.clone().div_(1 - p)
out = x * noise
dout = torch.randn_like(out)
out.backward(dout)
fx.add("dropout.x", x)
scalar("dropout.p", p)
fx.add("dropout.mask", mask)
fx.add("dropout.out", out)
fx.add("dropout.dout", dout)
fx.add("dropout.dx", x.grad)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "transformer.bin"))
