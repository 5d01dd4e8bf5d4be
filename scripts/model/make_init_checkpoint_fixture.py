"""A timm ViT saved as PyTorch users save one (torch.save of its state dict, a `.pth`), for the
test that `translocator train --init` takes PyTorch checkpoints as well as safetensors. Sizes of
Tests/CLITests/TrainCommandTests.swift's tiny model: 16 px, patch 8, width 16, one block, 2 heads.

  python3 scripts/model/make_init_checkpoint_fixture.py --out Tests/TransLocatorTests/Fixtures
"""
import argparse
import os

import torch
from timm.models.vision_transformer import VisionTransformer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    out = parser.parse_args().out
    torch.manual_seed(11)
    model = VisionTransformer(img_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=10)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.3)
    path = os.path.join(out, "vit-tiny-init.pth")
    torch.save(model.state_dict(), path)
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
