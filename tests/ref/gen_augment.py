"""Pillow / torchvision reference values for the augmentation (tests/test_augment.c).

Run with Debian's python3 (Pillow 9.4, torchvision 0.14) from the source root:
    /usr/bin/python3 tests/ref/gen_augment.py
Writes tests/data/augment.bin. Every operation is applied with FIXED
parameters, so the C test needs no random-number matching. Images are stored
as int32 records (h, w, c) holding uint8 values; parameters as float32
records (the C side uses the same float32 values, as torchvision's float32
factors reach Pillow as C floats).

Records:
  img.a (16, 24, 3)  smooth gradients + noise, some gray and saturated pixels
  img.b (9, 13, 3)   small random image for the upscaling cases
  mask.a (16, 24, 1) random labels 0..20 with some 255
  resize.<k>.size (2) target (h, w); .src (1) 0 = img.a, 1 = img.b; .out
                                                    Image.resize BILINEAR
  nearest.<k>.size, nearest.<k>.out                  mask Image.resize NEAREST
  bright.<k> / contrast.<k> / sat.<k> / hue.<k>: .f (1) factor, .out
  gray.out                                           RandomGrayscale(p=1)
  blur.<k>: .sigma (1), .out                         ImageFilter.GaussianBlur
  blur_l.out                                         the same on mask.a (1 channel), radius 1.1
  jitter.<k>: .order (4) .f (4) .out                 the four ops in that order
  weak.<k>: .params (7) = h, w, y, x, flip, crop, mask fill; .img .mask
  norm.out (3, 16, 24) float32                       ToTensor + Normalize
"""
import os
import sys

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

rng = np.random.RandomState(1234)
fx = Fixture()


def add_img(name, pil_or_arr):
    a = np.asarray(pil_or_arr, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    fx.add(name, torch.from_numpy(a.astype(np.int32)))


def f32(v):
    return float(np.float32(v))


def add_f32(name, values):
    fx.add(name, torch.tensor(values, dtype=torch.float32))


# --- inputs ------------------------------------------------------------------
H, W = 16, 24
yy, xx = np.mgrid[0:H, 0:W]
a = np.stack([xx * 9, yy * 12, (xx + yy) * 5], axis=2).astype(np.float64)
a += rng.randint(-40, 41, size=a.shape)
a = np.clip(a, 0, 255).astype(np.uint8)
a[3, :] = np.repeat(rng.randint(0, 256, size=(W, 1)), 3, axis=1)   # gray row (s = 0 in HSV)
a[7, :, :] = rng.randint(0, 256, size=(W, 3))                     # fully random row
a[11, :4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]
a[12, :4] = [[0, 0, 0], [255, 0, 255], [1, 0, 0], [254, 255, 255]]
img_a = Image.fromarray(a, "RGB")
add_img("img.a", img_a)

b = rng.randint(0, 256, size=(9, 13, 3)).astype(np.uint8)
img_b = Image.fromarray(b, "RGB")
add_img("img.b", img_b)

m = rng.randint(0, 21, size=(H, W)).astype(np.uint8)
m[rng.rand(H, W) < 0.1] = 255
mask_a = Image.fromarray(m, "L")
add_img("mask.a", mask_a)

# --- resize --------------------------------------------------------------------
# (source, name, (h, w)): downscale by 0.5, by odd factors, with one axis up and
# the other down, unchanged, and upscaling (2x and non-integer).
resize_cases = [
    ("a", "half", (10, 14)),
    ("a", "odd_down", (7, 11)),
    ("a", "to_1x1", (1, 1)),
    ("a", "mixed", (31, 9)),
    ("a", "same_w", (11, 24)),
    ("b", "up2", (18, 26)),
    ("b", "up_odd", (23, 17)),
]
for src, name, (h, w) in resize_cases:
    im = img_a if src == "a" else img_b
    add_f32(f"resize.{name}.size", [h, w])
    fx.add(f"resize.{name}.src", torch.tensor([0 if src == "a" else 1], dtype=torch.int32))
    add_img(f"resize.{name}.out", im.resize((w, h), Image.BILINEAR))

for name, (h, w) in [("down", (7, 11)), ("up", (37, 41)), ("odd", (33, 17))]:
    add_f32(f"nearest.{name}.size", [h, w])
    add_img(f"nearest.{name}.out", mask_a.resize((w, h), Image.NEAREST))

# --- colour ops ------------------------------------------------------------------
for k, f in enumerate([0.5, 0.73, 1.41, 1.5]):
    f = f32(f)
    add_f32(f"bright.{k}.f", [f])
    add_img(f"bright.{k}.out", TF.adjust_brightness(img_a, f))
    add_f32(f"contrast.{k}.f", [f])
    add_img(f"contrast.{k}.out", TF.adjust_contrast(img_a, f))
    add_f32(f"sat.{k}.f", [f])
    add_img(f"sat.{k}.out", TF.adjust_saturation(img_a, f))
# Hue shifts: positive, negative (numpy's uint8 cast wraps), tiny (shift 0) and
# the extremes of ColorJitter(hue=0.25).
for k, f in enumerate([0.1, -0.13, -0.002, 0.25, -0.25, 0.0]):
    f = f32(f)
    add_f32(f"hue.{k}.f", [f])
    add_img(f"hue.{k}.out", TF.adjust_hue(img_a, f))

add_img("gray.out", TF.rgb_to_grayscale(img_a, num_output_channels=3))

for k, s in enumerate([0.1, 0.37, 0.9, 1.33, 2.0, 7.5]):
    s = f32(s)
    add_f32(f"blur.{k}.sigma", [s])
    add_img(f"blur.{k}.out", img_a.filter(ImageFilter.GaussianBlur(radius=s)))
add_img("blur_l.out", mask_a.filter(ImageFilter.GaussianBlur(radius=f32(1.1))))

# The whole ColorJitter with a fixed order and fixed factors.
jitters = [([3, 0, 2, 1], [0.62, 1.31, 0.55, -0.21]), ([1, 2, 0, 3], [1.44, 0.58, 1.37, 0.17])]
for k, (order, fs) in enumerate(jitters):
    fs = [f32(v) for v in fs]
    im = img_a
    for op in order:
        im = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue][op](im, fs[op])
    fx.add(f"jitter.{k}.order", torch.tensor(order, dtype=torch.int32))
    add_f32(f"jitter.{k}.f", fs)
    add_img(f"jitter.{k}.out", im)


