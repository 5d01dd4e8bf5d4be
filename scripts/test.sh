#!/usr/bin/env bash
# Every test: the Swift suite (needs only the Swift toolchain), then the PyTorch side's
# (python/tests), whose agreement tests run the release binary the Swift suite has just built.
# The Python stack comes from scripts/setup-python.sh (the machine's CPU torch wheel, the rest
# from PyPI); pip leaves what is already installed alone.
set -euo pipefail
cd "$(dirname "$0")/.."
swift test -c release
bash scripts/setup-python.sh > /tmp/translocator-setup-python.log 2>&1 \
    || { cat /tmp/translocator-setup-python.log; echo "scripts/setup-python.sh failed (log above)" >&2; exit 1; }
python3 -m pytest -q python/tests
