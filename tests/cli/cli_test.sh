#!/usr/bin/env bash
# cli_test.sh CASE CHEXRT_BINARY REPO_ROOT: one end-to-end case of the chexrt command.
set -uo pipefail
case_name=$1
chexrt=$2
root=$3
model=$root/models/generated/densenet121_chexnet_seeded.onnx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# predict --model caches its engines: keep them in this case's folder, not the user's cache.
export CHEXRT_CACHE_DIR=$work/engine_cache
fail() { echo "FAIL ($case_name): $*"; exit 1; }
need_onednn() {
  [ "${CHEXRT_TEST_HAVE_ONEDNN:-1}" = 1 ] || { echo "skipped ($case_name): chexrt was built without oneDNN"; exit 77; }
}
[ -f "$model" ] || fail "missing $model: run scripts/make_reference_model.py first"

case $case_name in
  predict_table_and_bad_file)
    # Two good images, one truncated PNG, one file of random bytes: the good ones complete,
    # the bad ones are named, and the exit code (3) says some failed.
    mkdir "$work/in"
    cp "$root/data/demo/00000284_000.png" "$root/data/demo/00008980_000_q90.jpg" "$work/in/"
    head -c 5000 "$root/data/demo/00014995_000.png" > "$work/in/truncated.png"
    head -c 4096 /dev/urandom > "$work/in/noise.png"
    "$chexrt" predict "$work/in" --device reference --batch 2 > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -eq 3 ] || fail "exit code $rc, expected 3"
    grep -q "truncated.png" "$work/err.txt" || fail "truncated.png not reported"
    grep -q "noise.png" "$work/err.txt" || fail "noise.png not reported"
    grep -q "00000284_000.png" "$work/out.txt" || fail "good PNG missing from the table"
    grep -q "00008980_000_q90.jpg" "$work/out.txt" || fail "good JPEG missing from the table"
    [ "$(grep -c '^Pneumothorax ' "$work/out.txt")" -eq 2 ] || fail "expected two finding tables"
    grep -q "NOT trained" "$work/out.txt" || fail "untrained-model notice missing"
    grep -q "2 image(s) predicted, 2 failed" "$work/err.txt" || fail "summary line missing"
    ;;
  predict_json_atomic)
    "$chexrt" predict "$root/data/demo/00000284_000.png" "$root/data/demo/siim_pneumothorax_sample_jpeg_baseline.dcm" \
      --device reference --format json --output "$work/out.json" --heatmap-dir "$work/maps" 2> "$work/err.txt" \
      || fail "exit code $? ($(cat "$work/err.txt"))"
    /usr/bin/python3 - "$work/out.json" <<'PY' || fail "bad JSON"
import json, sys
doc = json.load(open(sys.argv[1]))
assert "NOT trained" in doc["notice"], doc
assert len(doc["results"]) == 2 and not doc["errors"], doc
for r in doc["results"]:
    p = r["probabilities"]
    assert len(p) == 14 and all(0.0 <= v <= 1.0 for v in p.values()), r
    assert r["heatmap"].endswith(".png")
PY
    [ "$(ls "$work/maps" | wc -l)" -eq 2 ] || fail "expected 2 heat maps"
    ls -a "$work" | grep -q "\.tmp" && fail "temporary file left behind"
    true
    ;;
  predict_csv_tencrop)
    "$chexrt" predict "$root/data/demo/00000284_000.png" --device reference --mode tencrop --format csv \
      > "$work/out.csv" 2> "$work/err.txt" || fail "exit code $?"
    [ "$(wc -l < "$work/out.csv")" -eq 2 ] || fail "expected header + 1 row"
    head -1 "$work/out.csv" | grep -q "^image,status,Atelectasis,Cardiomegaly" || fail "bad CSV header"
    ;;
  predict_matches_pytorch)
    # The whole pipeline (decode, preprocess, engine) on every bundled X-ray against PyTorch +
    # PIL (+ pydicom) from scripts/make_reference_model.py. DICOM's JPEG is decoded by DCMTK's
    # IJG codec there and by Pillow's libjpeg-turbo in PyTorch's pipeline: grey levels differ by
    # at most 1 in a few pixels, hence the wider DICOM tolerance.
    data=$root/data/cxr
    [ -d "$data" ] || fail "missing $data"
    "$chexrt" predict "$data/nih" "$data/formats" "$data/dicom" --format json --output "$work/all.json" \
      --batch 16 2> "$work/err.txt" || fail "exit code $? ($(tail -3 "$work/err.txt"))"
    /usr/bin/python3 - "$work/all.json" "$root/models/generated/reference" <<'PY' || fail "predictions differ from PyTorch's"
