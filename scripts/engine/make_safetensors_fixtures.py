#!/usr/bin/env python3
"""safetensors reader fixtures, written by Python's safetensors (the reference implementation).

mixed_dtypes.safetensors: the same values as F32, F16 and BF16 (values exactly representable in
each, so the test compares exactly), a scalar, an empty tensor, and __metadata__ with a JSON
string and non-ASCII text. Run by a developer:
  python3 scripts/engine/make_safetensors_fixtures.py Tests/TensorEngineTests/Fixtures
"""
import sys

import safetensors
import torch
from safetensors.torch import save_file

out = sys.argv[1]
values = torch.tensor([[0.0, 1.0, -2.5, 0.15625], [65504.0, -0.0009765625, 3.0, 1024.0]])  # exact in F16; BF16 rounds 65504 to 65536
tensors = {
    "f32": values.clone(),
    "f16": values.half(),
    "bf16": values.bfloat16(),
    "scalar": torch.tensor(42.5),
    "empty": torch.zeros(0, 3),
    "blocks.0.attn.qkv.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8,
}
metadata = {"config": '{"embed_dim": 32, "num_heads": 4}', "note": "Kaua\u02bbi \u00e9t\u00e9", "safetensors": safetensors.__version__}
save_file(tensors, f"{out}/mixed_dtypes.safetensors", metadata=metadata)
print("bf16 values:", tensors["bf16"].float().tolist())
print("f16 values:", tensors["f16"].float().tolist())
