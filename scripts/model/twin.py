"""The PyTorch twin now lives in the package python/translocator_torch (model.py); this shim keeps
`from twin import ...` working for the scripts beside it (make_twin_fixture.py) and the
benchmark drivers (scripts/bench/forward.py, train.py), without installing the package.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from translocator_torch.model import *  # noqa: E402,F401,F403
from translocator_torch.model import (  # noqa: E402,F401  (the names the scripts import)
    GEO_LEVELS, TransLocatorTwin, load_config, make_head, multitask_loss)
