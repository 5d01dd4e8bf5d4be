#!/usr/bin/env python3
"""Preprocessing fixtures: what torchvision (on PIL images) and Pillow make of small images.

Writes Tests/ImageCodecTests/Fixtures/preprocess/: source.rgb (37x29 RGB, seeded: smooth
gradients, noise and a few hard edges), seg.idx (37x29 class indices 0...149), one raw file per
case (8-bit RGB / class indices / float32 little-endian CHW) and cases.json with each case's
operation, parameters and output size.

Environment: Pillow, torch (CPU) and torchvision 0.28 installed with --no-deps. The PyPI
torchvision wheel is a CUDA build whose `torchvision/_meta_registrations.py` fails to import
beside the CPU torch; on this machine its `@torch.library.register_fake(...)` decorators were
guarded (registration skipped when the op is missing) — a local patch, not part of this repository
(see scripts/setup-python.sh). Only torchvision.transforms.functional on PIL images is used here,
which never reaches those ops.

Run from the repository root: python3 scripts/codec/preprocess_fixtures.py
"""
import json, os
import numpy as np
import PIL
from PIL import Image
import torch, torchvision
import torchvision.transforms.functional as F
from torchvision import transforms as T

OUT = "Tests/ImageCodecTests/Fixtures/preprocess"
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(66)
W, H = 37, 29
yy, xx = np.mgrid[0:H, 0:W]
src = np.stack([xx * 255 // (W - 1), yy * 255 // (H - 1), (xx * 5 + yy * 3) % 256], axis=2).astype(np.int16)
src = src + rng.integers(-20, 21, size=src.shape)
src[10:14, 5:30] = [250, 20, 30]           # hard edges: ringing for bicubic, clipping
src[20:, 30:] = [3, 3, 3]
src = np.clip(src, 0, 255).astype(np.uint8)
img = Image.fromarray(src, "RGB")
seg = rng.integers(0, 150, size=(H, W)).astype(np.uint8)
seg[5:15, 10:20] = 2
segimg = Image.fromarray(seg, "L")
with open(f"{OUT}/source.rgb", "wb") as f: f.write(src.tobytes())
with open(f"{OUT}/seg.idx", "wb") as f: f.write(seg.tobytes())

cases = []
def add(name, op, out, **params):
    if isinstance(out, torch.Tensor):
        arr = out.numpy().astype("<f4"); kind = "f32"; shape = list(arr.shape)
    else:
        arr = np.asarray(out); kind = "u8"; shape = list(arr.shape)
        out_size = out.size
    with open(f"{OUT}/{name}.raw", "wb") as f: f.write(np.ascontiguousarray(arr).tobytes())
    cases.append({"name": name, "op": op, "params": params, "kind": kind, "shape": shape})

BIL, BIC, NEAR = T.InterpolationMode.BILINEAR, T.InterpolationMode.BICUBIC, T.InterpolationMode.NEAREST
for filt, mode in (("bilinear", BIL), ("bicubic", BIC)):
    for short in (13, 8, 64, 29, 1):
        add(f"resize_{filt}_short{short}", "resizeShort", T.Resize(short, interpolation=mode)(img), filter=filt, shortSide=short)
    for (w, h) in ((20, 50), (5, 3), (37, 30), (100, 11)):
        add(f"resize_{filt}_{w}x{h}", "resize", T.Resize((h, w), interpolation=mode)(img), filter=filt, width=w, height=h)
for (w, h) in ((13, 9), (80, 61), (37, 5)):
    add(f"resize_nearest_{w}x{h}", "resizeNearest", img.resize((w, h), Image.NEAREST), width=w, height=h)
    add(f"seg_resize_{w}x{h}", "segResize", T.Resize((h, w), interpolation=NEAR)(segimg), width=w, height=h)
add("seg_resize_short11", "segResizeShort", T.Resize(11, interpolation=NEAR)(segimg), shortSide=11)
for (w, h) in ((20, 15), (36, 28), (35, 27), (37, 29), (40, 31), (41, 20), (1, 1)):
    add(f"center_crop_{w}x{h}", "centerCrop", T.CenterCrop((h, w))(img), width=w, height=h)
crops = T.TenCrop((13, 17))(img)
for i, c in enumerate(crops):
    add(f"ten_crop_{i}", "tenCrop", c, width=17, height=13, index=i)
add("hflip", "hflip", F.hflip(img))
add("seg_hflip", "segHflip", F.hflip(segimg))
for angle in (0.0, 7.3, -12.9, 15.0, -0.4, 90.0, 3.0):
    add(f"rotate_{angle}", "rotate", F.affine(img, angle=angle, translate=[0, 0], scale=1.0, shear=[0.0, 0.0],
                                               interpolation=NEAR, fill=[0.0, 0.0, 0.0]), degrees=angle, fill=[0, 0, 0])
add("rotate_fill", "rotate", F.affine(img, angle=-9.7, translate=[0, 0], scale=1.0, shear=[0.0, 0.0],
                                       interpolation=NEAR, fill=[10.0, 200.0, 30.0]), degrees=-9.7, fill=[10, 200, 30])
# RandomAffine itself, to pin that it calls affine as above: record its drawn angle.
torch.manual_seed(3)
ra = T.RandomAffine(15)
angle = ra.get_params(ra.degrees, None, None, None, [W, H])[0]
torch.manual_seed(3)
add("random_affine", "rotate", ra(img), degrees=angle, fill=[0, 0, 0])
for angle in (11.1, -6.2):
    add(f"seg_rotate_{angle}", "segRotate", F.affine(segimg, angle=angle, translate=[0, 0], scale=1.0, shear=[0.0, 0.0],
                                                      interpolation=NEAR, fill=[0.0]), degrees=angle, fill=0)
for f in (0.0, 0.63, 1.0, 1.37, 2.5):
    add(f"brightness_{f}", "brightness", F.adjust_brightness(img, f), factor=f)
    add(f"contrast_{f}", "contrast", F.adjust_contrast(img, f), factor=f)
    add(f"saturation_{f}", "saturation", F.adjust_saturation(img, f), factor=f)
for h in (-0.5, -0.1, -0.037, 0.0, 0.02, 0.1, 0.5):
    add(f"hue_{h}", "hue", F.adjust_hue(img, h), factor=h)
# Whole ColorJitter draws: torchvision's own forward with a seeded generator, params recorded.
cj = T.ColorJitter(0.4, 0.4, 0.4, 0.1)
for seed in (1, 2, 3):
    torch.manual_seed(seed)
    order, b, c, s, h = cj.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)
    torch.manual_seed(seed)
    add(f"color_jitter_{seed}", "colorJitter", cj(img), order=[int(i) for i in order], brightness=b, contrast=c, saturation=s, hue=h)
add("normalize", "normalize", F.normalize(F.to_tensor(img), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))

with open(f"{OUT}/cases.json", "w") as f:
    json.dump({"pillow": PIL.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
               "width": W, "height": H, "cases": cases}, f, indent=1)
print(len(cases), "cases")
