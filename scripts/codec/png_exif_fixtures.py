#!/usr/bin/env python3
"""PNG EXIF-orientation fixtures: PNGs with an eXIf chunk and the pixels Pillow shows for them.

Writes Tests/ImageCodecTests/Fixtures/png-exif/: NAME.png and NAME.rgb, the raw 8-bit RGB of
`ImageOps.exif_transpose(Image.open(f)).convert("RGB")` (the `decode` contract, docs/ARCHITECTURE.md: it gives exactly
that), with the width and height in manifest.json. Cases: each orientation 2-8 with the eXIf
chunk before IDAT; one after IDAT (Pillow reads it when the image loads); a payload that keeps
the "Exif\\0\\0" prefix (some writers add it; Pillow strips it); big- and little-endian TIFF; a
damaged payload and orientation 9, which leave the pixels as stored.

Run from the repository root: python3 scripts/codec/png_exif_fixtures.py  (seeded).
"""
import io, json, os, struct, zlib
import numpy as np
import PIL
from PIL import Image, ImageOps

OUT = "Tests/ImageCodecTests/Fixtures/png-exif"
rng = np.random.default_rng(11)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiff(orientation, big_endian=True):
    """A minimal TIFF structure: IFD0 with one SHORT entry, Orientation (0x0112)."""
    e = ">" if big_endian else "<"
    header = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    return header + ifd + struct.pack(e + "I", 0)


def png(pixels, exif, after_idat=False):
    h, w, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(raw, 9))
    exif_chunk = chunk(b"eXIf", exif)
    body = idat + exif_chunk if after_idat else exif_chunk + idat
    return b"\x89PNG\r\n\x1a\n" + ihdr + body + chunk(b"IEND", b"")


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {f"orientation{o}": (tiff(o), False) for o in range(2, 9)}
    cases["after-idat-orientation6"] = (tiff(6), True)
    cases["exif-prefix-orientation8"] = (b"Exif\x00\x00" + tiff(8), False)
    cases["little-endian-orientation5"] = (tiff(5, big_endian=False), False)
    cases["damaged-payload"] = (b"MM\x00\x2a\x00\x00\xff\xff", False)
    cases["orientation9-ignored"] = (tiff(9), False)
    manifest = {"pillow": PIL.__version__, "cases": []}
    for name, (exif, after_idat) in cases.items():
        pixels = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)     # 7 wide, 5 high: transposes show
        data = png(pixels, exif, after_idat)
        shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
        with open(f"{OUT}/{name}.png", "wb") as f:
            f.write(data)
        with open(f"{OUT}/{name}.rgb", "wb") as f:
            f.write(shown.tobytes())
        manifest["cases"].append({"name": name, "width": shown.width, "height": shown.height})
    with open(f"{OUT}/manifest.json", "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
