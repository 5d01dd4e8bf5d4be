"""Makes the TransLocator forward/backward fixtures the Swift model is tested against.

For a small config at batch 2, in float64 (so the fixture is the exact answer to ~1e-12 and our
float32 result is held to it within 1e-4 relative), records: every parameter (named as the
model file names them), the inputs, the labels, all four heads' logits, the eq. 8 loss, the
modality weights, and every parameter's gradient of that loss (`grad.<name>`). Stored as F32
safetensors with `__metadata__`: config (the "model" object plus head sizes and loss weights),
versions, seed.

  python3 scripts/model/make_twin_fixture.py --out Tests/TransLocatorTests/Fixtures
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(__file__))
import timm  # noqa: E402
from twin import TransLocatorTwin, multitask_loss  # noqa: E402

SMALL = {
    "architecture": "translocator", "img_size": 32, "patch_size": 8, "embed_dim": 32, "depth": 2,
    "num_heads": 2, "mlp_ratio": 4.0, "segmentation_branch": True, "multimodal_feature_fusion": True,
    "modality_attention": True, "modality_attention_hidden": [8],
    "head_hidden": {"coarse": [], "middle": [24], "fine": [40], "scene": []}, "scene_classes": 3,
}
HEAD_SIZES = {"coarse": 5, "middle": 7, "fine": 11}
LOSS_WEIGHTS = {"middle": 0.3, "fine": 0.2, "scene": 1.0}


def randomize(model, generator):
    """Every parameter random (not timm's init, whose zeros and ones would hide bugs in biases
    and layer-norm gains)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
            else:
                fan_in = p.shape[-1] if p.dim() >= 2 else 16
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) / fan_in ** 0.5)


def make(name, model_config, out_dir, seed):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = TransLocatorTwin(model_config, HEAD_SIZES).double()
    randomize(model, g)
    batch, size = 2, model_config["img_size"]
    rgb = torch.randn(batch, 3, size, size, generator=g, dtype=torch.float64)
    seg = torch.randn(batch, 3, size, size, generator=g, dtype=torch.float64)
    labels = {level: torch.randint(0, HEAD_SIZES[level], (batch,), generator=g) for level in HEAD_SIZES}
    if model_config["scene_classes"] > 0:
        labels["scene"] = torch.randint(0, model_config["scene_classes"], (batch,), generator=g)

    f_mm, w = model.features(rgb, seg if model.has_seg else None)
    logits = {k: head(f_mm) for k, head in model.heads.items()}
    loss = multitask_loss(logits, labels, LOSS_WEIGHTS)
    loss.backward()

    tensors = {}
    for pname, p in model.named_parameters():
        tensors[pname] = p.detach().float().contiguous()
        tensors["grad." + pname] = p.grad.detach().float().contiguous()
    tensors["input.rgb"] = rgb.float()
    if model.has_seg:
        tensors["input.seg"] = seg.float()
    for k, v in labels.items():
        tensors["labels." + k] = v.float()
    for k, v in logits.items():
        tensors["logits." + k] = v.detach().float()
    tensors["features"] = f_mm.detach().float()
    if w is not None:
        tensors["modality_weights"] = w.detach().float()
    tensors["loss"] = loss.detach().float().reshape(1)
    metadata = {
        "config": json.dumps({"model": model_config, "head_sizes": HEAD_SIZES, "loss_weights": LOSS_WEIGHTS}),
        "generator": "scripts/model/make_twin_fixture.py",
        "torch": torch.__version__, "timm": timm.__version__, "seed": str(seed), "precision": "float64 stored as F32",
    }
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(tensors, path, metadata=metadata)
    print(path, os.path.getsize(path), "bytes, loss", float(loss.detach()))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="Tests/TransLocatorTests/Fixtures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    make("twin-translocator", SMALL, args.out, seed=4)
    make("twin-vit-mt", {**SMALL, "architecture": "vit-mt", "segmentation_branch": False,
                         "multimodal_feature_fusion": False, "modality_attention": False}, args.out, seed=5)
    make("twin-seg-no-mff-no-scene", {**SMALL, "multimodal_feature_fusion": False, "modality_attention": False,
                                      "scene_classes": 0}, args.out, seed=6)


if __name__ == "__main__":
    main()
