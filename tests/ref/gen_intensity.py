"""Pillow reference for DSSN's random-intensity ops (tests/test_intensity.c).

Run with Debian's python3-torch and python3-pil (Pillow 9.4) from the source root:
    /usr/bin/python3 tests/ref/gen_intensity.py
Writes tests/data/intensity.bin (deterministic: rerunning gives identical bytes).

The ops of kunzhan/DSSN@efaee86:voc/dataset/transform.py (img_aug_*, the
non-wide get_augment_list), each called with its parameter given instead of
drawn, on RGB images stored as (h, w, 3) int32:
  img.<k>                      inputs: a (structured, noisy, full range), b (low
                               contrast, levels 60..179), c (6 levels only), t (2 x 5)
  autocontrast.<k>, equalize.<k>          ImageOps on image k
  posterize.<bits>.a, solarize.<thr>.a    ImageOps on a
  sharpness.<i>.{f,out}                   ImageEnhance.Sharpness on a (and on t)
  chain.<i>.{ops,v,out}                   a chain of ops applied to a in order,
                                          each through the released img_aug_*
                                          body with the given parameter (ops:
                                          indices into the augment list)
"""
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

sys.path.insert(0, os.path.dirname(__file__))
from fixture import Fixture  # noqa: E402

rng = np.random.RandomState(2023)
fx = Fixture()


def add_img(name, im):
    fx.add(name, torch.from_numpy(np.asarray(im, dtype=np.uint8).astype(np.int32)))


def f32(v):
    return float(np.float32(v))


H, W = 19, 23
yy, xx = np.mgrid[0:H, 0:W]
a = np.stack([xx * 11, yy * 13, (xx + yy) * 6], axis=2).astype(np.float64)
a += rng.randint(-50, 51, size=a.shape)
imgs = {
    "a": Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB"),
    "b": Image.fromarray(rng.randint(60, 180, size=(H, W, 3)).astype(np.uint8), "RGB"),
    "c": Image.fromarray((rng.randint(0, 6, size=(H, W, 3)) * 40 + 10).astype(np.uint8), "RGB"),
    "t": Image.fromarray(rng.randint(0, 256, size=(2, 5, 3)).astype(np.uint8), "RGB"),
}
for k, im in imgs.items():
    add_img(f"img.{k}", im)
    add_img(f"autocontrast.{k}", ImageOps.autocontrast(im))
    add_img(f"equalize.{k}", ImageOps.equalize(im))
A = imgs["a"]
for bits in (4, 5, 6, 7):
    add_img(f"posterize.{bits}.a", ImageOps.posterize(A, bits))
for thr in (1, 100, 200, 255):
    add_img(f"solarize.{thr}.a", ImageOps.solarize(A, thr))
for i, f in enumerate((0.05, 0.5, 0.95)):
    f = f32(f)
    fx.add(f"sharpness.{i}.f", torch.tensor([f], dtype=torch.float32))
    add_img(f"sharpness.{i}.out", ImageEnhance.Sharpness(A).enhance(f))
add_img("sharpness.t.out", ImageEnhance.Sharpness(imgs["t"]).enhance(f32(0.3)))


# The released op bodies with the drawn value v passed in (augment list order).
def op_apply(img, op, v):
    if op == 0:
        return img
    if op == 1:
        return ImageOps.autocontrast(img)
    if op == 2:
        return ImageOps.equalize(img)
    if op == 3:
        return img.filter(ImageFilter.GaussianBlur(radius=v))
    if op == 4:
        return ImageEnhance.Contrast(img).enhance(v)
    if op == 5:
        return ImageEnhance.Brightness(img).enhance(v)
    if op == 6:
        return ImageEnhance.Color(img).enhance(v)
    if op == 7:
        return ImageEnhance.Sharpness(img).enhance(v)
    if op == 8:
        return ImageOps.posterize(img, int(v))
    if op == 9:
        return ImageOps.solarize(img, int(v))
    if op == 10:
        h, s, val = img.convert("HSV").split()
        np_h = np.array(h, dtype=np.uint8)
        with np.errstate(over="ignore"):
            np_h += np.uint8(v * 255)
        h = Image.fromarray(np_h, "L")
        return Image.merge("HSV", (h, s, val)).convert("RGB")
    raise ValueError(op)


CHAINS = [
    ([4, 8, 10], [0.3, 5, 0.21]),
    ([7, 9, 1], [0.8, 128, 0]),
    ([2, 3, 6], [0, 1.3, 0.6]),
    ([5, 10, 0], [0.12, -0.37, 0]),
    ([9, 2, 7], [17, 0, 0.07]),
]
for i, (ops, vs) in enumerate(CHAINS):
    vs = [f32(v) for v in vs]
    out = A
    for op, v in zip(ops, vs):
        out = op_apply(out, op, v)
    fx.add(f"chain.{i}.ops", torch.tensor(ops, dtype=torch.int32))
    fx.add(f"chain.{i}.v", torch.tensor(vs, dtype=torch.float32))
    add_img(f"chain.{i}.out", out)

fx.write(os.path.join(os.path.dirname(__file__), "..", "data", "intensity.bin"))
