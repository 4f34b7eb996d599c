# Sourced by the GPU machine's scripts (gpu_check.sh, gpu_profile.sh) from the repository root:
# the bundle of scripts/gpu_bundle.sh, the libraries its programs load, the timing cache shared
# between calls on one machine, and the model.
bundle=.gpu
# The executables travel compressed (scripts/gpu_bundle.sh).
if [ ! -d "$bundle/bin" ] && [ -f "$bundle/bin.tar.xz" ]; then tar -xJf "$bundle/bin.tar.xz" -C "$bundle"; fi
# ... and so do the model and, with gpu_bundle.sh --weights, its weights.
for f in "$bundle"/bin/*.onnx "$bundle"/bin/*.npz "$bundle"/bin/reference "$bundle"/bin/python; do
  [ -e "$f" ] && rm -rf "$bundle/$(basename "$f")" && mv "$f" "$bundle/"
done
# cuDNN 9.19 (what chexrt is compiled against) from PyTorch's environment, before the system's 9.14.
cudnn_venv=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib 2>/dev/null | head -1)
export LD_LIBRARY_PATH="${cudnn_venv:+$cudnn_venv:}$PWD/$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export CHEXRT_TIMING_CACHE=/tmp/chexrt_timing_cache.txt
model=$bundle/densenet121_chexnet_seeded.onnx