# --- weak pipeline with fixed parameters (UniMatch dataset/transform.py) ----------
def unimatch_weak(img, mask, oh, ow, crop, fill, x, y, flip):
    img = img.resize((ow, oh), Image.BILINEAR)
    mask = mask.resize((ow, oh), Image.NEAREST)
    w, h = img.size
    padw = crop - w if w < crop else 0
    padh = crop - h if h < crop else 0
    img = ImageOps.expand(img, border=(0, 0, padw, padh), fill=0)
    mask = ImageOps.expand(mask, border=(0, 0, padw, padh), fill=fill)
    img = img.crop((x, y, x + crop, y + crop))
    mask = mask.crop((x, y, x + crop, y + crop))
    if flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
        mask = mask.transpose(Image.FLIP_LEFT_RIGHT)
    return img, mask


# (h, w, y, x, flip, crop, fill): smaller than the crop (padding, labeled and
# unlabeled sentinel), larger than the crop on both sides, padding on one side,
# the original size (no resampling pass), the original width (vertical pass only).
weak_cases = [(12, 17, 0, 0, 1, 16, 255), (33, 46, 5, 19, 0, 16, 254), (26, 36, 0, 3, 1, 30, 254),
              (16, 24, 0, 8, 0, 16, 255), (20, 24, 3, 5, 1, 16, 254)]
for k, (oh, ow, y, x, flip, crop, fill) in enumerate(weak_cases):
    wi, wm = unimatch_weak(img_a, mask_a, oh, ow, crop, fill, x, y, flip)
    fx.add(f"weak.{k}.params", torch.tensor([oh, ow, y, x, flip, crop, fill], dtype=torch.int32))
    add_img(f"weak.{k}.img", wi)
    add_img(f"weak.{k}.mask", wm)

# --- normalisation (UniMatch normalize: ToTensor + ImageNet Normalize) -----------
t = TF.normalize(TF.to_tensor(img_a), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
fx.add("norm.out", t.contiguous())

out = os.path.join(os.path.dirname(__file__), "..", "data", "augment.bin")
fx.write(out)
print("wrote", os.path.normpath(out))
