#!/usr/bin/env python3
"""Times `translocator bench decode` beside Pillow on the same 12-megapixel JPEGs, same run.

Makes (once, in --dir) a photographic-looking 4000x3000 image: data/kauai.png upscaled bicubic
plus Gaussian noise (sigma 6), saved by Pillow at quality 90, 4:2:0, baseline and progressive.
Then, best of --repeats each:
  full decode:   Pillow Image.open(BytesIO(data)).load()       vs  translocator bench decode F
  scaled 1/8 + resize to a 256 short side:
                 Pillow draft("RGB", (w//8, h//8)) + resize(BILINEAR, reducing_gap=None)
                                                                vs  translocator bench decode F --scale 8 --resize 256
                 (ours resizes with a plain box average, see BenchDecodeCommand.swift)
Prints each time and the ratio ours / Pillow (lower is better; 1.0 = as fast).

Usage: python3 scripts/bench/decode.py [--bin .build/release/translocator] [--dir /tmp/translocator-bench]
"""
import argparse
import io
import json
import os
import subprocess
import time

import numpy as np
from PIL import Image, features

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def make_images(directory):
    os.makedirs(directory, exist_ok=True)
    paths = {"baseline 4:2:0": os.path.join(directory, "photo12mp_baseline420.jpg"),
             "progressive 4:2:0": os.path.join(directory, "photo12mp_progressive420.jpg")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    im = Image.open(os.path.join(ROOT, "data", "kauai.png")).convert("RGB").resize((4000, 3000), Image.BICUBIC)
    a = np.asarray(im).astype(np.float32) + np.random.default_rng(1).normal(0, 6, (3000, 4000, 3))
    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))
    im.save(paths["baseline 4:2:0"], quality=90, subsampling=2)
    im.save(paths["progressive 4:2:0"], quality=90, subsampling=2, progressive=True)
    return paths


def best_ms(fn, repeats):
    fn()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def pillow_full(data):
    im = Image.open(io.BytesIO(data))
    im.load()


def pillow_scaled(data, short_side=256):
    im = Image.open(io.BytesIO(data))
    w, h = im.size
    im.draft("RGB", (w // 8, h // 8))
    factor = short_side / min(w, h)
    im.resize((round(w * factor), round(h * factor)), Image.BILINEAR)


def ours(binary, path, repeats, extra=()):
    out = subprocess.run([binary, "bench", "decode", path, "--json", "--repeats", str(repeats), *extra],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["milliseconds"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "translocator"))
    parser.add_argument("--dir", default="/tmp/translocator-bench")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    paths = make_images(args.dir)
    print(f"Pillow {Image.__version__ if hasattr(Image, '__version__') else ''} libjpeg-turbo {features.version('libjpeg_turbo')}, "
          f"{os.cpu_count()} CPUs, best of {args.repeats}")
    print(f"{'case':44} {'Pillow ms':>10} {'ours ms':>10} {'ratio':>7}")
    for label, path in paths.items():
        data = open(path, "rb").read()
        p = best_ms(lambda: pillow_full(data), args.repeats)
        o = ours(args.bin, path, args.repeats)
        print(f"{label + ' full decode':44} {p:10.1f} {o:10.1f} {o / p:7.2f}")
        p = best_ms(lambda: pillow_scaled(data), args.repeats)
        o = ours(args.bin, path, args.repeats, ["--scale", "8", "--resize", "256"])
        print(f"{label + ' 1/8 + resize to 256':44} {p:10.1f} {o:10.1f} {o / p:7.2f}")


if __name__ == "__main__":
    main()
