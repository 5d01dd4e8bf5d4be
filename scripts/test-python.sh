#!/usr/bin/env bash
# The PyTorch side's tests (python/tests), after the Swift suite: the README's test command is
# `swift test -c release && bash scripts/test-python.sh`, and the agreement tests run the release
# binary that `swift test -c release` has just built. The Python stack comes from
# scripts/setup-python.sh (the machine's CPU torch wheel, the rest from PyPI); pip leaves what is
# already installed alone.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-python.sh > /tmp/translocator-setup-python.log 2>&1 \
    || { cat /tmp/translocator-setup-python.log; echo "scripts/setup-python.sh failed (log above)" >&2; exit 1; }
python3 -m pytest -q python/tests
