#!/usr/bin/env bash
# Builds chexrt's GPU programs on this machine (no GPU needed) and gathers what a GPU machine
# needs into .gpu/ (git-ignored), for scripts/gpu_check.sh to run there from a copy of the
# repository with .gpu/ beside it:
#   .gpu/bin.tar.xz                         executables gpu_tests, gpu_bench, chexrt (CUDA 13,
#                                           sm_90), compressed (a third of the bundle's size);
#                                           scripts/gpu_env.sh unpacks them
#   .gpu/lib/                               shared libraries a GPU machine may lack (libjpeg.so.62,
#                                           ISA-L, cpp-httplib and brotli for the server, ...)
#   .gpu/densenet121_chexnet_seeded.onnx    the reference model (scripts/make_reference_model.py)
#   .gpu/reference/                         8 preprocessed X-rays and PyTorch's outputs for them
# The PyTorch peers that gpu_check.sh runs beside chexrt are bench/peers/*.py. Needs the CUDA 13
# toolkit and cuDNN 9; on a machine with a GPU, run this script and then scripts/gpu_check.sh in
# the same clone (docs/PERF.md, "How to reproduce").
#
# With --before REV, the `chexrt` of an earlier revision (built from a git worktree in
# BUILD_DIR-before/, built in its build-gpu/) travels too, as .gpu/bin/chexrt_before, and gpu_check.sh times it beside
# this one in the same run: the before/after table of a change.
#
#   scripts/gpu_bundle.sh [--before REV] [BUILD_DIR]     (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
before=""
if [ "${1:-}" = "--before" ]; then
  before=$(git rev-parse --short "$2")
  shift 2
fi
build=${1:-build-gpu}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHEXRT_WITH_DNNL=OFF -DCHEXRT_WITH_DCMTK=OFF \
    -DCHEXRT_WITH_CUDA=ON -DCHEXRT_WITH_GRPC=OFF
fi
cmake --build "$build" -j "$(nproc)" --target gpu_tests gpu_bench chexrt_cli

rm -rf .gpu/bin .gpu/bin.tar.xz .gpu/lib
mkdir -p .gpu/bin .gpu/lib
cp "$build/tests/gpu/gpu_tests" "$build/bench/gpu_bench" "$build/tools/cli/chexrt" .gpu/bin/
rm -f .gpu/before_rev
if [ -n "$before" ]; then
  tree="$build-before"
  if [ -d "$tree" ]; then git -C "$tree" checkout -q --detach "$before"; else git worktree add -q --detach "$tree" "$before"; fi
  if [ ! -f "$tree/build-gpu/build.ninja" ]; then
    cmake -S "$tree" -B "$tree/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHEXRT_WITH_DNNL=OFF \
      -DCHEXRT_WITH_DCMTK=OFF -DCHEXRT_WITH_CUDA=ON
  fi
  cmake --build "$tree/build-gpu" -j "$(nproc)" --target chexrt_cli
  cp "$tree/build-gpu/tools/cli/chexrt" .gpu/bin/chexrt_before
  echo "$before" >.gpu/before_rev
fi
# Libraries of this machine that the GPU machine (Ubuntu 24.04, CUDA 13, cuDNN 9) does not have.
# (gRPC is left out of this build: its many libraries would have to travel too.)
for exe in .gpu/bin/*; do
  for lib in $(ldd "$exe" | awk '/=> \// {print $3}' | grep -E 'libjpeg\.so\.62|libisal|libonnx|libdcmtk|libdnnl|libcpp-httplib|libbrotli' || true); do
    cp -L "$lib" .gpu/lib/
  done
done

model=models/generated/densenet121_chexnet_seeded.onnx
if [ ! -f "$model" ]; then /usr/bin/python3 scripts/make_reference_model.py; fi
cp "$model" .gpu/
rm -rf .gpu/reference
mkdir -p .gpu/reference
for input in $(ls models/generated/reference/*.input.npy | head -8); do
  stem=${input%.input.npy}
  cp "$stem.input.npy" "$stem.output_f64.npy" .gpu/reference/
done
tar -cf - -C .gpu bin | xz -6 -T"$(nproc)" > .gpu/bin.tar.xz
rm -rf .gpu/bin
du -sh .gpu
