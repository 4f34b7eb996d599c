#!/usr/bin/env bash
# Builds chexrt's GPU programs on this machine (no GPU needed) and gathers what a GPU machine
# needs into .gpu/ (git-ignored), for scripts/gpu_check.sh to run there from a copy of the
# repository with .gpu/ beside it:
#   .gpu/bin.tar.xz                         executables gpu_tests, gpu_bench, chexrt (CUDA 13,
#                                           sm_90), compressed (a third of the bundle's size);
#                                           scripts/gpu_env.sh unpacks them
#   .gpu/lib/                               shared libraries a GPU machine may lack (libjpeg.so.62,
#                                           ISA-L, cpp-httplib and brotli for the server, ...)
#   .gpu/densenet121_chexnet_seeded.onnx    the reference model (scripts/make_reference_model.py),
#                                           in bin.tar.xz too
#   .gpu/densenet121_chexnet_seeded.f16.npz its weights rounded to float16, with --weights only
#                                           (gpu_check.sh --importers), in bin.tar.xz: two float32
#                                           copies of the model do not fit the transfer to a GPU
#                                           machine beside the repository
#   .gpu/reference/                         8 preprocessed X-rays (2 with --weights) and PyTorch's outputs for them,
#                                           in bin.tar.xz
#   .gpu/python/chexrt/                     (in bin.tar.xz) the Python package, with its extension built for the
#                                           GPU machine's Python, when that Python's headers are in
#                                           .gpu-python/ (see CHEXRT_PYTHON_ABI_* in python/CMakeLists.txt)
# JPEG decoding on the GPU (nvJPEG, loaded at run time) needs nvjpeg.h to build: where this machine's
# CUDA toolkit lacks it, copy the GPU machine's /usr/local/cuda/include/nvjpeg.h to
# .gpu-cuda/include/nvjpeg.h (git-ignored); the build stops without it.
# The PyTorch peers that gpu_check.sh runs beside chexrt are bench/peers/*.py. Needs the CUDA 13
# toolkit and cuDNN 9; on a machine with a GPU, run this script and then scripts/gpu_check.sh in
# the same clone (docs/PERF.md, "How to reproduce").
#
# With --before REV, the `chexrt` of an earlier revision (built from a git worktree in
# BUILD_DIR-before/, built in its build-gpu/) travels too, as .gpu/bin/chexrt_before, and gpu_check.sh times it beside
# this one in the same run: the before/after table of a change.
#
#   scripts/gpu_bundle.sh [--before REV] [--weights] [BUILD_DIR]     (default build-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
before="" weights=0
while [ $# -gt 0 ]; do
  case "$1" in
    --before) before=$(git rev-parse --short "$2"); shift 2 ;;
    --weights) weights=1; shift ;;
    *) break ;;
  esac
done
build=${1:-build-gpu}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHEXRT_WITH_DNNL=OFF -DCHEXRT_WITH_DCMTK=OFF \
    -DCHEXRT_WITH_CUDA=ON -DCHEXRT_WITH_GRPC=OFF
fi
# The bundle decodes JPEGs on the GPU: nvjpeg.h must be found (CHEXRT_NVJPEG_INCLUDE_DIR).
cmake "$build" -DCHEXRT_WITH_NVJPEG=ON >/dev/null
targets="gpu_tests gpu_bench chexrt_cli"
# The GPU machine's Python differs from this one's: its headers (fetched from it into
# .gpu-python/, with the extension suffix in .gpu-python/ext_suffix) build a second extension.
if [ -f .gpu-python/ext_suffix ]; then
  cmake "$build" -DCHEXRT_PYTHON_ABI_INCLUDE_DIRS="$(cat .gpu-python/include_dirs)" \
    -DCHEXRT_PYTHON_ABI_SUFFIX="$(cat .gpu-python/ext_suffix)" >/dev/null
  targets="$targets _chexrt_abi"
fi
cmake --build "$build" -j "$(nproc)" --target $targets

rm -rf .gpu/bin .gpu/bin.tar.xz .gpu/lib .gpu/python .gpu/*.safetensors .gpu/*.onnx
mkdir -p .gpu/bin .gpu/lib
cp "$build/tests/gpu/gpu_tests" "$build/bench/gpu_bench" "$build/tools/cli/chexrt" .gpu/bin/
if [ -f .gpu-python/ext_suffix ]; then cp -r "$build/python_abi" .gpu/bin/python; fi
rm -f .gpu/before_rev
if [ -n "$before" ]; then
  tree="$build-before"
  if [ -d "$tree" ]; then git -C "$tree" checkout -q --detach "$before"; else git worktree add -q --detach "$tree" "$before"; fi
  if [ ! -f "$tree/build-gpu/build.ninja" ]; then
    cmake -S "$tree" -B "$tree/build-gpu" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHEXRT_WITH_DNNL=OFF \
      -DCHEXRT_WITH_DCMTK=OFF -DCHEXRT_WITH_CUDA=ON
  fi
  # A revision that decodes JPEGs on the GPU finds nvjpeg.h here, not in its own tree.
  if [ -f .gpu-cuda/include/nvjpeg.h ]; then
    cmake "$tree/build-gpu" -DCHEXRT_NVJPEG_INCLUDE_DIR="$PWD/.gpu-cuda/include" >/dev/null 2>&1
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
# The model and weights travel inside the archive (the transfer to a GPU machine is limited).
cp "$model" .gpu/bin/
if [ "$weights" = 1 ]; then
  /usr/bin/python3 -c 'import sys, numpy as np; sys.path.insert(0, "scripts"); import make_tensorflow_chexnet as m
np.savez(sys.argv[2], **{k: v.astype(np.float16) for k, v in m.read_safetensors(sys.argv[1]).items()})' \
    "${model%.onnx}.safetensors" .gpu/bin/densenet121_chexnet_seeded.f16.npz
fi
rm -rf .gpu/reference
mkdir -p .gpu/bin/reference
# With --weights, two X-rays only, for the transfer's size.
for input in $(ls models/generated/reference/*.input.npy | head -$([ "$weights" = 1 ] && echo 2 || echo 8)); do
  stem=${input%.input.npy}
  cp "$stem.input.npy" "$stem.output_f64.npy" .gpu/bin/reference/
done
tar -cf - -C .gpu bin | xz -6 -T"$(nproc)" > .gpu/bin.tar.xz
rm -rf .gpu/bin
du -sh .gpu
