"""Makes `translocator verify-import` fixtures from timm's own VisionTransformer.

Each file holds a timm-named state dict (random, non-trivial values), an `input` [B,3,H,W]
(already normalized), timm's `pre_logits` (the CLS token after the final norm: forward_features
then forward_head(pre_logits=True)), and `__metadata__.config` with timm's constructor names.
Variants: F32, F16 and BF16 weights (the reference is computed from the rounded weights), and a
checkpoint whose position-embedding grid differs from the config's img_size (timm resamples it
bicubically on load: checkpoint_filter_fn -> resample_abs_pos_embed), plus a stray `head` tensor
that the importer must ignore.

  python3 scripts/model/make_import_fixtures.py --out Tests/TransLocatorTests/Fixtures
"""
import argparse
import json
import os

import torch
import timm
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
from safetensors.torch import save_file


def randomized(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight") and "norm" in name:
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p.shape[-1] if p.dim() >= 2 else 16
                if name == "patch_embed.proj.weight":
                    fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
    return model


def make(name, out_dir, config, dtype=torch.float32, checkpoint_img_size=None, seed=0, batch=2):
    """config: timm constructor arguments of the model the fixture's input runs through."""
    torch.manual_seed(seed)
    source_config = dict(config, img_size=checkpoint_img_size or config["img_size"])
    source = randomized(VisionTransformer(**source_config, num_classes=10), seed).eval()
    state = {k: v.to(dtype) for k, v in source.state_dict().items()}
    # The reference runs timm in float32 on exactly the stored (rounded) weights.
    model = VisionTransformer(**config, num_classes=10).eval()
    loaded = checkpoint_filter_fn({k: v.float() for k, v in state.items()}, model)
    model.load_state_dict(loaded)
    g = torch.Generator().manual_seed(seed + 100)
    x = torch.randn(batch, 3, config["img_size"], config["img_size"], generator=g)
    with torch.no_grad():
        pre_logits = model.forward_head(model.forward_features(x), pre_logits=True)
    tensors = {k: v.contiguous() for k, v in state.items()}
    tensors["input"] = x
    tensors["pre_logits"] = pre_logits.contiguous()
    metadata = {
        "config": json.dumps({k: config[k] for k in ("img_size", "patch_size", "embed_dim", "depth", "num_heads", "mlp_ratio")}),
        "generator": "scripts/model/make_import_fixtures.py",
        "torch": torch.__version__, "timm": timm.__version__, "dtype": str(dtype), "seed": str(seed),
    }
    path = os.path.join(out_dir, name + ".safetensors")
    save_file(tensors, path, metadata=metadata)
    print(path, os.path.getsize(path), "bytes")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="Tests/TransLocatorTests/Fixtures")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    base = dict(img_size=48, patch_size=16, embed_dim=48, depth=2, num_heads=3, mlp_ratio=4.0)
    make("import-vit-f32", args.out, base, seed=1)
    make("import-vit-f16", args.out, base, dtype=torch.float16, seed=2)
    make("import-vit-bf16", args.out, base, dtype=torch.bfloat16, seed=3)
    make("import-vit-posembed-resample", args.out, dict(base, img_size=64), checkpoint_img_size=48, seed=4)
    make("import-vit-mlp3-depth3", args.out, dict(base, embed_dim=64, depth=3, num_heads=4, mlp_ratio=3.0), seed=5, batch=1)


if __name__ == "__main__":
    main()
