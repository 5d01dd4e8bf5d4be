#!/usr/bin/env python3
"""Generates the JPEG test corpus under Tests/ImageCodecTests/Fixtures/jpeg/.

Each case is a small JPEG plus the pixels Pillow gives for it,
ImageOps.exif_transpose(im).convert("RGB").tobytes(), stored raw as NAME.rgb (or, for a scaled
case, NAME.sN.rgb from im.draft("RGB", (w/N, h/N)) before converting). manifest.json lists
every case with its size and the tool and versions that made it.

Encoders: Pillow (baseline/progressive, 4:4:4, 4:2:2, 4:2:0, quality, gray, CMYK, EXIF) and
libjpeg-turbo's cjpeg (apt package libjpeg-turbo-progs) for what Pillow cannot write: other
sampling factors, restart intervals, RGB-coded files. Decoding is always Pillow's.

Usage: python3 scripts/codec/jpeg_fixtures.py   (run from the repository root)
"""
import io
import json
import os
import struct
import subprocess
import tempfile

import numpy as np
from PIL import Image, ImageOps, features
import PIL

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
OUT = os.path.join(ROOT, "Tests", "ImageCodecTests", "Fixtures", "jpeg")
KAUAI = os.path.join(ROOT, "data", "kauai.png")
rng = np.random.default_rng(6)
cases = []


