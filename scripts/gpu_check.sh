#!/usr/bin/env bash
# The one script for the GPU machine: runs chexrt's GPU tests, compute-sanitizer on one full
# inference, chexrt's DenseNet-121 benchmarks (FP16 and FP32, batch 1, 32, 256) and the PyTorch
# peers (../shared/tools/pytorch_peers.py) on the same card, and prints one table. Needs the
# bundle of scripts/gpu_bundle.sh in .gpu/. Logs and JSON go to $OUT (the device tool's output
# folder), else to ./gpu_out.
#
#   scripts/gpu_check.sh [--no-tests] [--no-sanitizer] [--no-peers] [--batches 1,32,256]
#                        [--peers eager_tf32,compile_fp16] [--per-layer]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_out}
mkdir -p "$out"
tests=1 sanitizer=1 peers=1 batches=1,32,256 peer_configs=eager_tf32,compile_fp16 per_layer=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-tests) tests=0 ;;
    --no-sanitizer) sanitizer=0 ;;
    --no-peers) peers=0 ;;
    --batches) batches=$2; shift ;;
    --peers) peer_configs=$2; shift ;;
    --per-layer) per_layer=--per-layer ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

bundle=.gpu
# cuDNN 9.19 (what chexrt is compiled against) from PyTorch's environment, before the system's 9.14.
cudnn_venv=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/cudnn/lib 2>/dev/null | head -1)
export LD_LIBRARY_PATH="${cudnn_venv:+$cudnn_venv:}$PWD/$bundle/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export CHEXRT_TIMING_CACHE="$out/timing_cache.txt"
model=$bundle/densenet121_chexnet_seeded.onnx
[ -f "$model" ] || model=""
export CHEXRT_REFERENCE_MODEL=$model CHEXRT_REFERENCE_DIR=$bundle/reference
status=0

echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv | tee "$out/gpu.txt"

if [ "$tests" = 1 ]; then
  echo "== GPU tests"
  timeout 240 "$bundle/bin/gpu_tests" >"$out/gpu_tests.log" 2>&1
  rc=$?
  grep -E '^\[  (FAILED|PASSED|SKIPPED) |Failure|Expected|Which is|rel L2|max \||X-rays' "$out/gpu_tests.log" | head -60
  tail -3 "$out/gpu_tests.log"
  [ $rc = 0 ] || { echo "gpu_tests: exit $rc"; status=1; }
fi

echo "== chexrt benchmarks (${model:-random-weight DenseNet-121})"
timeout 300 "$bundle/bin/gpu_bench" ${model:+--model "$model"} --precision fp16,fp32 --batches "$batches" \
  --iterations 100 --warmup 20 $per_layer --json "$out/chexrt.json" >"$out/chexrt_bench.log" 2>&1
rc=$?
grep -v '^  ' "$out/chexrt_bench.log" | head -40
[ -n "$per_layer" ] && grep '^  ' "$out/chexrt_bench.log" | head -120
[ $rc = 0 ] || { echo "gpu_bench: exit $rc"; tail -5 "$out/chexrt_bench.log"; status=1; }

if [ "$sanitizer" = 1 ] && command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck, one FP16 inference (batch 1, tactics from the timing cache)"
  timeout 150 compute-sanitizer --tool memcheck --leak-check no --print-limit 20 "$bundle/bin/gpu_bench" \
    ${model:+--model "$model"} --precision fp16 --batches 1 --iterations 1 --warmup 0 >"$out/memcheck.log" 2>&1
  rc=$?
  grep -E 'ERROR SUMMARY|Invalid|out of bounds' "$out/memcheck.log" | head -20
  [ $rc = 0 ] || { echo "memcheck: exit $rc"; status=1; }
fi

if [ "$peers" = 1 ]; then
  echo "== PyTorch peers ($peer_configs)"
  # One run per configuration, each with its own JSON, so that a slow torch.compile loses only
  # itself; merged into peers.json (the device tool returns at most 8 files).
  peer_dir=$(mktemp -d)
  for config in ${peer_configs//,/ }; do
    timeout 300 python3 "$bundle/pytorch_peers.py" --batches "$batches" --configs "$config" --iters 50 \
      --warmup 10 --json "$peer_dir/$config.json" 2>&1 | grep -v Warning
  done
  python3 -c 'import glob, json, sys; rows = [r for f in sorted(glob.glob(sys.argv[1] + "/*.json")) for r in json.load(open(f))["rows"]]; json.dump({"rows": rows}, open(sys.argv[2], "w"), indent=1)' \
    "$peer_dir" "$out/peers.json"
fi

echo "== side by side"
python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = {}
def load(name):
    p = os.path.join(out, name)
    return json.load(open(p)) if os.path.exists(p) else None
c = load("chexrt.json")
p = load("peers.json")
device = (c or {}).get("device", "?")
if c:
    for r in c["rows"]:
        rows.setdefault(f"chexrt {r['precision']}", {})[r["batch"]] = (r["compute_median_ms"], r["images_per_second_compute"])
if p:
    for r in p["rows"]:
        rows.setdefault(f"pytorch {r['config']}", {})[r["batch"]] = (r["ms_per_batch"], r["img_per_s"])
batches = sorted({b for v in rows.values() for b in v})
print(f"# {device}: ms per batch (images/s), compute only, inputs already on the GPU")
print(f"{'configuration':28s}" + "".join(f"{'batch ' + str(b):>24s}" for b in batches))
for name, v in rows.items():
    cells = "".join(f"{(f'{v[b][0]:.3f} ({v[b][1]:.0f})' if b in v else '-'):>24s}" for b in batches)
    print(f"{name:28s}{cells}")
ref = rows.get("pytorch compile_fp16", {})
for name in ("chexrt fp16", "chexrt fp32"):
    for b in batches:
        if name in rows and b in rows[name] and b in ref:
            print(f"{name} / torch.compile fp16, batch {b}: {rows[name][b][1] / ref[b][1]:.2f}x")
json.dump({"device": device, "table": {k: {str(b): {"ms": v[b][0], "img_per_s": v[b][1]} for b in v} for k, v in rows.items()}},
          open(os.path.join(out, "side_by_side.json"), "w"), indent=1)
PY
exit $status
