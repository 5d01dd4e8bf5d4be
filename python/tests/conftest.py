"""Shared pieces of the Python tests: the package from this working tree, the `translocator`
binary (env TRANSLOCATOR_BINARY, default .build/release/translocator; tests that need it skip
without it), a small synthesized data set with its partitions, and seeded random twins."""
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPOSITORY = os.path.dirname(PYTHON_DIR)
sys.path.insert(0, PYTHON_DIR)   # test this tree's package even when another copy is installed

from translocator_torch.model import TransLocatorTwin  # noqa: E402

# A small TransLocator: configs/tiny.json's architecture at a size the tests run in milliseconds.
SMALL_CONFIG = {
    "architecture": "translocator", "img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2,
    "num_heads": 2, "mlp_ratio": 4.0, "segmentation_branch": True, "multimodal_feature_fusion": True,
    "modality_attention": True, "modality_attention_hidden": [8],
    "head_hidden": {"coarse": [], "middle": [24], "fine": [40], "scene": []}, "scene_classes": 3,
}
VIT_MT_CONFIG = {**SMALL_CONFIG, "architecture": "vit-mt", "segmentation_branch": False,
                 "multimodal_feature_fusion": False, "modality_attention": False, "scene_classes": 0}


def random_twin(config: dict, head_sizes: dict[str, int], seed: int) -> TransLocatorTwin:
    """A twin whose every parameter is random and O(1) in effect (N(0, 1/fan_in), layer-norm gains
    1 + N(0, 0.2^2)), as scripts/model/make_twin_fixture.py randomizes: timm's init (zero biases,
    unit gains, 0.02 weights) gives near-uniform probabilities in which a broken input pipeline
    would hide."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = TransLocatorTwin(config, head_sizes)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
                p.copy_(1 + 0.2 * noise)
            else:
                p.copy_(noise / (p.shape[-1] if p.dim() >= 2 else 16) ** 0.5)
    return model.eval()


def write_png(path: str, samples: np.ndarray, depth: int, colour_type: int, palette: bytes | None = None) -> None:
    """A PNG written by hand, for the bit depths Pillow does not write: samples [H, W] (gray or
    palette indices) packed `depth` bits each, most significant first (PNG spec 7.2)."""
    height, width = samples.shape
    per_byte = 8 // depth
    rows = []
    for row in samples:
        packed = bytearray((width + per_byte - 1) // per_byte)
        for x, value in enumerate(row):
            packed[x // per_byte] |= int(value) << (8 - depth - (x % per_byte) * depth)
        rows.append(b"\x00" + bytes(packed))   # filter type 0

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    body = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0))
    if palette is not None:
        body += chunk(b"PLTE", palette)
    body += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + body)


@pytest.fixture(scope="session")
def binary() -> str:
    path = os.environ.get("TRANSLOCATOR_BINARY", os.path.join(REPOSITORY, ".build", "release", "translocator"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"no translocator binary at {path}: build it with 'swift build -c release' "
                    f"or set TRANSLOCATOR_BINARY")
    return path


def run(binary: str, *arguments: str) -> str:
    """Runs `translocator ARGUMENTS`; its stdout, or a failure showing the command and its stderr."""
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    assert result.returncode == 0, f"translocator {' '.join(arguments)} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def synthetic(binary, tmp_path_factory) -> dict[str, str]:
    """120 synthesized 96-pixel photos with maps (seed 1) and partitions of their training rows
    small enough to give tens of cells per level."""
    root = tmp_path_factory.mktemp("synthetic")
    data, partitions = str(root / "data"), str(root / "partitions")
    run(binary, "synthesize", "--out", data, "--images", "120", "--seed", "1")
    run(binary, "partition", "--manifest", os.path.join(data, "train.csv"), "--out", partitions,
        "--min", "1", "--max", "12,6,3")
    return {"root": str(root), "data": data, "partitions": partitions}
