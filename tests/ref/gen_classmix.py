"""PyTorch reference for ClassMix and the blur of its strong transform (tests/test_classmix.c).

Run with Debian's python3-torch from the source root:
    /usr/bin/python3 tests/ref/gen_classmix.py
Writes tests/data/classmix.bin (deterministic).

Restates 1181110317/SSL_CTT@33d7e3c:
  cross_teacher_contr.py ema_loss   per image: classes = torch.unique(argmax), choose
                                    (n - n % 2) / 2 of them, MixMask = generate_class_mask
  utils/transformmasks.py           generate_class_mask: pred == any chosen class
  utils/transformsgpu.py mix        mask[i] * data[i] + (1 - mask[i]) * data[(i + 1) % N],
                                    on the images and on the teacher's probabilities,
                                    then torch.max(dim=1) -> confidence, pseudo-label
  utils/transformsgpu.py gaussian_blur with kornia 0.3.0 GaussianBlur2d (the version the
                                    repository's requirements.txt pins): gaussian() taps
                                    math.exp in double stored as float32 and divided by
                                    their sum, the 2-D kernel their outer product,
                                    F.pad(mode='reflect'), one conv2d per channel.
The released np.random.choice is replaced by the draw semiseg makes (sg_classmix_mask:
partial Fisher-Yates with sg_rng_below on Philox), reproduced here with philox.py, so both
sides choose the same classes.

Records:
  cm.probs (N, K, H, W) f32, cm.img (N, 3, H, W) f32, cm.seed/cm.stream (f64)
  cm.mask (N, H, W) i32, cm.mixed (N, 3, H, W), cm.label (N, H, W) i32, cm.conf (N, H, W)
  blur.img (2, 3, 24, 45) f32, blur.sigma f64 (a float32 value), blur.out f32 (3 x 5 kernel)
  blur2.img (1, 1, 85, 75), blur2.sigma, blur2.out (9 x 7 kernel)
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402
import philox  # noqa: E402

HERE = os.path.dirname(__file__)
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(11)
fx = Fixture()


def below(rng, n):
    """sg_rng_below: Lemire's threshold, reject u32 below (2^32 - n) % n."""
    threshold = ((1 << 32) - n) % n
    while True:
        x = rng.u32()
        if x >= threshold:
            return x % n


def class_mask(pred, rng):
    """sg_classmix_mask on one (H, W) argmax map: floor(n/2) of the present classes."""
    present = torch.unique(pred).tolist()
    take = len(present) // 2
    for i in range(take):
        j = i + below(rng, len(present) - i)
        present[i], present[j] = present[j], present[i]
    classes = torch.tensor(present[:take], dtype=torch.long)
    # transformmasks.generate_class_mask
    p, c = torch.broadcast_tensors(pred.unsqueeze(0), classes.unsqueeze(1).unsqueeze(2))
    return p.eq(c).sum(0)


def mix(mask, data):
    """transformsgpu.mix with mask.shape[0] == data.shape[0]."""
    n = data.shape[0]
    return torch.cat([(mask[i] * data[i] + (1 - mask[i]) * data[(i + 1) % n]).unsqueeze(0)
                      for i in range(n)])


# ---- ClassMix: 3 images, 5 classes; image 2 sees a single class (nothing chosen) ----------
N, K, H, W = 3, 5, 7, 9
SEED, STREAM = 0xC1A55, philox.stream(philox.SG_RNG_TEST, 7, 0)
z = torch.randn(N, K, H, W, generator=gen) * 2.0
z[2, 3] += 20.0
probs = torch.softmax(z, dim=1)
img = torch.randn(N, 3, H, W, generator=gen)
rng = philox.Rng(SEED, STREAM)
arg = torch.max(probs, dim=1)[1]
mask = torch.stack([class_mask(arg[i], rng) for i in range(N)])
m1 = mask.unsqueeze(1).float()
mixed = mix(m1, img)
conf, label = torch.max(mix(m1, probs), dim=1)
assert mask[2].sum() == 0 and 0 < mask[0].sum() < H * W and 0 < mask[1].sum() < H * W
fx.add("cm.probs", probs)
fx.add("cm.img", img)
fx.add("cm.seed", torch.tensor([SEED, STREAM], dtype=torch.float64))
fx.add("cm.mask", mask.to(torch.int32))
fx.add("cm.mixed", mixed)
fx.add("cm.label", label.to(torch.int32))
fx.add("cm.conf", conf)


# ---- kornia 0.3.0 GaussianBlur2d on a non-square batch ---------------------------------------
def gaussian(k, sigma):
    g = torch.tensor([math.exp(-(x - k // 2) ** 2 / float(2 * sigma ** 2)) for x in range(k)],
                     dtype=torch.float32)
    return g / g.sum()


def kernel_size(side):
    return int(math.floor(math.ceil(0.1 * side) - 0.5 + math.ceil(0.1 * side) % 2))


def blur(data, sigma):
    ky, kx = kernel_size(data.shape[2]), kernel_size(data.shape[3])
    k2 = torch.matmul(gaussian(ky, sigma).unsqueeze(-1), gaussian(kx, sigma).unsqueeze(-1).t())
    c = data.shape[1]
    pad = F.pad(data, [kx // 2, kx // 2, ky // 2, ky // 2], mode="reflect")
    return F.conv2d(pad, k2.expand(c, 1, ky, kx), groups=c)


bimg = torch.randn(2, 3, 24, 45, generator=gen)
sigma = philox.f32(0.15 + 1.0 * philox.f32(0.6123))
bout = blur(bimg, sigma)
assert kernel_size(24) == 3 and kernel_size(45) == 5
fx.add("blur.img", bimg)
fx.add("blur.sigma", torch.tensor([sigma], dtype=torch.float64))
fx.add("blur.out", bout)
bimg2 = torch.randn(1, 1, 85, 75, generator=gen)
sigma2 = philox.f32(3.0)
bout2 = blur(bimg2, sigma2)
assert kernel_size(85) == 9 and kernel_size(75) == 7
fx.add("blur2.img", bimg2)
fx.add("blur2.sigma", torch.tensor([sigma2], dtype=torch.float64))
fx.add("blur2.out", bout2)

fx.write(os.path.join(HERE, "..", "data", "classmix.bin"))
