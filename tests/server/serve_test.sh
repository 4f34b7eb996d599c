#!/usr/bin/env bash
# `chexrt serve` as a user runs it: usage errors before any work, the demo model said to be
# one, ready once the engine is built, and SIGTERM while requests are in flight: every accepted
# request answered, exit 0. Usage: serve_test.sh <chexrt binary> <repository root>
set -uo pipefail
chexrt=$1
root=$2
model=$root/models/generated/densenet121_chexnet_seeded.onnx
image=$root/data/cxr/nih/00000284_000.png
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  [ -f "$work/serve.log" ] && sed 's/^/  serve: /' "$work/serve.log"
  exit 1
}
[ "${CHEXRT_TEST_HAVE_ONEDNN:-1}" = 1 ] || { echo "skipped: chexrt was built without oneDNN"; exit 77; }
[ -f "$model" ] || fail "missing $model: run scripts/make_reference_model.py first"
export CHEXRT_CACHE_DIR=$work/cache

# Usage errors: exit 2, before anything listens.
"$chexrt" serve --gpus 0,1,2,3,4,5,6,7,8 > "$work/usage.txt" 2>&1
[ $? = 2 ] || fail "--gpus 0,...,8 should be a usage error"
grep -q "GPU [0-9] does not exist: .*visible" "$work/usage.txt" || fail "the usage error should name the GPU: $(cat "$work/usage.txt")"
"$chexrt" serve --device cpu --gpus 0 > "$work/usage.txt" 2>&1
[ $? = 2 ] || fail "--device cpu --gpus 0 should be a usage error"
grep -q "places CUDA engines" "$work/usage.txt" || fail "the usage error should say why: $(cat "$work/usage.txt")"
"$chexrt" serve --max-batch 4 --preferred-batch 2,8 > "$work/usage.txt" 2>&1
[ $? = 2 ] || fail "--preferred-batch above --max-batch should be a usage error"
grep -q "preferred-batch" "$work/usage.txt" || fail "the usage error should name --preferred-batch"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
grpc_port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$chexrt" serve --device cpu --port "$port" --grpc-port "$grpc_port" --max-batch 2 --access-log "$work/access.log" > "$work/stdout.txt" \
  2> "$work/serve.log" &
server_pid=$!
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$port/v2/health/ready" > /dev/null && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited before it was ready"
  sleep 0.5
done
curl -sf "http://127.0.0.1:$port/v2/health/ready" > /dev/null || fail "not ready after 120 s"
grep -q "NOT trained" "$work/serve.log" || fail "the demo model notice is missing from the log"
# gRPC on its port where the build has it, else a line saying that only HTTP is served.
grep -qE "listening on grpc://127.0.0.1:$grpc_port |serving HTTP only" "$work/serve.log" ||
  fail "the log should say whether gRPC is served"
curl -sf "http://127.0.0.1:$port/v2/models/chexnet" | grep -q '"demo_model":true' || fail "metadata: demo_model"

# Requests in flight when SIGTERM comes: each must be answered 200.
for i in 1 2 3 4 5 6; do
  curl -s -o "$work/answer$i.json" -w "%{http_code}" -H "Content-Type: image/png" --data-binary "@$image" \
    "http://127.0.0.1:$port/v1/predict" > "$work/code$i.txt" &
done
sleep 0.3
kill -TERM "$server_pid"
wait "$server_pid"
code=$?
server_pid=
wait
[ "$code" = 0 ] || fail "exit code $code after SIGTERM (expected 0)"
for i in 1 2 3 4 5 6; do
  status=$(cat "$work/code$i.txt")
  # Accepted before SIGTERM: 200; arrived while stopping: 503 (shutting down); after the port
  # closed: refused (000). Never an accepted request without an answer.
  [ "$status" = 200 ] || [ "$status" = 503 ] || [ "$status" = 000 ] || fail "request $i: HTTP $status"
  if [ "$status" = 200 ]; then
    grep -q '"findings"' "$work/answer$i.json" || fail "request $i: no findings"
  fi
done
grep -q "200" "$work/code1.txt" "$work/code2.txt" || fail "the first requests should have been answered"
grep -q "received SIGTERM" "$work/serve.log" || fail "no stop line in the log"
grep -q "stopped" "$work/serve.log" || fail "no final line in the log"
/usr/bin/python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert lines, "empty access log"
for line in lines:
    entry = json.loads(line)
    assert {"time", "method", "path", "status", "duration_ms"} <= set(entry), entry
' "$work/access.log" || fail "the access log is not one JSON object per line"
echo "ok"
