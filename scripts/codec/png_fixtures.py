#!/usr/bin/env python3
"""PNG decoder fixtures: a corpus of small PNGs and the RGB pixels Pillow decodes from them.

Writes Tests/ImageCodecTests/Fixtures/png/: NAME.png, NAME.rgb (raw 8-bit RGB, row-major, what
`PNGDecoder.decode` must return), NAME.idx for gray/palette files of depth <= 8 (raw sample
values, what `PNGDecoder.decodeIndices` must return) and manifest.json.

The PNGs are written by the small encoder below rather than Pillow's, so that the corpus holds
what Pillow's encoder never writes: Adam7 interlacing, every filter type (row r uses filter
r % 5, and "auto" rows pick the smallest), stored/fixed/dynamic deflate (zlib levels 0, 1, 9),
IDAT split into several chunks, palette indices past the PLTE's end, tRNS for every type that
allows it. A few files from Pillow's own encoder are added as well.

Expected pixels come from Pillow: `Image.open(f).convert("RGB")`, except 16-bit gray, where
Pillow clips to 255 and we keep the high byte (the `decode` contract); there the script takes the high byte
of the source samples, and checks that Pillow at least agrees on 8-bit gray.

Run from the repository root: python3 scripts/codec/png_fixtures.py   (seeded; Pillow version
recorded in manifest.json).
"""
import io, json, os, struct, zlib
import numpy as np
import PIL
from PIL import Image

