"""DeepLabV3+ on a ResNet in PyTorch, with the module names of UniMatch's
DeepLabV3Plus state_dict (LiheYoung/UniMatch@0324f3d:model/semseg/deeplabv3plus.py,
model/backbone/resnet.py), generalised as semiseg generalises it (widths,
torchvision or deep stem, BasicBlock with dilation, configurable ASPP).
Shared by tests/ref/gen_model.py (the parity fixture of tests/test_model.c)
and tests/ref/gen_allspark.py (AllSpark's module between c4 and the ASPP,
through DeepLab.decode, as sg_deeplab_decode runs the head alone).
"""
import torch
import torch.nn.functional as F
from torch import nn


def conv(cin, cout, k, stride=1, dil=1):
    return nn.Conv2d(cin, cout, k, stride, padding=dil * (k - 1) // 2, dilation=dil, bias=False)


class Block(nn.Module):
    """torchvision BasicBlock / Bottleneck (v1.5); a dilated BasicBlock dilates both 3x3."""

    def __init__(self, bottle, inplanes, planes, stride, dil, down):
        super().__init__()
        self.bottle = bottle
        out = planes * (4 if bottle else 1)
        if bottle:
            self.conv1, self.bn1 = conv(inplanes, planes, 1), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv(planes, planes, 3, stride, dil), nn.BatchNorm2d(planes)
            self.conv3, self.bn3 = conv(planes, out, 1), nn.BatchNorm2d(out)
        else:
            self.conv1, self.bn1 = conv(inplanes, planes, 3, stride, dil), nn.BatchNorm2d(planes)
            self.conv2, self.bn2 = conv(planes, planes, 3, 1, dil), nn.BatchNorm2d(planes)
        self.downsample = (nn.Sequential(conv(inplanes, out, 1, stride), nn.BatchNorm2d(out))
                           if down else None)

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        if self.bottle:
            h = F.relu(self.bn2(self.conv2(h)))
            h = self.bn3(self.conv3(h))
        else:
            h = self.bn2(self.conv2(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    LAYERS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3]}

    def __init__(self, depth, widths, deep_stem, os_, multi_grid):
        super().__init__()
        bottle = depth >= 50
        w0 = widths[0]
        if deep_stem:
            self.conv1 = nn.Sequential(conv(3, w0, 3, 2), nn.BatchNorm2d(w0), nn.ReLU(),
                                       conv(w0, w0, 3), nn.BatchNorm2d(w0), nn.ReLU(),
                                       conv(w0, 2 * w0, 3))
            self.inplanes = 2 * w0
        else:
            self.conv1 = nn.Conv2d(3, w0, 7, 2, 3, bias=False)
            self.inplanes = w0
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        # torchvision's _make_layer with replace_stride_with_dilation
        rswd = {16: [False, False, True], 8: [False, True, True]}[os_]
        self.dilation = 1
        for s in range(4):
            stride, dilate = (1, False) if s == 0 else (2, rswd[s - 1])
            grids = [2, 2, 4] if (s == 3 and multi_grid) else [1] * 32
            prev = self.dilation
            if dilate:
                self.dilation *= stride
                stride = 1
            out = widths[s] * (4 if bottle else 1)
            blocks = []
            for i in range(self.LAYERS[depth][s]):
                down = i == 0 and (stride != 1 or self.inplanes != out)
                blocks.append(Block(bottle, self.inplanes, widths[s], stride if i == 0 else 1,
                                    (prev if i == 0 else self.dilation) * grids[i], down))
                self.inplanes = out
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        feats = []
        for s in range(4):
            h = getattr(self, f"layer{s + 1}")(h)
            feats.append(h)
        return feats


def convbnrelu(cin, cout, k, dil=1):
    return nn.Sequential(conv(cin, cout, k, 1, dil), nn.BatchNorm2d(cout), nn.ReLU())


class ASPP(nn.Module):
    def __init__(self, cin, a, rates):
        super().__init__()
        self.b0 = convbnrelu(cin, a, 1)
        self.b1, self.b2, self.b3 = (convbnrelu(cin, a, 3, r) for r in rates)
        self.b4 = nn.Module()
        self.b4.gap = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv(cin, a, 1), nn.BatchNorm2d(a),
                                    nn.ReLU())
        self.project = convbnrelu(5 * a, a, 1)

    def forward(self, x):
        size = x.shape[-2:]
        pool = F.interpolate(self.b4.gap(x), size, mode="bilinear", align_corners=True)
        return self.project(torch.cat([self.b0(x), self.b1(x), self.b2(x), self.b3(x), pool], 1))


class DeepLab(nn.Module):
    def __init__(self, depth, widths, deep_stem, os_, multi_grid, aspp, rates, reduce, dec, k):
        super().__init__()
        self.backbone = ResNet(depth, widths, deep_stem, os_, multi_grid)
        mult = 4 if depth >= 50 else 1
        self.head = ASPP(widths[3] * mult, aspp, rates)
        self.reduce = convbnrelu(widths[0] * mult, reduce, 1)
        self.fuse = nn.Sequential(conv(reduce + aspp, dec, 3), nn.BatchNorm2d(dec), nn.ReLU(),
                                  conv(dec, dec, 3), nn.BatchNorm2d(dec), nn.ReLU())
        self.classifier = nn.Conv2d(dec, k, 1, bias=True)

    def forward(self, x, masks=None):
        feats = self.backbone(x)
        c1, c4 = feats[0], feats[3]
        if masks is not None:
            # Dropout2d(0.5) with semiseg's masks: x * mask / (1 - p)
            (m1, m4), p = masks
            c1 = torch.cat([c1, c1 * m1 / (1 - p)])
            c4 = torch.cat([c4, c4 * m4 / (1 - p)])
        logits, feature = self.decode(c1, c4, x.shape[-2:])
        return logits, feature, feats

    def decode(self, c1, c4, size):
        """The head after the encoder: ASPP on c4, fusion with c1, the
        classifier; the logits resized to `size` and the decoder feature."""
        y = F.interpolate(self.head(c4), c1.shape[-2:], mode="bilinear", align_corners=True)
        feature = self.fuse(torch.cat([self.reduce(c1), y], 1))
        logits = F.interpolate(self.classifier(feature), size, mode="bilinear", align_corners=True)
        return logits, feature
