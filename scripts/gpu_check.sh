#!/usr/bin/env bash
# The one script for the GPU machine: runs chexrt's GPU tests, `chexrt bench` on DenseNet-121
# (FP16 and FP32, batch 1, 32, 256, one engine per precision whose optimization profiles time
# the kernels at each batch; FP16 at the largest batch also as two concurrent sub-batches,
# `chexrt bench --split 2`), a smoke check of `chexrt build --device cuda` / `inspect` /
# `bench --engine`, compute-sanitizer on full inferences, the PyTorch peers
# (bench/peers/pytorch_peers.py) on the same card, and prints one table. With --per-layer,
# bench/gpu_bench.cpp adds the per-layer profile, TFLOP/s and bandwidth. Needs the bundle of
# scripts/gpu_bundle.sh in .gpu/ (on a machine with a GPU: scripts/gpu_bundle.sh, then this
# script). Logs and JSON go to $OUT if set, else to ./gpu_out. The timing cache stays in /tmp
# between runs on one machine. docs/PERF.md ("How to reproduce") gives the options behind each
# published figure.
#
# With --pipeline, files to findings: `chexrt bench --pipeline` and `chexrt predict` on 2,000
# links to the bundled NIH PNGs (and the same as quality-95 JPEGs), beside the PyTorch script a
# user would write (bench/peers/e2e_peer.py: DataLoader, 16 workers, PIL + torchvision, eager
# FP16).
#
#   scripts/gpu_check.sh [--no-tests] [--no-bench] [--no-smoke] [--no-sanitizer] [--no-peers]
#                        [--batches 1,32,256] [--peers eager_tf32,compile_fp16] [--per-layer]
#                        [--pipeline | --pipeline-quick] [--heatmaps] [--serve] [--first-call]
#                        [--importers] [--python]
# When the bundle holds an earlier revision's chexrt (scripts/gpu_bundle.sh --before REV), the
# engine benchmarks run it too, alternating with this one, and the table shows both.
# --serve-instances N runs only --serve's last part (the server with N instances).
# --serve starts `chexrt serve` on an FP16 engine and loads it with `chexrt perf` over loopback:
# binary FP16 and UINT8 tensors, NIH PNGs as BYTES tensors and as /v1/predict uploads; then the
# ONNX model served (an engine with the feature-map output): /v1/predict with and without heat maps.
# --first-call builds an FP16 engine file for batch 1..256 and times the first inference at
# several batch sizes against steady state, and one PNG's predict from start to exit.
# --importers writes the demo CheXNet as a TensorFlow frozen graph (scripts/make_tensorflow_chexnet.py,
# from the bundle's weights, rounded to float16 for the transfer: gpu_bundle.sh --weights) and compares the CUDA engines built from it and from the ONNX
# model: their kernels (`inspect`), their speed (`bench`, alternating) and their findings.
# --python times the Python API against the C++ call on the GPU (bench/python_overhead.py), when
# the bundle holds a Python module built for this machine's Python (.gpu/python).
# --pipeline-quick runs the files-to-findings essentials alone, the most telling first: predict on
# PNGs (rows unfiltered on the GPU), on quality-95 JPEGs of them (`--jpeg-decode-on device`:
# nvJPEG) and ten-crop,
# then the same on the host with the findings compared, decoding alone, bench --pipeline.
# --heatmaps runs `predict --heatmap-dir` alone on the same 2,000 PNG links: PNG heat maps drawn on
# the GPU, then on the host (--heatmap-on host; the files' pixels compared), then JPEG heat maps.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu_out}
mkdir -p "$out"
tests=1 bench=1 smoke=1 sanitizer=1 peers=1 batches=1,32,256 peer_configs=eager_tf32,compile_fp16 per_layer=0
pipeline=0 serve=0 heatmaps=0 first_call=0 importers=0 python=0 serve_instances=2
while [ $# -gt 0 ]; do
  case "$1" in
    --no-tests) tests=0 ;;
    --no-bench) bench=0 ;;
    --no-smoke) smoke=0 ;;
    --no-sanitizer) sanitizer=0 ;;
    --no-peers) peers=0 ;;
    --batches) batches=$2; shift ;;
    --peers) peer_configs=$2; shift ;;
    --per-layer) per_layer=1 ;;
    --pipeline) pipeline=1 ;;
    --pipeline-quick) pipeline=quick ;;
    --heatmaps) heatmaps=1 ;;
    --serve) serve=1 ;;
    --serve-instances) serve=instances; serve_instances=$2; shift ;;
    --first-call) first_call=1 ;;
    --importers) importers=1 ;;
    --python) python=1 ;;
    *) echo "gpu_check: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

