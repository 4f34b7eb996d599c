#!/usr/bin/env bash
# cli_test.sh CASE CHEXRT_BINARY REPO_ROOT: one end-to-end case of the chexrt command.
set -uo pipefail
case_name=$1
chexrt=$2
root=$3
model=$root/models/generated/densenet121_chexnet_seeded.onnx
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL ($case_name): $*"; exit 1; }
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
    data=$root/../shared/data/cxr
    [ -d "$data" ] || fail "missing $data"
    "$chexrt" predict "$data/nih" "$data/formats" "$data/dicom" --format json --output "$work/all.json" \
      --batch 16 2> "$work/err.txt" || fail "exit code $? ($(tail -3 "$work/err.txt"))"
    /usr/bin/python3 - "$work/all.json" "$root/models/generated/reference" <<'PY' || fail "predictions differ from PyTorch's"
import json, os, sys
import numpy as np
doc = json.load(open(sys.argv[1]))
names = doc["findings"]
worst = {"image": 0.0, "dicom": 0.0}
assert len(doc["results"]) == 47 and not doc["errors"], (len(doc["results"]), doc["errors"])
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
    grep -q "conversion report: backend reference, 249 of 249 nodes converted, 1 segment(s)" "$work/build.txt" \
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
  *) fail "unknown case" ;;
esac
echo "ok ($case_name)"
