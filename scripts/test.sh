#!/usr/bin/env bash
# The test suite: installs what is missing, builds, makes the seeded reference model and its
# PyTorch outputs (once), and runs every test through ctest. GPU tests report "skipped: no GPU"
# on machines without one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
/usr/bin/python3 scripts/make_reference_model.py
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
