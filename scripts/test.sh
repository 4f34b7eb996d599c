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
if ! { command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; }; then
  echo "test.sh: skipped: no GPU on this machine: the $(ctest -N -L gpu | grep -c 'Test *#') GPU tests (label gpu)" \
       "report 'no GPU' and are skipped; scripts/gpu_check.sh runs them on a GPU machine"
fi
ctest --output-on-failure -j "$(nproc)" "$@"