OUT = "Tests/ImageCodecTests/Fixtures/png"
rng = np.random.default_rng(6)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def pack_row(samples, depth):
    """samples: 1-D uint array of one row's samples -> bytes at `depth` bits, MSB first."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // depth
    out = bytearray((len(samples) * depth + 7) // 8)
    for i, v in enumerate(samples):
        out[i // per] |= int(v) << (8 - depth - (i % per) * depth)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind, row, prior, bpp):
    out = bytearray(len(row))
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b = prior[i]
        c = prior[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (row[i] - pred) & 0xFF
    return bytes(out)


def encode(arr, depth, color, interlace=False, level=9, idat_parts=1, plte=None, trns=None, filters="cycle"):
    """arr: HxWxC (or HxW) array of samples at their native scale."""
    h, w = arr.shape[:2]
    arr = arr.reshape(h, w, -1)
    bpp = max(1, CHANNELS[color] * depth // 8)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    r = 0
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        prior = bytes(len(pack_row(sub[0].reshape(-1), depth)))
        for row in sub:
            packed = pack_row(row.reshape(-1), depth)
            if filters == "cycle":
                kind = r % 5
            else:  # smallest sum of absolute values, like libpng's heuristic
                kind = min(range(5), key=lambda k: sum(min(v, 256 - v) for v in filter_row(k, packed, prior, bpp)))
            raw += bytes([kind]) + filter_row(kind, packed, prior, bpp)
            prior = packed
            r += 1
    z = zlib.compress(bytes(raw), level)
    s = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 1 if interlace else 0))
    s += chunk(b"tEXt", b"Comment\x00translocator fixture")
    if plte is not None:
        s += chunk(b"PLTE", bytes(plte))
    if trns is not None:
        s += chunk(b"tRNS", bytes(trns))
    cut = [len(z) * k // idat_parts for k in range(idat_parts + 1)]
    for k in range(idat_parts):
        s += chunk(b"IDAT", z[cut[k]:cut[k + 1]])
    return s + chunk(b"IEND", b"")


manifest = {"pillow": PIL.__version__, "numpy": np.__version__, "files": []}
os.makedirs(OUT, exist_ok=True)


def add(name, data, source_samples=None, color=None, depth=None):
    with open(f"{OUT}/{name}.png", "wb") as f:
        f.write(data)
    im = Image.open(io.BytesIO(data))
    rgb = np.asarray(im.convert("RGB"))
    how = "pillow"
    if color == 0 and depth == 16:
        hi = (source_samples >> 8).astype(np.uint8)
        rgb = np.repeat(hi.reshape(hi.shape[0], hi.shape[1], 1), 3, axis=2)
        how = "high byte of the 16-bit source (Pillow clips I;16 to 255)"
    with open(f"{OUT}/{name}.rgb", "wb") as f:
        f.write(np.ascontiguousarray(rgb).tobytes())
    entry = {"name": name, "width": im.size[0], "height": im.size[1], "mode": im.mode, "expected": how}
    if color in (0, 3) and depth is not None and depth <= 8:
        with open(f"{OUT}/{name}.idx", "wb") as f:
            f.write(source_samples.astype(np.uint8).tobytes())
        entry["indices"] = True
    manifest["files"].append(entry)


sizes = [(1, 1), (3, 5), (13, 7), (37, 29)]
for color, depths in [(0, [1, 2, 4, 8, 16]), (2, [8, 16]), (3, [1, 2, 4, 8]), (4, [8, 16]), (6, [8, 16])]:
    for depth in depths:
        for (w, h) in sizes:
            for interlace in (False, True):
                if (w, h) == (1, 1) and interlace:
                    continue
                top = (1 << depth) - 1
                plte = trns = None
                if color == 3:
                    entries = min(1 << depth, 200)
                    plte = rng.integers(0, 256, size=entries * 3).tolist()
                    # indices up to 2^depth - 1 may run past a short palette: Pillow gives black
                    arr = rng.integers(0, min(top, entries + 2) + 1, size=(h, w))
                    if (w, h) == (13, 7):
                        trns = rng.integers(0, 256, size=min(entries, 5)).tolist()
                else:
                    arr = rng.integers(0, top + 1, size=(h, w, CHANNELS[color]))
                    if (w, h) == (37, 29):   # smooth gradient: real matches for the compressor
                        yy, xx = np.mgrid[0:h, 0:w]
                        grad = (xx * 7 + yy * 3) * top // (w * 7 + h * 3)
                        arr[..., 0] = grad
                    if color in (0, 2) and (w, h) == (13, 7):
                        trns = list(struct.pack(">H", 1)) * (1 if color == 0 else 3)
                level = [0, 1, 9][(w + depth + color) % 3]
                parts = 3 if (w, h) == (37, 29) else 1
                name = f"c{color}_d{depth}_{w}x{h}" + ("_i" if interlace else "") + f"_z{level}"
                data = encode(arr, depth, color, interlace, level, parts, plte, trns,
                              filters="auto" if (w, h) == (13, 7) else "cycle")
                add(name, data, source_samples=arr.reshape(h, w, -1)[..., 0] if color in (0, 3) else None,
                    color=color, depth=depth)

# Pillow's own encoder, a photo-like image (smooth + noise): L, RGB, RGBA, P
yy, xx = np.mgrid[0:41, 0:64]
photo = np.stack([(xx * 4) % 256, (yy * 6) % 256, (xx + yy) * 2 % 256], axis=2).astype(np.int16)
photo = np.clip(photo + rng.integers(-6, 7, size=photo.shape), 0, 255).astype(np.uint8)
for mode in ["L", "RGB", "RGBA", "P"]:
    im = Image.fromarray(photo, "RGB")
    im = im.convert(mode) if mode != "P" else im.quantize(64)
    b = io.BytesIO()
    im.save(b, "PNG", optimize=(mode == "RGB"))
    idx = np.asarray(im) if mode in ("L", "P") else None
    add(f"pillow_{mode}_64x41", b.getvalue(), source_samples=idx, color=0 if mode == "L" else (3 if mode == "P" else None), depth=8)

# The truncation test's subject: small, interlaced, palette, several IDATs.
arr = rng.integers(0, 16, size=(9, 11))
add("truncation_subject", encode(arr, 4, 3, True, 9, 2, rng.integers(0, 256, size=48).tolist()),
    source_samples=arr, color=3, depth=4)

# Raw zlib streams for the inflate tests: NAME.zlib and the NAME.bin it must inflate to.
# Text-like data with long-distance repeats (distances up to 32 KiB), runs (distance 1),
# incompressible noise (stored blocks at level 0, literal-heavy otherwise), and empty input.
words = [bytes(rng.integers(97, 123, size=rng.integers(2, 9)).astype(np.uint8)) for _ in range(300)]
text = b" ".join(words[i] for i in rng.integers(0, 300, size=12000))[:70000]
runs = b"".join(bytes([int(v)]) * int(n) for v, n in zip(rng.integers(0, 256, 400), rng.integers(1, 300, 400)))
noise = bytes(rng.integers(0, 256, size=20000).astype(np.uint8))
streams = {"text": text, "runs": runs, "noise": noise, "mixed": text[:20000] + noise[:5000] + runs + text[:30000], "empty": b""}
os.makedirs(f"{OUT}/zlib", exist_ok=True)
for name, payload in streams.items():
    for level in (0, 1, 6, 9):
        with open(f"{OUT}/zlib/{name}_z{level}.zlib", "wb") as f:
            f.write(zlib.compress(payload, level))
    with open(f"{OUT}/zlib/{name}.bin", "wb") as f:
        f.write(payload)
# Z_FIXED forces fixed-Huffman blocks, which zlib picks only for short inputs otherwise.
for name in ("text", "runs"):
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_FIXED)
    with open(f"{OUT}/zlib/{name}_fixed.zlib", "wb") as f:
        f.write(c.compress(streams[name]) + c.flush())

with open(f"{OUT}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=1)
print(len(manifest["files"]), "files;", sum(os.path.getsize(f"{OUT}/{n}") for n in os.listdir(OUT)), "bytes")
