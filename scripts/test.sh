#!/usr/bin/env bash
# The test suite: installs what is missing, checks the code's format (.clang-format), builds,
# makes the seeded reference model and its PyTorch outputs (once), and runs every test through
# ctest. GPU tests report "skipped: no GPU" on machines without one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/check_format.sh
scripts/build.sh
/usr/bin/python3 scripts/make_reference_model.py
/usr/bin/python3 scripts/make_tensorflow_chexnet.py
cd build
if ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
  echo "test.sh: no GPU on this machine: the GPU tests (label gpu) that need one are skipped with the" \
       "reason 'no GPU'; scripts/gpu_check.sh runs them on a GPU machine"
fi
ctest --output-on-failure -j "$(nproc)" "$@"
