#!/usr/bin/env bash
# collect_runtime.sh CHEXRT_BINARY DEMO_MODEL OUT: lays out what the runtime image needs under OUT,
# as paths from the root: /opt/chexrt/bin/chexrt, /opt/chexrt/models/<model>, and every shared
# library the binary loads (as ldd resolves them), at the path it was found. The C library and
# the dynamic loader stay the runtime image's own (same distribution release as the build). CUDA's
# own libraries (cudart, cuBLAS, cuDNN, ...) are not copied either: a CUDA build runs on NVIDIA's
# cudnn-runtime image, which has them (the Dockerfile checks that nothing is missing), and the
# driver's (libcuda, libnvidia-*) come from the host through the NVIDIA container toolkit.
set -euo pipefail
binary=$1
model=$2
out=$3
[ -x "$binary" ] || { echo "collect_runtime: $binary: not an executable" >&2; exit 1; }
[ -f "$model" ] || { echo "collect_runtime: $model: no such model" >&2; exit 1; }
mkdir -p "$out/opt/chexrt/bin" "$out/opt/chexrt/models"
cp "$binary" "$out/opt/chexrt/bin/chexrt"
cp "$model" "$out/opt/chexrt/models/"
missing=$(ldd "$binary" | awk '/not found/ {print $1}')
[ -z "$missing" ] || { echo "collect_runtime: unresolved libraries: $missing" >&2; exit 1; }
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so.* | libm.so.* | libpthread.so.* | libdl.so.* | librt.so.* | ld-linux*) continue ;;
    libcuda.so* | libnvidia-* | libcudart.so* | libcublas* | libcudnn* | libnvrtc* | libnvJitLink*) continue ;;
  esac
  # The file the link points to, under the name the loader asks for, in the real folder (on a
  # merged /usr, /lib is a link to /usr/lib, which a COPY into the image must not replace).
  dir=$(realpath "$(dirname "$lib")")
  mkdir -p "$out$dir"
  cp -L "$lib" "$out$dir/$(basename "$lib")"
done
echo "collect_runtime: $(find "$out" -type f | wc -l) files, $(du -sh "$out" | cut -f1) under $out"
