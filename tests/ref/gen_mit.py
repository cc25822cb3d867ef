"""PyTorch reference for the MiT encoder and the SegFormer head (tests/test_mit.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_mit.py
Writes tests/data/mit.bin and two safetensors files:
- tests/data/segformer_tiny.safetensors: the whole model's state_dict under
  the released names (backbone.*, decode_head.*), which the C model loads
  by name, so the parity below also checks the names;
- tests/data/mit_imagenet_tiny.safetensors: the encoder alone named as
  SegFormer's ImageNet files (mit_b*.pth: patch_embed1.proj.weight, ...,
  with the classifier head.weight/bias), saved with torch.save and converted
  by tools/pth2safetensors.py as a user would, for sg_pretrained_load_mit.

The model is tests/ref/segformer.py (shared with bench/bench_train.py's
workload mit): NVlabs/SegFormer@65fa8cf (mmseg/models/backbones/
mix_transformer.py and mmseg/models/decode_heads/segformer_head.py; the same
code as xmed-lab/AllSpark@9da63e2:model/backbone/mit.py and
model/semseg/allspark.py's SegFormerHead) restated in the token layout it
uses: Linear on (B, N, C) tokens, LayerNorm over C, reshape/permute to heads,
(q @ k^T) * scale, softmax, DWConv through a transpose to NCHW.

A tiny MiT (embed dims 8/12/16/20, heads 1/2/2/4, depths 1/2/1/1, sr 8/4/2/1,
mlp ratio 2, drop_path_rate 0.3) with an E = 16 head and 5 classes runs on a
2 x 3 x 64 x 32 batch (stage sizes 16x8, 8x4, 4x2, 2x1; each reduced key
map is 2x1, so every softmax has two keys) in training mode: BatchNorm on batch
statistics, drop-path and the head's Dropout2d with the masks semiseg draws
(rebuilt with tests/ref/philox.py: drop-path of block j from stream
(SG_RNG_DROPOUT, A, 1 + j), Dropout2d from (SG_RNG_DROPOUT, A, 0)); then the
mean cross-entropy (ignore 255) and its gradients: the logits, the loss,
c1..c4, every parameter's gradient ("grad.<name>") and the BN running
statistics after the step. A second pass in eval mode gives eval.logits.
Weights are random (not the init distributions) so every path carries
signal: LayerNorm and BN affine parameters away from 1 / 0.
tests/ref/gen_allspark.py imports this configuration, DropMask, randomize
and write_safetensors for the AllSpark network's reference.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402
from segformer import MiT, SegFormer  # noqa: E402

SEED = 0x5E6F0A11
EMBED = [8, 12, 16, 20]
HEADS = [1, 2, 2, 4]
DEPTHS = [1, 2, 1, 1]
SR = [8, 4, 2, 1]
MLP = 2
DPR = 0.3
E = 16
K = 5
HEAD_DROP = 0.1


class DropMask:
    """Per-call masks (the `masks` of segformer.py): drop-path of block j
    and the head's Dropout2d, from semiseg's Philox streams."""

    def __init__(self, a):
        self.a = a

    def uniforms(self, b, n):
        return philox.uniforms(SEED, philox.stream(philox.SG_RNG_DROPOUT, self.a, b), n)

    def drop_path(self, x, p, j):
        """timm's DropPath (scale_by_keep): mask / keep, then x * mask."""
        keep = 1.0 - p
        u = self.uniforms(1 + j, x.shape[0])
        mask = torch.tensor([1.0 if ui >= philox.f32(p) else 0.0 for ui in u]).reshape(-1, 1, 1)
        self.dropped += int((mask == 0).sum())
        return x * mask.div_(keep)

    def dropout2d(self, f, p):
        u = self.uniforms(0, f.shape[0] * f.shape[1])
        m = torch.tensor([1.0 if ui >= philox.f32(p) else 0.0 for ui in u])
        return f * m.reshape(f.shape[0], f.shape[1], 1, 1) / (1 - p)


def write_safetensors(path, tensors):
    """safetensors by hand, as tests/ref/gen_model.py writes it."""
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


