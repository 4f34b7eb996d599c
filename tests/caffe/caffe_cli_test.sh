#!/usr/bin/env bash
# caffe_cli_test.sh CASE CHEXRT_BINARY REPO_ROOT CHEXNET_DIR: the chexrt command on Caffe models
# (.prototxt --model with --weights M.caffemodel). CHEXNET_DIR holds the Caffe CheXNet that
# scripts/make_caffe_chexnet.py writes (the ctest fixture caffe.make_chexnet).
set -uo pipefail
case_name=$1
chexrt=$2
root=$3
chexnet=$4
layers=$root/tests/data/caffe/opencv_extra
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CHEXRT_CACHE_DIR=$work/engine_cache
fail() { echo "FAIL ($case_name): $*"; exit 1; }

case $case_name in
  run_layer)
    # A Caffe-written layer and its weights through `chexrt run`, against Caffe's output.
    "$chexrt" run --model "$layers/layer_convolution.prototxt" --weights "$layers/layer_convolution.caffemodel" \
      --input "$layers/blob.npy" --output "$work/out.npy" --device reference || fail "exit code $?"
    /usr/bin/python3 -c "
import numpy as np, sys
a = np.load('$work/out.npy'); b = np.load('$layers/layer_convolution.npy')
err = np.abs(a - b).max() / np.abs(b).max()
print('error relative to the output range', err)
sys.exit(0 if a.shape == b.shape and err < 1e-5 else 1)" || fail "output differs from Caffe's"
    ;;
  inspect_and_errors)
    "$chexrt" inspect "$chexnet/chexnet.prototxt" --weights "$chexnet/chexnet.caffemodel" > "$work/out.txt" \
      || fail "exit code $?"
    grep -q "^Conv  *120" "$work/out.txt" || fail "expected 120 Conv nodes"
    grep -q "^BatchNormalization  *121" "$work/out.txt" || fail "expected BatchNorm + Scale as 121 batch norms"
    grep -q "^output  *prob  *\[1, 14\]" "$work/out.txt" || fail "expected the output prob [1, 14]"
    "$chexrt" inspect "$chexnet/chexnet.prototxt" > /dev/null 2> "$work/err.txt" && fail "no --weights accepted"
    grep -q "layer 'conv1' (Convolution): needs learned blobs.*--weights" "$work/err.txt" || fail "$(cat "$work/err.txt")"
    "$chexrt" inspect "$root/models/generated/densenet121_chexnet_seeded.onnx" --weights "$chexnet/chexnet.caffemodel" \
      > /dev/null 2> "$work/err.txt"
    [ $? -eq 2 ] || fail "--weights with an ONNX model: expected exit code 2"
    grep -q "only a Caffe .prototxt model takes a weights file" "$work/err.txt" || fail "$(cat "$work/err.txt")"
    true
    ;;
  predict_matches_onnx)
    # The Caffe CheXNet and the ONNX model hold the same seeded weights: the same findings.
    images=("$root/data/demo/00000284_000.png" "$root/data/demo/00008980_000_q90.jpg")
    "$chexrt" predict "${images[@]}" --model "$chexnet/chexnet.prototxt" --weights "$chexnet/chexnet.caffemodel" \
      --device cpu --format json --output "$work/caffe.json" 2> "$work/err.txt" || fail "exit code $? ($(cat "$work/err.txt"))"
    grep -q "built and cached" "$work/err.txt" || fail "engine not cached: $(cat "$work/err.txt")"
    "$chexrt" predict "${images[@]}" --model "$chexnet/chexnet.prototxt" --weights "$chexnet/chexnet.caffemodel" \
      --device cpu --format json --output "$work/caffe2.json" 2> "$work/err.txt" || fail "exit code $?"
    grep -q "loaded from the cache" "$work/err.txt" || fail "cached engine not reused: $(cat "$work/err.txt")"
    "$chexrt" predict "${images[@]}" --model "$root/models/generated/densenet121_chexnet_seeded.onnx" --device cpu \
      --format json --output "$work/onnx.json" 2> "$work/err.txt" || fail "exit code $? (ONNX)"
    /usr/bin/python3 - "$work/caffe.json" "$work/onnx.json" <<'PY' || fail "Caffe and ONNX findings differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert len(a["results"]) == 2 and not a["errors"], a
worst = max(abs(ra["probabilities"][k] - rb["probabilities"][k])
            for ra, rb in zip(a["results"], b["results"]) for k in ra["probabilities"])
print("max |probability difference| Caffe vs ONNX: %.2e" % worst)
sys.exit(0 if worst < 1e-5 else 1)
PY
    ;;
  *)
    fail "unknown case"
    ;;
esac
