#!/usr/bin/env bash
# chexrt's CPU engine beside ONNX Runtime and PyTorch on the same machine, in one run: the same
# ONNX model, the same threads, batch 1 and 8, each timed as the median of --iterations runs after
# warm-up, in --rounds interleaved rounds (chexrt fp32, chexrt bf16, ONNX Runtime, PyTorch, then
# again), so that a slow spell of the machine hits every runtime. The table is the median over
# rounds; every raw row is kept in the JSON file.
#
#   bench/cpu/compare_ort.sh [--model M.onnx] [--threads 2] [--batches 1,8] [--rounds 3]
#                            [--iterations 30] [--warmup 5] [--shield] [--json out.json]
#
# Peers: ONNX Runtime 1.30 from npm (onnxruntime-node, CPU execution provider, installed with
# --ignore-scripts into bench/cpu/ort_node, git-ignored; its package has no C/C++ headers, so it
# runs through ort_bench.js), and PyTorch from Debian's python3-torch (torch_bench.py).
# --shield raises this run's CPU priority (nice, and the session's autogroup) when run as root,
# so that other jobs on a shared machine disturb all runtimes less; it is noted in the output.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

model="models/generated/densenet121_chexnet_seeded.onnx"
threads=2 batches="1,8" rounds=3 iterations=30 warmup=5 shield=0 json=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --shield) shield=1; shift ;;
    --json) json="$2"; shift 2 ;;
    *) echo "compare_ort.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
build="${BUILD_DIR:-build}"
python=/usr/bin/python3

if [[ ! -f "$model" ]]; then
  echo "== $model missing: making it (scripts/make_reference_model.py)" >&2
  "$python" scripts/make_reference_model.py
fi
if [[ ! -d "$here/ort_node/node_modules/onnxruntime-node" ]]; then
  echo "== installing onnxruntime-node@1.30.0 into bench/cpu/ort_node" >&2
  mkdir -p "$here/ort_node"
  (cd "$here/ort_node" && npm install --ignore-scripts --no-audit --no-fund --prefix . onnxruntime-node@1.30.0 >&2)
fi
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" --target cpu_bench -j "$(nproc)" >&2

run=()
if [[ $shield == 1 ]]; then
  if [[ $(id -u) == 0 ]]; then
    echo -15 > /proc/self/autogroup 2>/dev/null || true
    run=(nice -n -15)
  else
    echo "compare_ort.sh: --shield needs root; running at normal priority" >&2
    shield=0
  fi
fi

bf16=0
grep -qw avx512_bf16 /proc/cpuinfo && bf16=1
raw="$(mktemp)"
trap 'rm -f "$raw"' EXIT
common=(--threads "$threads" --batches "$batches" --iterations "$iterations" --warmup "$warmup")
for ((r = 1; r <= rounds; ++r)); do
  echo "== round $r/$rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  "${run[@]}" "$build/bench/cpu/cpu_bench" --model "$model" --precision fp32 "${common[@]}" | sed "s/^{/{\"round\": $r, /" >> "$raw"
  if [[ $bf16 == 1 ]]; then
    "${run[@]}" "$build/bench/cpu/cpu_bench" --model "$model" --precision bf16 "${common[@]}" | sed "s/^{/{\"round\": $r, /" >> "$raw"
  fi
  "${run[@]}" node "$here/ort_bench.js" --model "$model" "${common[@]}" | sed "s/^{/{\"round\": $r, /" >> "$raw"
  "${run[@]}" "$python" "$here/torch_bench.py" "${common[@]}" | sed "s/^{/{\"round\": $r, /" >> "$raw"
done

"$python" - "$raw" "$json" "$shield" "$threads" "$model" <<'EOF'
import json, os, platform, statistics, subprocess, sys, time
raw, out, shield, threads, model = sys.argv[1:]
rows = [json.loads(line) for line in open(raw)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
isa = " ".join(f for f in ("avx512f", "avx512_bf16", "amx_bf16") if f in flags)
key = lambda r: (r["runtime"], r["precision"], r["batch"])
groups = {}
for r in rows:
    groups.setdefault(key(r), []).append(r["median_ms"])
summary = {k: statistics.median(v) for k, v in groups.items()}
print(f"# {time.strftime('%Y-%m-%d')}, {cpu} ({isa}), {os.cpu_count()} cores, {threads} threads, "
      f"model {os.path.basename(model)}{', --shield' if shield == '1' else ''}")
print("| runtime | precision | batch | latency ms | images/s | vs ONNX Runtime |")
print("|---|---|---|---|---|---|")
for (runtime, precision, batch), ms in sorted(summary.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
    ort = summary.get(("onnxruntime", "fp32", batch))
    ratio = f"{ms / ort:.2f}x latency, {ort / ms:.2f}x throughput" if ort else "-"
    spread = groups[(runtime, precision, batch)]
    print(f"| {runtime} | {precision} | {batch} | {ms:.2f} (rounds {min(spread):.2f}..{max(spread):.2f}) "
          f"| {batch * 1000 / ms:.1f} | {ratio} |")
if out:
    with open(out, "w") as f:
        json.dump({"cpu": cpu, "isa": isa, "threads": int(threads), "shield": shield == "1", "rows": rows}, f, indent=1)
EOF