. scripts/gpu_env.sh
chexrt=$bundle/bin/chexrt
[ -f "$model" ] || { echo "gpu_check: $model is missing; run scripts/gpu_bundle.sh first" >&2; exit 2; }
export CHEXRT_REFERENCE_MODEL=$model CHEXRT_REFERENCE_DIR=$bundle/reference CHEXRT_TEST_DATA_DIR=$PWD/data
status=0
work=$(mktemp -d)

# link_pngs DIR [N]: N (default 2,000) links in DIR to the bundled NIH PNGs, in turn.
link_pngs() {
  local dir=$1 count=${2:-2000} sources=(data/cxr/nih/*.png)
  mkdir -p "$dir"
  for i in $(seq 0 $((count - 1))); do
    local src=${sources[$((i % ${#sources[@]}))]}
    ln -s "$PWD/$src" "$dir/$(printf '%04d_%s' "$i" "$(basename "$src")")"
  done
}

# start_server ARGS...: `chexrt serve --engine $work/serve.engine --port $port ARGS` in the
# background (its pid in $server, its log appended to serve.log), once it answers ready.
start_server() {
  "$chexrt" serve --engine "$work/serve.engine" --port $port --grpc-port 0 "$@" >>"$out/serve.log" 2>&1 &
  server=$!
  wait_ready 240
}

# wait_ready N: until the server on $port answers ready, at most N half-seconds.
wait_ready() {
  for _ in $(seq 1 "$1"); do
    python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
      "http://127.0.0.1:$port/v2/health/ready" 2>/dev/null && break
    sleep 0.5
  done
}

echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw \
  --format=csv | tee "$out/gpu.txt"

if [ "$tests" = 1 ]; then
  echo "== GPU tests"
  # GPU_TEST_FILTER (a --gtest_filter pattern) runs part of the tests.
  timeout 540 "$bundle/bin/gpu_tests" ${GPU_TEST_FILTER:+--gtest_filter="$GPU_TEST_FILTER"} >"$out/gpu_tests.log" 2>&1
  rc=$?
  grep -E '^\[  (FAILED|PASSED|SKIPPED) |Failure|Expected|Which is|rel L2|max \||X-rays' "$out/gpu_tests.log" | head -60
  grep -E '^\[ +OK \]' "$out/gpu_tests.log" | sed -E 's/.*\(([0-9]+) ms\)/\1 &/' | sort -rn | head -5 | cut -d' ' -f2-
  tail -3 "$out/gpu_tests.log"
  [ $rc = 0 ] || { echo "gpu_tests: exit $rc"; status=1; }
fi

if [ "$bench" = 1 ]; then
  echo "== chexrt bench (one engine per precision, batches $batches)"
  : >"$out/chexrt_bench.log"
  # The earlier revision keeps its own timing cache, so that each chooses its kernels itself.
  before_rev=$(cat "$bundle/before_rev" 2>/dev/null || true)
  for precision in fp16 fp32; do
    if [ -n "$before_rev" ]; then
      CHEXRT_TIMING_CACHE=/tmp/chexrt_timing_cache_before.txt timeout 200 "$bundle/bin/chexrt_before" bench \
        --model "$model" --device cuda --precision $precision --batch "$batches" --iterations 100 --warmup 20 \
        --json "$work/before_$precision.json" >>"$out/chexrt_bench_before.log" 2>&1 ||
        { echo "chexrt@$before_rev bench $precision: failed"; tail -5 "$out/chexrt_bench_before.log"; status=1; }
    fi
    timeout 200 "$chexrt" bench --model "$model" --device cuda --precision $precision --batch "$batches" \
      --iterations 100 --warmup 20 --json "$work/chexrt_$precision.json" >>"$out/chexrt_bench.log" 2>&1
    rc=$?
    [ $rc = 0 ] || { echo "chexrt bench $precision: exit $rc"; tail -5 "$out/chexrt_bench.log"; status=1; }
  done
  # The largest batch again as two concurrent sub-batches on two execution contexts.
  largest=${batches##*,}
  timeout 200 "$chexrt" bench --model "$model" --device cuda --precision fp16 --batch "$largest" --split 2 \
    --iterations 100 --warmup 20 --json "$work/split_fp16.json" >>"$out/chexrt_bench.log" 2>&1 ||
    { echo "chexrt bench --split 2: failed"; status=1; }
  grep -v '^bench:' "$out/chexrt_bench.log"
  python3 - "$work" "$out/chexrt.json" <<'PY'
import glob, json, os, sys
rows = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "chexrt_fp*.json"))):
    doc = json.load(open(path))
    for r in doc["rows"]:
        r["precision"] = doc["precision"]
        r["images_per_second_compute"] = r["batch"] * 1000.0 / r["compute_median_ms"]
        rows.append(r)
for path in sorted(glob.glob(os.path.join(sys.argv[1], "before_fp*.json"))):
    doc = json.load(open(path))
    for r in doc["rows"]:
        r["precision"] = doc["precision"] + ", before"
        r["images_per_second_compute"] = r["batch"] * 1000.0 / r["compute_median_ms"]
        rows.append(r)
split = os.path.join(sys.argv[1], "split_fp16.json")
if os.path.exists(split):
    for r in json.load(open(split))["rows"]:
        r["precision"] = "fp16, 2 concurrent sub-batches"
        r["images_per_second_compute"] = r["batch"] * 1000.0 / r["compute_median_ms"]
        rows.append(r)
json.dump({"rows": rows}, open(sys.argv[2], "w"), indent=1)
PY
fi

if [ "$per_layer" = 1 ]; then
  echo "== gpu_bench: TFLOP/s, bandwidth and per-layer profile (same engines and timing cache)"
  timeout 150 "$bundle/bin/gpu_bench" --model "$model" --precision fp16,fp32 --batches "$batches" \
    --iterations 50 --warmup 10 --per-layer --json "$out/gpu_bench.json" >"$work/gpu_bench.log" 2>&1
  rc=$?
  grep -v '^    ' "$work/gpu_bench.log" | grep -v '^  slowest' | head -40
  grep -A12 'by kernel family' "$work/gpu_bench.log" | head -80
  cat "$work/gpu_bench.log" >>"$out/chexrt_bench.log"
  [ $rc = 0 ] || { echo "gpu_bench: exit $rc"; tail -5 "$work/gpu_bench.log"; status=1; }
fi

if [ "$smoke" = 1 ]; then
  echo "== smoke: chexrt build --device cuda, inspect, bench --engine"
  {
    timeout 120 "$chexrt" build --model "$model" --device cuda --precision fp16 --batch 32 --out "$work/m.engine" &&
      timeout 30 "$chexrt" inspect "$work/m.engine" &&
      timeout 60 "$chexrt" bench --engine "$work/m.engine" --batch 1,32 --iterations 20 --warmup 5
  } >"$work/smoke.log" 2>&1
  rc=$?
  grep -vE '^ *(conv|norm|relu|pool|denseblock|transition|features|classifier|/)' "$work/smoke.log" | tail -25
  { echo "== smoke (exit $rc)"; cat "$work/smoke.log"; } >>"$out/gpu.txt"
  [ $rc = 0 ] || { echo "smoke: exit $rc"; status=1; }
fi

if [ "$sanitizer" = 1 ] && command -v compute-sanitizer >/dev/null; then
  echo "== compute-sanitizer memcheck (batch 1): one FP16 inference, one each with the one-kernel stem and pool, the resident-weight kernels (1x1, 3x3, one-kernel transition) and the one-kernel dense layers forced, one FP32 on the 3xTF32 kernels"
  : >"$out/memcheck.log"
  for run in "fp16 " "fp16 maxpool3x3s2__wgmma" "fp16 mma_resident" "fp16 dense_layer" "fp32 3xtf32"; do
    set -- $run
    CHEXRT_CUDA_TACTIC=${2:-} timeout 150 compute-sanitizer --tool memcheck --leak-check no --print-limit 20 \
      "$bundle/bin/gpu_bench" --model "$model" --precision "$1" --batches 1 --iterations 1 --warmup 0 \
      >>"$out/memcheck.log" 2>&1
    rc=$?
    [ $rc = 0 ] || { echo "memcheck $1: exit $rc"; status=1; }
  done
  grep -E 'ERROR SUMMARY|Invalid|out of bounds' "$out/memcheck.log" | head -20
fi

if [ "$peers" = 1 ]; then
  echo "== PyTorch peers ($peer_configs)"
  # One run per configuration, each with its own JSON, so that a slow torch.compile loses only
  # itself; merged into peers.json.
  for config in ${peer_configs//,/ }; do
    timeout 300 python3 bench/peers/pytorch_peers.py --batches "$batches" --configs "$config" --iters 50 \
      --warmup 10 --json "$work/peer_$config.json" 2>&1 | grep -v Warning
  done
  python3 -c 'import glob, json, sys; rows = [r for f in sorted(glob.glob(sys.argv[1] + "/peer_*.json")) for r in json.load(open(f))["rows"]]; json.dump({"rows": rows}, open(sys.argv[2], "w"), indent=1)' \
    "$work" "$out/peers.json"
fi

if [ "$first_call" = 1 ]; then
  echo "== first inference at each batch size of an engine loaded from its file, against steady state"
  {
    python3 bench/peak_rss.py --label "build fp16 1:256:256" "$chexrt" build --model "$model" --device cuda \
      --precision fp16 --batch 1:256:256 --out "$work/first.engine"
    for round in 1 2; do
      echo "-- round $round (a new process each)"
      "$chexrt" bench --engine "$work/first.engine" --first-call --batch 1,3,64,200,256 --iterations 20 --warmup 3
    done
    python3 bench/peak_rss.py --label "one PNG, predict --engine, start to exit" "$chexrt" predict \
      --engine "$work/first.engine" "$(ls data/cxr/nih/*.png | head -1)"
  } >"$out/first_call.log" 2>&1
  grep -vE '^(predict: |bench: |NOTE: )' "$out/first_call.log"
fi

if [ "$importers" = 1 ]; then
  echo "== the demo CheXNet as a TensorFlow frozen graph against the ONNX model, on CUDA"
  {
    # The bundle's weights are rounded to float16 (gpu_bundle.sh --weights): the findings of the
    # two engines differ by that rounding, the kernels and speed must not differ at all.
    weights=$bundle/densenet121_chexnet_seeded.f16.npz
    python3 scripts/make_tensorflow_chexnet.py --weights "$weights" --out "$work/chexnet.pb" &&
      ls -l "$work/chexnet.pb"
    for source in onnx pb; do
      file=$model
      [ $source = pb ] && file=$work/chexnet.pb
      python3 bench/peak_rss.py --label "build from .$source" "$chexrt" build --model "$file" --device cuda \
        --precision fp16 --batch 1:256:256 --out "$work/$source.engine"
      "$chexrt" inspect "$work/$source.engine" >"$work/$source.inspect"
    done
    echo "-- kernels per layer, ONNX engine against TensorFlow engine (inspect, layer names left out)"
    python3 bench/compare_kernels.py "$work/onnx.inspect" "$work/pb.inspect"
    echo "-- speed, alternating (bench --engine, batches 1, 32, 256)"
    for round in 1 2; do
      for source in onnx pb; do
        echo "round $round, from .$source"
        "$chexrt" bench --engine "$work/$source.engine" --batch 1,32,256 --iterations 100 --warmup 20
      done
    done
    echo "-- findings on the bundled X-rays, ONNX engine against TensorFlow engine"
    for source in onnx pb; do
      "$chexrt" predict --engine "$work/$source.engine" --format csv --output "$work/$source.csv" data/cxr/nih
    done
    python3 bench/compare_csv.py "$work/onnx.csv" "$work/pb.csv"
  } >"$out/importers.log" 2>&1
  grep -vE '^(predict: |bench: |NOTE: )' "$out/importers.log"
fi

if [ "$python" = 1 ]; then
  echo "== Python API overhead on the GPU (bench/python_overhead.py --device cuda)"
  if [ -d "$bundle/python/chexrt" ]; then
    PYTHONPATH=$bundle/python timeout 300 python3 bench/python_overhead.py --device cuda --model "$model" 2>&1 |
      tee "$out/python_overhead.log"
  else
    echo "skipped: the bundle has no Python module for this machine's Python (.gpu/python)"
  fi
fi

if [ "$serve" != 0 ]; then
  echo "== chexrt serve, loaded by chexrt perf over loopback"
  {
    "$chexrt" build --model "$model" --device cuda --precision fp16 --batch 1:256:256 --out "$work/serve.engine"
    port=18000
    url=http://127.0.0.1:$port
  }  >"$out/serve_perf.log" 2>&1
fi
if [ "$serve" = 1 ]; then
  {
    start_server --max-batch 256 --max-queue 4096 --access-log "$work/access.log"
    echo "-- one 224x224 tensor per request, concurrency 1 (latency): FP16, then UINT8 pixels"
    "$chexrt" perf --url $url --tensor fp16 --batch 1 --concurrency 1 --duration-s 5 --json "$out/perf_c1.json"
    "$chexrt" perf --url $url --tensor uint8 --batch 1 --concurrency 1 --duration-s 5 --json "$out/perf_c1_uint8.json"
    echo "-- binary tensors: FP16 and UINT8, 1 and 16 images per request"
    "$chexrt" perf --url $url --tensor fp16 --batch 1 --concurrency 16,64,256 --duration-s 4 --json "$out/perf_fp16_b1.json"
    "$chexrt" perf --url $url --tensor fp16 --batch 16 --concurrency 16,64 --duration-s 4 --json "$out/perf_fp16_b16.json"
    "$chexrt" perf --url $url --tensor uint8 --batch 16 --concurrency 16,64 --duration-s 4 --json "$out/perf_uint8_b16.json"
    echo "-- NIH PNG files: as BYTES tensors (v2), then as /v1/predict uploads"
    "$chexrt" perf --url $url --images data/cxr/nih --batch 1 --concurrency 16,64 --duration-s 4 --json "$out/perf_png_v2.json"
    "$chexrt" perf --url $url --images data/cxr/nih --endpoint predict --concurrency 64 --duration-s 4 \
      --json "$out/perf_png_predict.json"
    kill -TERM $server
    wait $server
    echo "serve exit status after SIGTERM: $?"
    echo "-- the ONNX model served (its engine has the feature-map output): /v1/predict with and without heat maps"
    "$chexrt" serve --model "$model" --device cuda --precision fp16 --max-batch 64 --port $port --grpc-port 0 \
      --max-queue 4096 >>"$out/serve.log" 2>&1 &
    server=$!
    wait_ready 600  # the engine is built first
    "$chexrt" perf --url $url --images data/cxr/nih --endpoint predict --concurrency 64 --duration-s 4
    "$chexrt" perf --url $url --images data/cxr/nih --endpoint predict --heatmap --concurrency 16,64 --duration-s 4
    kill -TERM $server
    wait $server
    echo "serve (ONNX model) exit status after SIGTERM: $?"
  } >>"$out/serve_perf.log" 2>&1
fi
if [ "$serve" != 0 ]; then
  {
    echo "-- the same engine served by $serve_instances instances (execution contexts, host work in parallel)"
    start_server --max-batch 256 --instances $serve_instances --max-queue 4096
    "$chexrt" perf --url $url --tensor fp16 --batch 16 --concurrency 16,64,128 --duration-s 4 \
      --json "$out/perf_fp16_b16_instances.json"
    "$chexrt" perf --url $url --tensor uint8 --batch 16 --concurrency 64 --duration-s 4
    "$chexrt" perf --url $url --images data/cxr/nih --endpoint predict --concurrency 64 --duration-s 4
    kill -TERM $server
    wait $server
    echo "serve ($serve_instances instances) exit status after SIGTERM: $?"
  } >>"$out/serve_perf.log" 2>&1
  grep -vE '^(perf: |NOTE: )' "$out/serve_perf.log" | tail -60
  tail -5 "$out/serve.log"
fi

if [ "$pipeline" = quick ]; then
  echo "== files to findings (quick): 2,000 links to the bundled NIH PNGs, and to quality-95 JPEGs of them"
  link_pngs "$work/png"
  mkdir -p "$work/jpg_src" "$work/jpg"
  python3 -c 'import sys; from PIL import Image; [Image.open(p).save(sys.argv[1] + "/" + p.split("/")[-1][:-4] + ".jpg", quality=95) for p in sys.argv[2:]]' \
    "$work/jpg_src" data/cxr/nih/*.png
  jpgs=("$work"/jpg_src/*.jpg)
  for i in $(seq 0 1999); do ln -s "${jpgs[$((i % ${#jpgs[@]}))]}" "$work/jpg/$(printf '%04d' "$i").jpg"; done
  # predict LABEL OUT ARGS...: `chexrt predict --engine` with its wall time, CPU use and peak RSS.
  predict() {
    local label=$1 csv=$2; shift 2
    python3 bench/peak_rss.py --label "$label" "$chexrt" predict --engine "$work/m.engine" --format csv \
      --output "$work/$csv" -v "$@"
  }
  # The most telling first: a machine's time may run out before the end.
  {
    python3 bench/peak_rss.py --label build "$chexrt" build --model "$model" --device cuda --precision fp16 \
      --batch 1:256:256 --out "$work/m.engine"
    echo "-- PNG rows unfiltered on the GPU, JPEGs decoded by nvJPEG (the defaults), then ten-crop"
    predict "predict png --batch 64" o.csv --batch 64 "$work/png"
    predict "predict jpg --batch 64, nvJPEG" oj.csv --batch 64 --jpeg-decode-on device "$work/jpg"
    predict "predict --mode tencrop" o_ten.csv --mode tencrop "$work/png"
    echo "-- the same on the host: PNG rows unfiltered there, JPEGs decoded there; findings compared"
    predict "predict png --batch 64, unfiltered on the host" o_host.csv --batch 64 --unfilter-on host "$work/png"
    python3 bench/compare_csv.py "$work/o.csv" "$work/o_host.csv"
    predict "predict jpg --batch 64, decoded on the host" oj_host.csv --batch 64 --jpeg-decode-on host "$work/jpg"
    python3 bench/compare_csv.py "$work/oj.csv" "$work/oj_host.csv"
    predict "predict --mode tencrop, unfiltered on the host" o_ten_host.csv --mode tencrop --unfilter-on host \
      "$work/png"
    python3 bench/compare_csv.py "$work/o_ten.csv" "$work/o_ten_host.csv"
    echo "-- decoding alone: PNGs inflated only, then decoded in full; JPEGs on the host"
    "$chexrt" bench --pipeline "$work/png" --decode-only --preprocess-on device --unfilter-on device \
      --decode-threads 1,16
    "$chexrt" bench --pipeline "$work/png" --decode-only --preprocess-on device --unfilter-on host --decode-threads 16
    "$chexrt" bench --pipeline "$work/jpg" --decode-only --preprocess-on device --jpeg-decode-on host --decode-threads 16
    echo "-- bench --pipeline: PNG and JPEG at batch 64 and 256"
    "$chexrt" bench --engine "$work/m.engine" --pipeline "$work/png" --batch 64,256
    "$chexrt" bench --engine "$work/m.engine" --pipeline "$work/jpg" --batch 64,256 --jpeg-decode-on device
  } >"$out/pipeline.log" 2>&1
  grep -vE '^(predict: |bench: |NOTE: )' "$out/pipeline.log"
fi

if [ "$heatmaps" = 1 ]; then
  echo "== heat maps: predict --heatmap-dir on 2,000 links to the bundled NIH PNGs"
  link_pngs "$work/maps_png"
  {
    # The first run builds the engine and leaves it in the engine cache for the others.
    for where in device host; do
      python3 bench/peak_rss.py --label "predict --heatmap-dir, drawn on the $where" "$chexrt" predict \
        --model "$model" --device cuda --precision fp16 --batch 256 --format csv --output "$work/o_$where.csv" \
        --heatmap-dir "$work/maps_$where" --heatmap-on "$where" -v "$work/maps_png"
    done
    # Encoded on the GPU and by igzip: other files, the same pixels.
    echo "heat maps drawn on the GPU and on the host: $(python3 bench/compare_pngs.py "$work/maps_device" "$work/maps_host")"
    python3 bench/peak_rss.py --label "predict --heatmap-dir --heatmap-format jpeg" "$chexrt" predict \
      --model "$model" --device cuda --precision fp16 --batch 256 --format csv --output "$work/o_jpg.csv" \
      --heatmap-dir "$work/maps_jpg" --heatmap-format jpeg -v "$work/maps_png"
  } >"$out/heatmaps.log" 2>&1
  grep -vE '^(predict: |NOTE: )' "$out/heatmaps.log"
fi

if [ "$pipeline" = 1 ]; then
  echo "== files to findings: 2,000 links to the bundled NIH PNGs, and the same as quality-95 JPEGs"
  mkdir -p "$work/png" "$work/jpg" "$work/jpg_src"
  sources=(data/cxr/nih/*.png)
  python3 -c 'import sys; from PIL import Image; [Image.open(p).save(sys.argv[1] + "/" + p.split("/")[-1][:-4] + ".jpg", quality=95) for p in sys.argv[2:]]' \
    "$work/jpg_src" "${sources[@]}"
  for i in $(seq 0 1999); do
    src=${sources[$((i % ${#sources[@]}))]}
    name=$(printf '%04d_%s' "$i" "$(basename "$src")")
    ln -s "$PWD/$src" "$work/png/$name"
    ln -s "$work/jpg_src/$(basename "${src%.png}").jpg" "$work/jpg/${name%.png}.jpg"
  done
  : >"$out/pipeline.log"
  # timed LABEL COMMAND...: wall time, CPU use and peak RSS of the command.
  timed() {
    local label=$1; shift
    python3 bench/peak_rss.py --label "$label" "$@"
  }
  {
    echo "-- engine file (fp16, batch 1..256)"
    timed build "$chexrt" build --model "$model" --device cuda --precision fp16 --batch 1:256:256 \
      --out "$work/m.engine"
    echo "-- first inference at each batch size of the engine loaded from its file, against steady state"
    "$chexrt" bench --engine "$work/m.engine" --first-call --batch 1,3,64,200,256 --iterations 20 --warmup 3
    echo "-- decoding alone (the GPU preprocesses), then decoding and preprocessing on the host; 1, 4, 16 threads"
    "$chexrt" bench --pipeline "$work/png" --decode-only --preprocess-on device --decode-threads 1,4,16 \
      --json "$out/pipeline_decode.json"
    "$chexrt" bench --pipeline "$work/png" --decode-only --preprocess-on host --decode-threads 1,4,16
    "$chexrt" bench --pipeline "$work/jpg" --decode-only --preprocess-on device --decode-threads 1,16
    echo "-- files to findings (bench --pipeline), PNG then JPEG; preprocessing on the GPU, then on the host"
    "$chexrt" bench --engine "$work/m.engine" --pipeline "$work/png" --batch 64,256 --json "$out/pipeline.json"
    "$chexrt" bench --engine "$work/m.engine" --pipeline "$work/png" --batch 256 --preprocess-on host
    "$chexrt" bench --engine "$work/m.engine" --pipeline "$work/jpg" --batch 256
    echo "-- chexrt predict --engine, CSV out; preprocessing on the GPU, then on the host"
    timed "predict png" "$chexrt" predict --engine "$work/m.engine" --batch 256 \
      --format csv --output "$work/o.csv" -v "$work/png"
    timed "predict png --batch 64" "$chexrt" predict --engine "$work/m.engine" --batch 64 \
      --format csv --output "$work/o64.csv" -v "$work/png"
    python3 bench/compare_csv.py "$work/o.csv" "$work/o64.csv"
    timed "predict png, host preprocessing" "$chexrt" predict --engine "$work/m.engine" --batch 256 \
      --preprocess-on host --format csv --output "$work/o_host.csv" -v "$work/png"
    python3 bench/compare_csv.py "$work/o.csv" "$work/o_host.csv"
    timed "predict jpg" "$chexrt" predict --engine "$work/m.engine" --batch 256 \
      --format csv --output "$work/o_jpg.csv" -v "$work/jpg"
    echo "-- peak memory over 200 and over 20,000 files (links to the same PNGs)"
    mkdir -p "$work/png200" "$work/png20k"
    for i in $(seq 0 19999); do
      src=${sources[$((i % ${#sources[@]}))]}
      name=$(printf '%05d_%s' "$i" "$(basename "$src")")
      [ "$i" -lt 200 ] && ln -s "$PWD/$src" "$work/png200/$name"
      ln -s "$PWD/$src" "$work/png20k/$name"
    done
    for b in 256 64; do
      timed "predict 200 files --batch $b" "$chexrt" predict --engine "$work/m.engine" --batch $b \
        --format csv --output "$work/o200.csv" "$work/png200"
      timed "predict 20,000 files --batch $b" "$chexrt" predict --engine "$work/m.engine" --batch $b \
        --format csv --output "$work/o20k.csv" "$work/png20k"
    done
    echo "-- heat maps and ten-crop (engine built in the run)"
    timed "predict --heatmap-dir" "$chexrt" predict --model "$model" --device cuda --precision fp16 \
      --batch 256 --format csv --output "$work/o_maps.csv" --heatmap-dir "$work/maps" -v "$work/png"
    timed "predict --heatmap-dir --heatmap-format jpeg" "$chexrt" predict --model "$model" --device cuda \
      --precision fp16 --batch 256 --format csv --output "$work/o_maps_jpg.csv" --heatmap-dir "$work/maps_jpg" \
      --heatmap-format jpeg -v "$work/png"
    timed "predict --heatmap-dir --heatmap-on host" "$chexrt" predict --model "$model" --device cuda \
      --precision fp16 --batch 256 --format csv --output "$work/o_maps_host.csv" --heatmap-dir "$work/maps_host" \
      --heatmap-on host -v "$work/png"
    echo "heat maps drawn on the GPU and on the host: $(python3 bench/compare_pngs.py "$work/maps" "$work/maps_host")"
    timed "predict --mode tencrop" "$chexrt" predict --engine "$work/m.engine" --mode tencrop \
      --format csv --output "$work/o_ten.csv" -v "$work/png"
    timed "predict --mode tencrop, host preprocessing" "$chexrt" predict --engine "$work/m.engine" --mode tencrop \
      --preprocess-on host --format csv --output "$work/o_ten_host.csv" -v "$work/png"
    python3 bench/compare_csv.py "$work/o_ten.csv" "$work/o_ten_host.csv"
    echo "-- time to the first finding: one PNG, engine file"
    timed "one PNG" "$chexrt" predict --engine "$work/m.engine" "${sources[0]}"
    echo "-- PyTorch DataLoader script (e2e_peer.py DIR 16 64), PNG then JPEG"
    timeout 240 python3 bench/peers/e2e_peer.py "$work/png" 16 64
    timeout 240 python3 bench/peers/e2e_peer.py "$work/jpg" 16 64
  } >>"$out/pipeline.log" 2>&1
  grep -vE '^(predict: |bench: |NOTE: )' "$out/pipeline.log"
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
device = open(os.path.join(out, "gpu.txt")).read().splitlines()[1].split(",")[0]
if c:
    for r in c["rows"]:
        rows.setdefault(f"chexrt {r['precision']}", {})[r["batch"]] = (r["compute_median_ms"], r["images_per_second_compute"])
if p:
    for r in p["rows"]:
        rows.setdefault(f"pytorch {r['config']}", {})[r["batch"]] = (r["ms_per_batch"], r["img_per_s"])
batches = sorted({b for v in rows.values() for b in v})
print(f"# {device}: ms per batch (images/s), compute only, inputs already on the GPU")
print(f"{'configuration':40s}" + "".join(f"{'batch ' + str(b):>24s}" for b in batches))
for name, v in rows.items():
    cells = "".join(f"{(f'{v[b][0]:.3f} ({v[b][1]:.0f})' if b in v else '-'):>24s}" for b in batches)
    print(f"{name:40s}{cells}")
before = open(os.path.join(".gpu", "before_rev")).read().strip() if os.path.exists(os.path.join(".gpu", "before_rev")) else ""
for precision in ("fp16", "fp32"):
    now, then = rows.get(f"chexrt {precision}", {}), rows.get(f"chexrt {precision}, before", {})
    for b in batches:
        if b in now and b in then:
            print(f"chexrt {precision} / chexrt@{before} {precision} (the rows marked before), batch {b}: {now[b][1] / then[b][1]:.2f}x")
for peer, names in (("pytorch compile_fp16", ("chexrt fp16", "chexrt fp16, 2 concurrent sub-batches")),
                    ("pytorch eager_tf32", ("chexrt fp32",))):
    ref = rows.get(peer, {})
    for name in names:
        for b in batches:
            if name in rows and b in rows[name] and b in ref:
                print(f"{name} / {peer}, batch {b}: {rows[name][b][1] / ref[b][1]:.2f}x")
json.dump({"device": device, "table": {k: {str(b): {"ms": v[b][0], "img_per_s": v[b][1]} for b in v} for k, v in rows.items()}},
          open(os.path.join(out, "side_by_side.json"), "w"), indent=1)
PY
rm -rf "$work"
exit $status