import json, os, sys
import numpy as np
doc = json.load(open(sys.argv[1]))
names = doc["findings"]
worst = {"image": 0.0, "dicom": 0.0}
expected = len(json.load(open(os.path.join(sys.argv[2], "manifest.json")))["entries"])
assert len(doc["results"]) == expected and not doc["errors"], (len(doc["results"]), expected, doc["errors"])
for r in doc["results"]:
    stem = os.path.basename(r["image"]).split(".")[0]
    ref = np.load(os.path.join(sys.argv[2], stem + ".output.npy"))[0]
    ours = np.array([r["probabilities"][n] for n in names])
    kind = "dicom" if r["image"].endswith(".dcm") else "image"
    worst[kind] = max(worst[kind], float(np.abs(ours - ref).max()))
print("max |probability difference| vs PyTorch: PNG/JPEG %.2e, DICOM %.2e" % (worst["image"], worst["dicom"]))
sys.exit(0 if worst["image"] < 1e-5 and worst["dicom"] < 2e-3 else 1)
PY
    ;;
  inspect)
    "$chexrt" inspect "$model" > "$work/out.txt" || fail "exit code $?"
    grep -q "^Conv  *120" "$work/out.txt" || fail "expected 120 Conv nodes"
    grep -q "params  *7029390" "$work/out.txt" || fail "expected DenseNet-121 + head parameter count"
    "$chexrt" inspect "$model" --optimized > "$work/opt.txt" || fail "exit code $? (--optimized)"
    grep -q "^ClassifierHead  *1" "$work/opt.txt" || fail "head not fused"
    grep -q "^BatchNormalization  " "$work/opt.txt" && fail "batch norm left after passes"
    true
    ;;
  run_test_data)
    dir=/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding
    "$chexrt" run --model "$dir/model.onnx" --test-data "$dir" --device reference > "$work/out.txt" || fail "exit code $?"
    grep -q "1 passed, 0 failed" "$work/out.txt" || fail "$(cat "$work/out.txt")"
    # A wrong expectation must fail: compare the conv model against the relu test's data.
    "$chexrt" run --model "$dir/model.onnx" --test-data /usr/share/libonnx-testdata/data/node/test_relu \
      --device reference > "$work/bad.txt" 2>&1 && fail "mismatched test data passed"
    true
    ;;
  tensorflow_predict_matches_onnx)
    # The Keras-style frozen graph of the same seeded weights (scripts/make_tensorflow_chexnet.py)
    # gives the ONNX model's findings.
    need_onednn
    tf_model=$root/models/generated/densenet121_chexnet_seeded.pb
    [ -f "$tf_model" ] || fail "missing $tf_model: run scripts/make_tensorflow_chexnet.py first"
    for m in "$model" "$tf_model"; do
      "$chexrt" predict "$root/data/demo/00000284_000.png" --model "$m" --device cpu --format json \
        --output "$work/$(basename "$m").json" 2> "$work/err.txt" || fail "predict --model $m: exit code $? ($(tail -2 "$work/err.txt"))"
    done
    /usr/bin/python3 - "$work/$(basename "$model").json" "$work/$(basename "$tf_model").json" <<'PY' || fail "findings differ"
import json, sys
a, b = (json.load(open(p))["results"][0]["probabilities"] for p in sys.argv[1:3])
worst = max(abs(a[k] - b[k]) for k in a)
print("max |probability difference| ONNX vs TensorFlow graph: %.2e" % worst)
sys.exit(0 if a.keys() == b.keys() and worst < 1e-5 else 1)
PY
    ;;
  tensorflow_run_named)
    # A frozen graph marks no outputs: --output NAME=FILE picks nodes (an inner one too), and
    # --input NAME=FILE binds (and shapes) a placeholder that declares no shape.
    d=$root/tests/data/tensorflow/opencv_extra
    "$chexrt" inspect "$d/keras_mobilenet_head_net.pb" > "$work/inspect.txt" || fail "inspect exit code $?"
    grep -q "^input   keras_mobilenet_head_conv_input" "$work/inspect.txt" || fail "inspect lists no input"
    grep -q "^output  keras_mobilenet_head_reshape/Reshape (read by no other node)" "$work/inspect.txt" \
      || fail "inspect lists no default output"
    "$chexrt" run --model "$d/keras_mobilenet_head_net.pb" --device reference \
      --input "keras_mobilenet_head_conv_input=$d/keras_mobilenet_head_in.npy" \
      --output "keras_mobilenet_head_reshape/Reshape=$work/out.npy" \
      --output "keras_mobilenet_head_conv/BiasAdd:0=$work/conv.npy" > "$work/run.txt" || fail "run exit code $?"
    grep -q "^output keras_mobilenet_head_conv/BiasAdd \[1, 4, 2, 3\]" "$work/run.txt" || fail "inner output missing"
    /usr/bin/python3 -c "
