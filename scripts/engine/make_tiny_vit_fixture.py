#!/usr/bin/env python3
"""Reference fixture for TensorEngine's composite test: a 2-block ViT forward + backward.

Builds timm's VisionTransformer (img 32, patch 8, width 32, depth 2, 4 heads, MLP ratio 4,
10 classes, CLS pooling, LayerNorm eps 1e-6), randomizes every parameter (so no gradient is
trivially zero), runs a batch of 2 images in float64, takes cross-entropy with label smoothing
0.1 on two labels, and writes, as F32 safetensors:

  input [2,3,32,32], labels [2] (as floats), logits [2,10], loss [1],
  every parameter under its timm name, and its gradient under "grad.<name>".

__metadata__ records the versions and the config. Run by a developer, never by tests:
  python3 scripts/engine/make_tiny_vit_fixture.py Tests/TensorEngineTests/Fixtures/tiny_vit.safetensors
"""
import json
import sys

import numpy as np
import safetensors
import timm
import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

config = dict(img_size=32, patch_size=8, in_chans=3, num_classes=10, embed_dim=32, depth=2,
              num_heads=4, mlp_ratio=4.0, global_pool="token", class_token=True)
torch.manual_seed(7)
model = VisionTransformer(**config).double().train()   # drop rates are 0: train == eval
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
            p.copy_(1 + 0.2 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn_like(p))
        else:
            p.copy_(0.2 * torch.randn_like(p))

x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
labels = torch.tensor([3, 7])
logits = model(x)
loss = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)
loss.backward()

tensors = {"input": x, "labels": labels.double(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
for name, p in model.named_parameters():
    tensors[name] = p.detach()
    tensors["grad." + name] = p.grad.detach()
tensors = {k: v.float().contiguous() for k, v in tensors.items()}
metadata = {"config": json.dumps(config), "torch": torch.__version__, "timm": timm.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__, "dtype": "computed in float64, stored F32",
            "loss": "cross_entropy(logits, labels, label_smoothing=0.1)"}
save_file(tensors, sys.argv[1], metadata=metadata)
print(f"wrote {sys.argv[1]}: {len(tensors)} tensors, loss {loss.item():.6f}")
