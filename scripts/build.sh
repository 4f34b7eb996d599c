#!/usr/bin/env bash
# Configures and builds chexrt into build/ (Release). Extra arguments go to cmake.
#   CHEXRT_WITH_CUDA=OFF scripts/build.sh   skips the CUDA backend and its kernels (a machine
#                                           without a GPU runs the CPU backends only; the
#                                           default, AUTO, builds it wherever nvcc is found)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHEXRT_WITH_CUDA="${CHEXRT_WITH_CUDA:-AUTO}" "$@"
cmake --build build -j "$jobs"