import numpy as np, sys
a = np.load('$work/out.npy'); b = np.load('$d/keras_mobilenet_head_out.npy')
sys.exit(0 if a.shape == b.shape and np.abs(a - b).max() <= 1e-5 * max(1, np.abs(b).max()) else 1)" \
      || fail "output differs from TensorFlow's"
    "$chexrt" run --model "$d/keras_mobilenet_head_net.pb" --input "nope=$d/keras_mobilenet_head_in.npy" \
      2> "$work/err.txt" && fail "an unknown input name was accepted"
    grep -q "'nope', which is not a placeholder" "$work/err.txt" || fail "bad input name not named: $(cat "$work/err.txt")"
    ;;
  tensorflow_hybrid_build)
    # Nodes the CPU backend has no kernel for (Relu6's Min, Maximum) run on the reference backend;
    # build -v says which, and why.
    need_onednn
    d=$root/tests/data/tensorflow/opencv_extra
    "$chexrt" build -v --model "$d/keras_relu6_net.pb" --input-shape keras_relu6_input=1x4x2x3 --device cpu \
      --batch 1 --out "$work/r.engine" 2> "$work/build.txt" || fail "build exit code $? ($(tail -2 "$work/build.txt"))"
    grep -q "conversion report: backend cpu-onednn, 1 of 3 nodes converted into 1 engine segment(s), 2 node(s) left" \
      "$work/build.txt" || fail "no conversion report: $(cat "$work/build.txt")"
    grep -q "left outside: node 'keras_relu6/clip_by_value/Minimum' (Min): Min is not implemented" "$work/build.txt" \
      || fail "left-out node not named"
    "$chexrt" inspect "$d/keras_relu6_net.pb" --input-shape keras_relu6_input=1x4x2x3 --device cpu \
      > "$work/inspect.txt" || fail "inspect exit code $?"
    grep -q "segment 1 on reference: 2 node(s)" "$work/inspect.txt" || fail "inspect shows no segments"
    ;;
  run_npy)
    ref=$root/models/generated/reference
    input=$(ls "$ref"/*.input.npy | head -1)
    expected=${input%.input.npy}.output.npy
    "$chexrt" run --model "$model" --input "$input" --output "$work/out.npy" --device reference || fail "exit code $?"
    /usr/bin/python3 -c "
import numpy as np, sys
a = np.load('$work/out.npy'); b = np.load('$expected')
err = np.linalg.norm(a - b) / np.linalg.norm(b)
print('relative error', err)
sys.exit(0 if a.shape == b.shape and err < 1e-4 else 1)" || fail "output differs from PyTorch's"
    ;;
  build_and_bench_engine)
    "$chexrt" build --model "$model" --device reference --batch 1:2:2 --out "$work/m.engine" -v 2> "$work/build.txt" \
      || fail "build exit code $?"
    grep -q "conversion report: backend reference, 249 of 249 nodes converted into 1 engine segment(s)" "$work/build.txt" \
      || fail "no conversion report: $(tail -3 "$work/build.txt")"
    grep -q "fold_batchnorm:" "$work/build.txt" || fail "passes not logged with -v"
    "$chexrt" bench --engine "$work/m.engine" --batch 1,2 --iterations 2 --warmup 1 --json "$work/b.json" \
      > "$work/out.txt" || fail "bench exit code $?"
    grep -q "img/s" "$work/out.txt" || fail "no table"
    /usr/bin/python3 -c "import json; d = json.load(open('$work/b.json')); assert [r['batch'] for r in d['rows']] == [1, 2]" \
      || fail "bad bench JSON"
    "$chexrt" inspect "$work/m.engine" > "$work/inspect.txt" || fail "inspect engine exit code $?"
    grep -q "^backend reference  precision fp32  batch 1..2" "$work/inspect.txt" || fail "engine header missing"
    grep -q "ClassifierHead" "$work/inspect.txt" || fail "engine layers missing"
    # predict with an engine file: --batch picks any size up to its max batch, and no more.
    "$chexrt" predict --engine "$work/m.engine" --batch 3 "$root/data/demo" > "$work/out.txt" 2> "$work/err.txt"
    [ $? -eq 2 ] || fail "predict --batch 3 on a max-2 engine: expected exit code 2"
    grep -q "batch 3 is above the engine's 2 images per call" "$work/err.txt" || fail "unclear: $(cat "$work/err.txt")"
    first=$(ls "$root"/data/demo/*.png | head -1)
    "$chexrt" predict --engine "$work/m.engine" --batch 1 --format csv "$first" > "$work/one.csv" 2> "$work/err.txt" \
      || fail "predict --engine --batch 1: $(cat "$work/err.txt")"
    [ "$(wc -l < "$work/one.csv")" -eq 2 ] || fail "predict --batch 1: expected a header and one row"
    "$chexrt" bench --engine "$work/m.engine" --batch 2 --split 2 --iterations 1 > "$work/out.txt" 2>&1 \
      && fail "--split accepted by the reference backend"
    grep -q "needs the CUDA backend" "$work/out.txt" || fail "unclear --split error: $(cat "$work/out.txt")"
    ;;
  corrupt_engine_refused)
    "$chexrt" build --model "$model" --device reference --out "$work/m.engine" > /dev/null || fail "build exit code $?"
    size=$(stat -c %s "$work/m.engine")
    head -c $((size / 2)) "$work/m.engine" > "$work/truncated.engine"
    "$chexrt" bench --engine "$work/truncated.engine" --iterations 1 > "$work/out.txt" 2>&1 && fail "truncated engine accepted"
    grep -qi "truncated.engine" "$work/out.txt" || fail "error does not name the file: $(cat "$work/out.txt")"
    true
    ;;
  bad_model_named)
    echo "not a model" > "$work/bad.onnx"
    "$chexrt" inspect "$work/bad.onnx" > "$work/out.txt" 2>&1 && fail "garbage model accepted"
    grep -q "bad.onnx" "$work/out.txt" || fail "error does not name the file: $(cat "$work/out.txt")"
    true
    ;;
  usage_errors)
    # Exit code 2 and a short message that names the option, for every kind of bad argument.
    expect_usage() {  # expect_usage WORD... : the command must exit 2 and say WORD in one short line
      local word=$1; shift
      "$chexrt" "$@" > "$work/out.txt" 2> "$work/err.txt"
      local rc=$?
      [ $rc -eq 2 ] || fail "'$*' exit code $rc, expected 2: $(cat "$work/err.txt")"
      grep -q -- "$word" "$work/err.txt" || fail "'$*' does not say '$word': $(cat "$work/err.txt")"
      [ "$(head -1 "$work/err.txt" | wc -c)" -lt 200 ] || fail "'$*' message too long: $(head -c 300 "$work/err.txt")"
    }
    expect_usage "must be a positive integer, not '0'" predict "$root/data/demo" --batch 0
    expect_usage "must be a positive integer, not '0'" bench --iterations 0
    expect_usage "must be an integer of 0 or more, not '-5'" predict "$root/data/demo" --threads -5
    expect_usage "at most 4096" predict "$root/data/demo" --resize-size 100000
    expect_usage "subcommand is required"
    expect_usage "--nope" predict "$root/data/demo" --nope
    expect_usage "min <= opt <= max" build --model "$model" --batch 8:4:2 --out "$work/m.engine"
    expect_usage "precision" bench --precision fp64
    expect_usage "no such file" predict "$work/does_not_exist.png"
    "$chexrt" --help > "$work/help.txt" || fail "--help exit code $?"
    grep -q "Exit codes: 0 ok; 1 runtime error" "$work/help.txt" || fail "--help lists no exit codes"
    for command in build bench run predict; do
      "$chexrt" $command --help > "$work/command_help.txt"
      grep -q "fp32, fp16 (cuda) or bf16 (cpu, on CPUs with AVX-512 BF16)" "$work/command_help.txt" ||
        fail "$command --help: precision words"
      grep -q "auto (the first available of cuda, cpu and reference), cuda (.*), cpu (oneDNN) or reference (" \
        "$work/command_help.txt" || fail "$command --help: device words"
    done
    ;;
  checks_before_work)
    # Output paths and engine limits are checked before any image is read or any batch timed.
    start=$(date +%s%N)
    "$chexrt" predict "$root/data/demo" --device reference --output /nonexistent/x.json > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -eq 2 ] || fail "predict --output /nonexistent: exit code $rc, expected 2"
    grep -q "/nonexistent" "$work/err.txt" || fail "the missing folder is not named: $(cat "$work/err.txt")"
    grep -q "image(s) predicted" "$work/err.txt" && fail "predict ran before checking --output"
    [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || fail "the check came after the work (took over 5 s)"
    "$chexrt" build --model "$model" --device reference --out /nonexistent/m.engine > "$work/out.txt" 2> "$work/err.txt"
    [ $? -eq 2 ] || fail "build --out /nonexistent: expected exit code 2"
    "$chexrt" build --model "$model" --device reference --batch 2 --out "$work/m.engine" > /dev/null || fail "build failed"
    "$chexrt" bench --engine "$work/m.engine" --batch 1,32 --iterations 1 > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -eq 2 ] || fail "bench --batch 1,32 on a max-2 engine: exit code $rc, expected 2"
    grep -q "larger than the engine's max batch 2" "$work/err.txt" || fail "unclear message: $(cat "$work/err.txt")"
    grep -q "bench: .* batch 1" "$work/err.txt" && fail "batch 1 was timed before the bad batch size was seen"
    "$chexrt" bench --engine "$work/m.engine" --batch 1 --iterations 1 --json /nonexistent/b.json > /dev/null 2>&1
    [ $? -eq 2 ] || fail "bench --json /nonexistent: expected exit code 2"
    true
    ;;
  inspect_cpu_engine)
    need_onednn
    # An engine file of the CPU backend names the oneDNN kernel of each layer, not "reference".
    "$chexrt" build --model "$model" --device cpu --batch 2 --out "$work/cpu.engine" > /dev/null || fail "build exit code $?"
    "$chexrt" inspect "$work/cpu.engine" > "$work/inspect.txt" || fail "inspect exit code $?"
    grep -q "^backend cpu-onednn" "$work/inspect.txt" || fail "not a CPU engine: $(head -3 "$work/inspect.txt")"
    convs=$(grep -c "^/features/.*Conv  *Conv .*__onednn" "$work/inspect.txt")
    [ "$convs" -eq 120 ] || fail "expected the oneDNN kernel of all 120 convolutions, found $convs"
    grep -E "^[^ ]+ +[A-Za-z]+ +reference " "$work/inspect.txt" && fail "layers shown as reference"
    true
    ;;
  decode_memory_bounded)
    need_onednn
    # Six 4096 x 4096 16-bit RGB PNGs of zeros: 300 KB files, up to 302 MB each while decoded.
    # With --decode-memory 400 the six decode threads take them one at a time; unbounded, they
    # would hold 1.5 GB at once.
    mkdir "$work/in"
    /usr/bin/python3 "$root/bench/write_large_png.py" "$work/in/0.png" 4096 4096 || fail "cannot write the test PNG"
    for i in 1 2 3 4 5; do cp "$work/in/0.png" "$work/in/$i.png"; done
    /usr/bin/python3 "$root/bench/peak_rss.py" --mb-file "$work/peak.txt" \
      "$chexrt" predict "$work/in" --device cpu --batch 6 --decode-threads 6 --decode-memory 400 \
      > "$work/out.txt" 2> "$work/err.txt" || fail "predict failed: $(tail -3 "$work/err.txt")"
    grep -q "6 image(s) predicted, 0 failed" "$work/err.txt" || fail "not all images predicted: $(tail -2 "$work/err.txt")"
    peak=$(cat "$work/peak.txt")
    echo "peak RSS ${peak} MB"
    [ "$peak" -lt 900 ] || fail "peak RSS ${peak} MB: decoding is not bounded by --decode-memory 400"
    ;;
  bench_decode_only_png_rows)
    # Decoding as when the GPU unfilters PNG rows: every NIH PNG is inflated only; as when it
    # preprocesses alone, none is. No file fails either way.
    nih=$(ls "$root/data/cxr/nih"/*.png | wc -l)
    "$chexrt" bench --pipeline "$root/data/cxr/nih" --decode-only --preprocess-on device --unfilter-on device \
      --decode-threads 1,2 --json "$work/rows.json" > "$work/out.txt" 2> "$work/err.txt" || fail "exit code $?"
    grep -q "unfiltering and preprocessing left to the GPU" "$work/out.txt" || fail "no such title: $(head -1 "$work/out.txt")"
    "$chexrt" bench --pipeline "$root/data/cxr/nih" --decode-only --preprocess-on device --decode-threads 1 \
      --json "$work/pixels.json" > /dev/null 2> "$work/err.txt" || fail "exit code $?"
    /usr/bin/python3 - "$work/rows.json" "$work/pixels.json" "$nih" <<'PY' || fail "bad JSON"
import json, sys
rows, pixels, n = json.load(open(sys.argv[1]))["rows"], json.load(open(sys.argv[2]))["rows"], int(sys.argv[3])
assert len(rows) == 2 and all(r["images"] == n and r["failed"] == 0 for r in rows + pixels), (rows, pixels)
assert all(r["png_rows_files"] == n and r["png_unfiltered_on_device"] for r in rows), rows
assert all(r["png_rows_files"] == 0 and not r["png_unfiltered_on_device"] for r in pixels), pixels
PY
    ;;
  out_of_memory_is_an_error)
    need_onednn
    # An allocation that fails (batch 512 under a 3 GB address-space limit) is a clean error
    # with exit code 1, not a crash.
    (ulimit -v 3000000; exec "$chexrt" predict "$root/data/demo/00000284_000.png" --device cpu --batch 512) \
      > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -eq 1 ] || fail "exit code $rc, expected 1: $(tail -2 "$work/err.txt")"
    grep -q "chexrt: error: out of memory" "$work/err.txt" || fail "no out-of-memory message: $(tail -2 "$work/err.txt")"
    ;;
  engine_cache)
    need_onednn
    # The second run with the same model and options loads the engine the first one cached;
    # the findings are the same; a damaged cache file is rebuilt; --no-engine-cache caches nothing.
    img=$root/data/demo/00000284_000.png
    "$chexrt" predict "$img" --device cpu --format csv > "$work/first.csv" 2> "$work/first.txt" || fail "first run: $?"
    grep -q "engine: built and cached as $CHEXRT_CACHE_DIR/" "$work/first.txt" || fail "not cached: $(cat "$work/first.txt")"
    [ "$(ls "$CHEXRT_CACHE_DIR" | wc -l)" -eq 1 ] || fail "expected one cache file"
    "$chexrt" predict "$img" --device cpu --format csv > "$work/second.csv" 2> "$work/second.txt" || fail "second run: $?"
    grep -q "engine: loaded from the cache" "$work/second.txt" || fail "cache not used: $(cat "$work/second.txt")"
    cmp -s "$work/first.csv" "$work/second.csv" || fail "the cached engine gave other findings"
    "$chexrt" predict "$img" --device cpu --heatmap-dir "$work/maps" > /dev/null 2> "$work/cam.txt" || fail "heat maps: $?"
    [ "$(ls "$CHEXRT_CACHE_DIR" | wc -l)" -eq 2 ] || fail "the heat-map engine (an extra output) needs its own entry"
    cached=$(ls "$CHEXRT_CACHE_DIR"/*.engine | grep -v -- -cam.engine)
    head -c 1000 "$cached" > "$work/short" && cp "$work/short" "$cached"
    "$chexrt" predict "$img" --device cpu --format csv > "$work/third.csv" 2> "$work/third.txt" || fail "after damage: $?"
    grep -q "rebuilding the cached engine" "$work/third.txt" || fail "damaged cache not rebuilt: $(cat "$work/third.txt")"
    cmp -s "$work/first.csv" "$work/third.csv" || fail "the rebuilt engine gave other findings"
    rm -rf "$CHEXRT_CACHE_DIR"
    "$chexrt" predict "$img" --device cpu --no-engine-cache > /dev/null 2>&1 || fail "--no-engine-cache: $?"
    [ ! -e "$CHEXRT_CACHE_DIR" ] || fail "--no-engine-cache wrote a cache"
    ;;
  *) fail "unknown case" ;;
esac
echo "ok ($case_name)"