def randomize(model):
    """Random weights, not the init distributions, so every path carries
    signal: LayerNorm and BN affine parameters away from 1 / 0, the other
    biases nonzero, weights N(0, (1.5 / sqrt(fan_in))^2); the head's BN
    running statistics likewise (tests/ref/gen_allspark.py shares this)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or ".bn." in name:
                p.copy_((1.0 + 0.3 * torch.randn_like(p)) if name.endswith("weight") else 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) * (1.5 / fan_in ** 0.5))
        bn = model.decode_head.linear_fuse.bn
        bn.running_mean.copy_(0.3 * torch.randn(E))
        bn.running_var.copy_(0.5 + torch.rand(E))
        bn.num_batches_tracked.fill_(7)


def main():
    torch.manual_seed(0)
    model = SegFormer(EMBED, HEADS, DEPTHS, SR, MLP, DPR, E, K, HEAD_DROP)
    randomize(model)
    bn = model.decode_head.linear_fuse.bn

    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    # The reference runs in float64 on the float32 weights and input (exact
    # conversions), so what the C test sees is its own float32 rounding.
    model.double()
    fx = Fixture()
    x = torch.randn(2, 3, 64, 32)
    labels = torch.randint(0, K, (2, 64, 32))
    labels[0, :5, :7] = 255
    fx.add("x", x)
    fx.add("labels", labels.to(torch.int32))
    for k in ("embed", "heads", "depths", "sr"):
        fx.add(f"cfg.{k}", torch.tensor({"embed": EMBED, "heads": HEADS, "depths": DEPTHS, "sr": SR}[k],
                                        dtype=torch.float64))
    fx.add("cfg.misc", torch.tensor([MLP, DPR, E, K, HEAD_DROP, SEED], dtype=torch.float64))

    # The call key A: the first one whose drop-path masks drop at least one
    # sample somewhere (the search is deterministic).
    A = 0
    while True:
        masks = DropMask(A)
        masks.dropped = 0
        with torch.no_grad():
            model.backbone(x.double(), masks)
        if masks.dropped > 0:
            break
        A += 1
    fx.add("cfg.a", torch.tensor([A], dtype=torch.float64))

    model.load_state_dict(state)
    model.train()
    masks = DropMask(A)
    masks.dropped = 0
    logits, feats, feature = model(x.double(), masks)
    loss = F.cross_entropy(logits, labels, ignore_index=255)
    loss.backward()
    fx.add("train.logits", logits.float())
    fx.add("train.loss", loss.detach().reshape(1))
    fx.add("train.feature", feature.float())
    for s, c in enumerate(feats):
        fx.add(f"train.c{s + 1}", c.float())
    for name, p in model.named_parameters():
        fx.add(f"grad.{name}", p.grad.float())
    fx.add("train.running_mean", bn.running_mean.float())
    fx.add("train.running_var", bn.running_var.float())

    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        elogits, _, _ = model(x.double(), None)
    fx.add("eval.logits", elogits.float())

    data = os.path.join(HERE, "..", "data")
    fx.write(os.path.join(data, "mit.bin"))
    write_safetensors(os.path.join(data, "segformer_tiny.safetensors"),
                      {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
    imagenet = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    torch.manual_seed(1)
    imagenet["head.weight"] = torch.randn(10, EMBED[3])
    imagenet["head.bias"] = torch.randn(10)
    # As a user converts mit_b*.pth: torch.save'd state_dict -> tools/pth2safetensors.py.
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "mit_tiny.pth")
        torch.save(imagenet, pth)
        subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "tools", "pth2safetensors.py"),
                        pth, os.path.join(data, "mit_imagenet_tiny.safetensors")], check=True)

    # MiT-B0's encoder size (NVlabs/SegFormer mit_b0: embed 32/64/160/256, heads
    # 1/2/5/8, depths 2/2/2/2, sr 8/4/2/1, mlp ratio 4).
    b0 = MiT([32, 64, 160, 256], [1, 2, 5, 8], [2, 2, 2, 2], [8, 4, 2, 1], 4, 0.1)
    fx.add("count.b0", torch.tensor([float(sum(p.numel() for p in b0.parameters()))], dtype=torch.float64))
    fx.write(os.path.join(data, "mit.bin"))


if __name__ == "__main__":
    main()