def photo(width, height, seed=0):
    """A photographic-looking test image: a Kauai crop with noise, so every frequency occurs."""
    base = Image.open(KAUAI).convert("RGB")
    r = np.random.default_rng(seed)
    x0, y0 = int(r.integers(0, base.width - 64)), int(r.integers(0, base.height - 64))
    crop = base.crop((x0, y0, x0 + 64, y0 + 64)).resize((width, height), Image.BICUBIC)
    a = np.asarray(crop).astype(np.int16) + r.integers(-12, 13, size=(height, width, 3))
    # a few saturated pixels exercise the range limit
    a[r.integers(0, height, 3), r.integers(0, width, 3)] = [255, 0, 255]
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def expected(data, scale=1):
    im = Image.open(io.BytesIO(data))
    if scale > 1:
        # draft() picks the largest of 8, 4, 2 that is <= min(width // w, height // h)
        w, h = im.size
        im.draft("RGB", (w // scale, h // scale))
        assert im.size == ((w + scale - 1) // scale, (h + scale - 1) // scale), (im.size, scale)
    im = ImageOps.exif_transpose(im).convert("RGB")
    return im


def add(name, data, note, scales=(1,)):
    with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
        f.write(data)
    for s in scales:
        im = expected(data, s)
        suffix = "" if s == 1 else f".s{s}"
        with open(os.path.join(OUT, name + suffix + ".rgb"), "wb") as f:
            f.write(im.tobytes())
        cases.append({"name": name, "scale": s, "width": im.width, "height": im.height, "note": note})


def pillow(name, im, scales=(1,), **kw):
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    add(name, buf.getvalue(), "Pillow " + ", ".join(f"{k}={v}" for k, v in kw.items() if k != "exif"), scales)


def cjpeg(name, im, args, scales=(1,)):
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.ppm" if im.mode == "RGB" else "in.pgm")
        im.save(src)
        data = subprocess.run(["cjpeg", *args, src], check=True, capture_output=True).stdout
    add(name, data, "cjpeg " + " ".join(args), scales)


def set_adobe_transform(data, transform):
    i = data.find(b"\xff\xee")
    assert i > 0 and data[i + 4:i + 9] == b"Adobe"
    return data[:i + 15] + bytes([transform]) + data[i + 16:]


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".jpg", ".rgb", ".json")) and not (f.startswith("goexif") and not os.path.exists(
                os.environ.get("GOEXIF_SAMPLE1", "/tmp/jt/goexif/usr/share/gocode/src/github.com/rwcarlsen/goexif/exif/sample1.jpg"))):
            os.remove(os.path.join(OUT, f))

    # Pillow: subsampling x quality x baseline/progressive, odd sizes.
    for sub, tag in [(0, "444"), (1, "422"), (2, "420")]:
        for q in (50, 90, 100):
            pillow(f"pil_{tag}_q{q}", photo(37, 29, q), quality=q, subsampling=sub)
            pillow(f"pil_{tag}_q{q}_prog", photo(45, 23, q + 1), quality=q, subsampling=sub, progressive=True)
    pillow("pil_420_64x64", photo(64, 64, 3), scales=(1, 2, 4, 8), quality=85, subsampling=2)
    pillow("pil_420_61x47_prog", photo(61, 47, 4), scales=(1, 2, 4, 8), quality=85, subsampling=2, progressive=True)
    pillow("pil_444_33x35", photo(33, 35, 5), scales=(1, 2, 4, 8), quality=92, subsampling=0)
    pillow("pil_422_50x18", photo(50, 18, 6), scales=(1, 2, 4, 8), quality=80, subsampling=1)
    for w, h in [(1, 1), (2, 2), (3, 1), (1, 9), (8, 8), (9, 9), (16, 16), (17, 3), (64, 1)]:
        pillow(f"pil_420_{w}x{h}", photo(w, h, w * 100 + h), quality=90, subsampling=2)
        pillow(f"pil_422_{w}x{h}_prog", photo(w, h, w * 101 + h), quality=90, subsampling=1, progressive=True)
    gray = photo(41, 27, 7).convert("L")
    pillow("pil_gray", gray, scales=(1, 2, 4, 8), quality=90)
    pillow("pil_gray_prog", gray, quality=75, progressive=True)
    cmyk = photo(30, 22, 8).convert("CMYK")
    pillow("pil_cmyk", cmyk, scales=(1, 2), quality=90)
    pillow("pil_cmyk_prog", cmyk, quality=90, progressive=True)
    buf = io.BytesIO(); cmyk.save(buf, "JPEG", quality=90)
    add("pil_ycck", set_adobe_transform(buf.getvalue(), 2), "Pillow CMYK with the Adobe transform set to 2 (YCCK)")

    # EXIF orientations 1-8 on a non-square image.
    base = photo(24, 16, 9)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        pillow(f"pil_orientation{o}", base, quality=90, exif=exif.tobytes())

    # cjpeg: sampling factors Pillow cannot write, restart intervals, RGB coding.
    samples = {
        "411": "4x1,1x1,1x1", "440": "1x2,1x1,1x1", "2x1_1x2": "2x1,1x2,1x2", "2x2_1x2_2x1": "2x2,1x2,2x1",
        "4x2": "4x2,1x1,1x1", "3x1": "3x1,1x1,1x1", "3x2": "3x2,1x1,1x1", "1x1_2x2": "1x1,2x2,1x1",
        "1x4": "1x4,1x1,1x1", "2x2_2x1_1x1": "2x2,2x1,1x1",
    }
    for tag, sample in samples.items():
        cjpeg(f"cjpeg_{tag}", photo(43, 37, len(tag)), ["-quality", "88", "-sample", sample], scales=(1, 2, 4, 8))
        cjpeg(f"cjpeg_{tag}_prog", photo(35, 41, len(tag) + 1), ["-quality", "80", "-sample", sample, "-progressive"])
    cjpeg("cjpeg_restart1", photo(40, 24, 10), ["-quality", "90", "-restart", "1B"])
    cjpeg("cjpeg_restart3_444", photo(37, 29, 11), ["-quality", "90", "-sample", "1x1,1x1,1x1", "-restart", "3B"])
    cjpeg("cjpeg_restart2_prog", photo(37, 29, 12), ["-quality", "90", "-progressive", "-restart", "2B"])
    cjpeg("cjpeg_restart_row", photo(53, 35, 13), ["-quality", "70", "-restart", "1"])
    cjpeg("cjpeg_rgb", photo(29, 21, 14), ["-quality", "90", "-rgb"])
    cjpeg("cjpeg_rgb_prog", photo(29, 21, 15), ["-quality", "90", "-rgb", "-progressive"])
    cjpeg("cjpeg_gray_restart", photo(33, 19, 16).convert("L"), ["-quality", "90", "-restart", "2B"])
    cjpeg("cjpeg_optimize", photo(37, 29, 17), ["-quality", "95", "-optimize"])

    # Unsupported on purpose (no expected pixels): arithmetic coding. 12-bit and lossless are
    # patched from a baseline file by the tests.
    with tempfile.TemporaryDirectory() as d:
        photo(16, 16, 18).save(os.path.join(d, "in.ppm"))
        data = subprocess.run(["cjpeg", "-arithmetic", os.path.join(d, "in.ppm")], check=True, capture_output=True).stdout
    with open(os.path.join(OUT, "unsupported_arithmetic.jpg"), "wb") as f:
        f.write(data)

    # A real camera file with EXIF GPS (Beijing), from goexif (BSD-2-clause, see NOTICE.md):
    # Debian's golang-github-rwcarlsen-goexif-dev, exif/sample1.jpg. Copied when present.
    sample = os.environ.get("GOEXIF_SAMPLE1", "/tmp/jt/goexif/usr/share/gocode/src/github.com/rwcarlsen/goexif/exif/sample1.jpg")
    if os.path.exists(sample):
        with open(sample, "rb") as f:
            add("goexif_sample1", f.read(), "goexif exif/sample1.jpg (camera file, EXIF GPS)")

    versions = {"pillow": PIL.__version__, "libjpeg_turbo": features.version("libjpeg_turbo"),
                "cjpeg": subprocess.run(["cjpeg", "-version"], capture_output=True, text=True).stderr.strip()}
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/codec/jpeg_fixtures.py", "versions": versions, "cases": cases}, f, indent=1)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {OUT}")


if __name__ == "__main__":
    main()
