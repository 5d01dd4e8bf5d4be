#!/usr/bin/env python3
"""PyTorch checkpoint reader fixtures: real torch.save files, and hostile or damaged ones made from them.

Readable (expected dense Float32 values in expected.safetensors, keyed "<fixture>/<tensor>"; each
fixture's tensor names in order and its skipped names as JSON lists in __metadata__):
  dtypes.pt   F32, F16, BF16, F64 (0.1 rounds to Float32), a scalar, an empty tensor, an
              nn.Parameter (_rebuild_parameter), and I64/BOOL/U8 tensors the reader skips
  views.pt    two tensors viewing one storage at different offsets, a transposed tensor, a strided
              slice, an expanded (stride 0) tensor and a 0-d view, saved as they are
  module.pt   the OrderedDict state_dict of a tiny Conv2d-BatchNorm2d-Linear (num_batches_tracked
              is int64, skipped); its _metadata attribute arrives through BUILD
  wrapped.pt  {"state_dict": <module.pt's dict>, "epoch": 7, "arch": "tiny", "step": tensor(3)}
  nested.pt   {"model": {...}, "ema": {"weight": ..., "inner": {"bias": ...}}, "epoch": 3}
Refused (each error names the problem):
  evil_system.pt     a __reduce__ to os.system (pickled as posix.system) then REDUCE
  evil_eval.pt       a __reduce__ to builtins.eval (pickled as __builtin__.eval at protocol 2)
  unknown_opcode.pt  data.pkl with byte 0xff after PROTO
  missing_storage.pt dtypes.pt without archive/data/0
  past_storage.pt    a _rebuild_tensor_v2 view of size 3 at offset 2 of a 4-element storage
  big_endian.pt      dtypes.pt with byteorder "big"
  compressed.pt      dtypes.pt with data.pkl deflated
  legacy.pt          torch.save(..., _use_new_zipfile_serialization=False)

Run by a developer:
  python3 scripts/engine/make_torch_checkpoint_fixtures.py Tests/TensorEngineTests/Fixtures/torch
"""
import collections
import io
import json
import os
import sys
import warnings
import zipfile

import torch
from safetensors.torch import save_file

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
expected, metadata = {}, {"torch": torch.__version__}


def save(name, obj, names=None, skipped=()):
    """torch.save obj to <name>.pt; record the dense Float32 value of each readable tensor."""
    torch.save(obj, f"{out}/{name}.pt")
    for key, tensor in (names or {}).items():
        expected[f"{name}/{key}"] = tensor.detach().float().contiguous().clone()
    metadata[f"{name}.names"] = json.dumps(list(names or {}))
    metadata[f"{name}.skipped"] = json.dumps(list(skipped))


def saved_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def rezip(source, name, replace=None, drop=(), deflate=()):
    """Rewrites a torch.save archive entry by entry: entries ending in a `replace` key get new bytes,
    entries ending in `drop` are left out, entries ending in `deflate` are compressed."""
    with zipfile.ZipFile(io.BytesIO(source)) as original, zipfile.ZipFile(f"{out}/{name}.pt", "w") as copy:
        for info in original.infolist():
            if any(info.filename.endswith(suffix) for suffix in drop):
                continue
            data = original.read(info.filename)
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    data = new(data) if callable(new) else new
            method = zipfile.ZIP_DEFLATED if any(info.filename.endswith(s) for s in deflate) else zipfile.ZIP_STORED
            copy.writestr(info.filename, data, compress_type=method)


# Readable files.
values = torch.tensor([[0.0, 1.0, -2.5, 0.15625], [65504.0, -0.0009765625, 3.0, 1024.0]])  # exact in F16; BF16 rounds 65504
dtypes = {
    "f32": values.clone(),
    "f16": values.half(),
    "bf16": values.bfloat16(),
    "f64": torch.tensor([0.1, -1e-3, 3.0], dtype=torch.float64),
    "i64": torch.arange(3),
    "scalar": torch.tensor(42.5),
    "empty": torch.zeros(0, 3),
    "mask": torch.tensor([True, False]),
    "param": torch.nn.Parameter(torch.tensor([0.5, -0.25])),
    "u8": torch.tensor([1, 2], dtype=torch.uint8),
}
readable = {k: v for k, v in dtypes.items() if v.is_floating_point()}
save("dtypes", dtypes, readable, skipped=["i64", "mask", "u8"])

base = torch.arange(24, dtype=torch.float32)
views = {
    "head": base[2:8],                                         # offset 2, shares base's storage
    "tail": base[10:22].view(3, 4),                            # offset 10, same storage
    "transposed": torch.arange(12, dtype=torch.float32).reshape(3, 4).t(),
    "strided": torch.arange(40, dtype=torch.float32).reshape(5, 8)[1:4:2, ::3],
    "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),         # stride 0
    "element": base[5],                                        # 0-d view at offset 5
}
assert views["head"].untyped_storage().data_ptr() == views["tail"].untyped_storage().data_ptr()
assert not views["transposed"].is_contiguous() and not views["strided"].is_contiguous()
save("views", views, views)

torch.manual_seed(0)
module = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Flatten(),
                             torch.nn.Linear(3 * 2 * 2, 2))
module.train()
module(torch.randn(2, 2, 4, 4))                                # running stats move, num_batches_tracked = 1
state = module.state_dict()
float_state = collections.OrderedDict((k, v) for k, v in state.items() if v.is_floating_point())
save("module", state, float_state, skipped=["1.num_batches_tracked"])
save("wrapped", {"state_dict": state, "epoch": 7, "arch": "tiny", "step": torch.tensor(3)}, float_state,
     skipped=["1.num_batches_tracked", "step"])

linear = torch.nn.Linear(3, 2).state_dict()
ema_weight, ema_bias = torch.full((2, 3), 0.5), torch.tensor([1.5, -1.5])
nested = {"model": linear, "ema": {"weight": ema_weight, "inner": {"bias": ema_bias}}, "epoch": 3}
save("nested", nested, {"model.weight": linear["weight"], "model.bias": linear["bias"],
                        "ema.weight": ema_weight, "ema.inner.bias": ema_bias})

save_file(expected, f"{out}/expected.safetensors", metadata=metadata)

# Refused files.
small = saved_bytes(dtypes)


class System:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class Eval:
    def __reduce__(self):
        return (eval, ("__import__('os').system('echo pwned')",))


class PastEnd:
    def __reduce__(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                    # TypedStorage: deprecated, still what torch.save pickles
            storage = torch.ones(4).storage()
        return (torch._utils._rebuild_tensor_v2, (storage, 2, (3,), (1,), False, collections.OrderedDict()))


torch.save({"w": System()}, f"{out}/evil_system.pt")
torch.save({"w": Eval()}, f"{out}/evil_eval.pt")
torch.save({"w": PastEnd()}, f"{out}/past_storage.pt")
rezip(small, "unknown_opcode", replace={"/data.pkl": lambda pickle: pickle[:2] + b"\xff" + pickle[2:]})
rezip(small, "missing_storage", drop=["/data/0"])
rezip(small, "big_endian", replace={"/byteorder": b"big"})
rezip(small, "compressed", deflate=["/data.pkl"])
torch.save({"w": torch.ones(2)}, f"{out}/legacy.pt", _use_new_zipfile_serialization=False)

for name in sorted(os.listdir(out)):
    print(f"{name}: {os.path.getsize(f'{out}/{name}')} bytes")
