#!/usr/bin/env bash
# Installs the Python reference stack the fixture generators and benchmark drivers use.
# Developers run this by hand; the build and the tests never need Python.
#   torch: the CPU-only wheel shipped with the machine image (PyPI's default pulls GBs of CUDA).
#   torchvision (which timm imports): PyPI's build is a CUDA build; installed --no-deps and
#   patched below so it imports beside the CPU torch.
set -euo pipefail
wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -1 || true)
if [ -n "$wheel" ]; then pip install "$wheel"; else pip install torch --index-url https://download.pytorch.org/whl/cpu; fi
pip install numpy pillow safetensors s2geometry pytest
pip install --no-deps timm torchvision==0.28.0 huggingface_hub pyyaml
# torchvision's _meta_registrations.py registers fake kernels for its compiled ops with
# @torch.library.register_fake("torchvision::nms"), which raises when the compiled ops are
# missing (CUDA build beside CPU torch). Guard each decorator: skip ops that do not exist.
python3 - <<'PY'
import importlib.util, pathlib, re
path = pathlib.Path(importlib.util.find_spec("torchvision").submodule_search_locations[0]) / "_meta_registrations.py"
text = path.read_text()
if "_guarded_register_fake" not in text:
    guard = '''
def _guarded_register_fake(name):
    def apply(fn):
        try:
            return torch.library.register_fake(name)(fn)
        except Exception:
            return fn
    return apply
'''
    text = text.replace("import torch\n", "import torch\n" + guard, 1)
    text = text.replace("@torch.library.register_fake(", "@_guarded_register_fake(")
    path.write_text(text)
    print("patched", path)
PY
python3 -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', torchvision.__version__, 'timm', timm.__version__)"
