#!/usr/bin/env bash
# Hardware counters of one forward pass, on the GPU machine: Nsight Compute (ncu) on every kernel
# of one FP16 inference of DenseNet-121 at the given batch, with the kernels the timing picks
# (the timing cache is filled by a plain run first, so that ncu sees no tactic timing), and the
# vendor libraries on the same dense-layer shapes (bench/library_layers.py) for comparison.
# Writes ncu_b<batch>.csv (one row per kernel and metric), gpu_bench_b<batch>.log (per-layer
# profile, ncu's messages) and library_b<batch>.log to $OUT (else ./gpu_out). Clocks are left as they are.
#
#   scripts/gpu_profile.sh [--batches 256,1] [--precision fp16] [--sections "SpeedOfLight ..."] [--no-library]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_out}
mkdir -p "$out"
batches=256,1 precision=fp16 library=1
sections="SpeedOfLight LaunchStats Occupancy WarpStateStats MemoryWorkloadAnalysis"
while [ $# -gt 0 ]; do
  case "$1" in
    --batches) batches=$2; shift ;;
    --precision) precision=$2; shift ;;
    --sections) sections=$2; shift ;;
    --no-library) library=0 ;;
    *) echo "gpu_profile: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
. scripts/gpu_env.sh
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
section_args=""
for s in $sections; do section_args="$section_args --section $s"; done
status=0
for b in ${batches//,/ }; do
  echo "== batch $b: per-layer profile (fills the timing cache)"
  timeout 200 $bundle/bin/gpu_bench --model "$model" --precision "$precision" --batches "$b" --iterations 50 \
    --warmup 10 --per-layer >"$out/gpu_bench_b$b.log" 2>&1 || status=1
  grep -v '^    ' "$out/gpu_bench_b$b.log" | head -30
  if [ -n "$ncu" ]; then
    echo "== batch $b: ncu ($sections), one inference without CUDA graphs"
    timeout 400 "$ncu" --clock-control none $section_args --csv --page details \
      $bundle/bin/gpu_bench --model "$model" --precision "$precision" --batches "$b" --iterations 1 --warmup 0 \
      --no-graphs >"$out/ncu_b$b.csv" 2>>"$out/gpu_bench_b$b.log" || { status=1; tail -5 "$out/gpu_bench_b$b.log"; }
    echo "ncu rows: $(wc -l <"$out/ncu_b$b.csv")"
  else
    echo "gpu_profile: ncu not found" >&2
  fi
  [ "$library" = 1 ] || continue
  echo "== batch $b: vendor libraries on the dense-layer shapes"
  timeout 200 python3 bench/library_layers.py --batch "$b" >"$out/library_b$b.log" 2>&1 ||
    status=1
  tail -6 "$out/library_b$b.log"
done
exit $status
