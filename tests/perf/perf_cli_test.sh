#!/usr/bin/env bash
# perf_cli_test.sh CASE CHEXRT_BINARY REPO_ROOT: `chexrt perf` end to end against
# fake_kserve_server.py (a stand-in for chexrt serve), and its usage errors.
set -uo pipefail
case_name=$1
chexrt=$2
root=$3
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL ($case_name): $*"; exit 1; }
start_server() {
  /usr/bin/python3 "$here/fake_kserve_server.py" "$@" > "$work/port" &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
  port=$(head -1 "$work/port")
  [ -n "$port" ] || fail "the fake server did not start"
}
expect_usage_error() {  # expected message, then the perf arguments
  local message=$1
  shift
  "$chexrt" perf "$@" > "$work/out.txt" 2> "$work/err.txt"
  local rc=$?
  [ $rc -eq 2 ] || fail "perf $*: exit code $rc, expected 2"
  grep -q -- "$message" "$work/err.txt" || fail "perf $*: no '$message' in: $(cat "$work/err.txt")"
}

case $case_name in
  usage_errors)
    if [ "${CHEXRT_TEST_HAVE_GRPC:-0}" = 1 ]; then
      expect_usage_error "without a scheme" --protocol grpc --url http://127.0.0.1:8001
      expect_usage_error "HTTP only" --protocol grpc --endpoint predict --images "$root/data/demo"
      expect_usage_error "--metrics-url 127.0.0.1:8000: must start with http://" --protocol grpc \
        --metrics-url 127.0.0.1:8000
    else
      expect_usage_error "built without gRPC" --protocol grpc
    fi
    expect_usage_error "give --images" --endpoint predict
    expect_usage_error "--concurrency 8:2" --concurrency 8:2
    expect_usage_error "must start with http://" --url https://127.0.0.1:8000
    expect_usage_error "no_such_dir" --images "$work/no_such_dir"
    ;;
  unreachable)
    start_server
    kill "$server_pid" && wait "$server_pid" 2>/dev/null
    server_pid=
    "$chexrt" perf --url "http://127.0.0.1:$port" --concurrency 1 --duration-s 0.1 > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -eq 1 ] || fail "exit code $rc, expected 1"
    grep -q "cannot reach the server" "$work/err.txt" || fail "no clear message: $(cat "$work/err.txt")"
    ;;
  tensor_sweep)
    # Two levels, every fourth request refused: the table, the JSON and the CSV agree.
    start_server 4
    "$chexrt" perf --url "http://127.0.0.1:$port" --tensor uint8 --batch 2 --concurrency 1,2 --duration-s 0.4 \
      --warmup-s 0.1 --json "$work/rows.json" --csv "$work/rows.csv" > "$work/out.txt" 2> "$work/err.txt" \
      || fail "exit code $? ($(cat "$work/err.txt"))"
    grep -q "binary UINT8 tensor 'image' \[2,224,224\]" "$work/out.txt" || fail "no input line: $(cat "$work/out.txt")"
    grep -q "^concurrency" "$work/out.txt" || fail "no table: $(cat "$work/out.txt")"
    grep -q "perf: concurrency 2" "$work/err.txt" || fail "no progress on stderr"
    /usr/bin/python3 - "$work/rows.json" "$work/rows.csv" <<'PY' || fail "bad rows: $(cat "$work/rows.json")"
import csv, json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["rows"]
assert [r["concurrency"] for r in rows] == [1, 2], rows
for r in rows:
    assert r["requests"] > 0 and r["images"] == 2 * r["requests"], r
    assert set(r["errors"]) == {"503"} and r["errors"]["503"] > 0, r
    assert abs(r["server_queue_ms"] - 1.0) < 1e-6 and abs(r["server_compute_ms"] - 2.0) < 1e-6, r
    assert 0 < r["latency_ms"]["p50"] <= r["latency_ms"]["p99"] <= r["latency_ms"]["max"], r
table = list(csv.DictReader(open(sys.argv[2])))
assert [int(t["concurrency"]) for t in table] == [1, 2], table
for t, r in zip(table, rows):
    assert int(t["requests"]) == r["requests"] and t["errors"] == "503:%d" % r["errors"]["503"], (t, r)
PY
    ls -a "$work" | grep -q "\.tmp" && fail "temporary file left behind"
    true
    ;;
  predict_images)
    start_server
    "$chexrt" perf --url "http://127.0.0.1:$port" --images "$root/data/demo" --endpoint predict --batch 2 \
      --concurrency 2 --duration-s 0.3 --warmup-s 0.1 --json "$work/rows.json" > "$work/out.txt" 2> "$work/err.txt" \
      || fail "exit code $? ($(cat "$work/err.txt"))"
    grep -q "2 per request, to /v1/predict" "$work/out.txt" || fail "no input line: $(cat "$work/out.txt")"
    /usr/bin/python3 - "$work/rows.json" <<'PY' || fail "bad rows: $(cat "$work/rows.json")"
import json, sys
r = json.load(open(sys.argv[1]))["rows"][0]
assert r["requests"] > 0 and not r["errors"] and r["images"] > r["requests"], r
PY
    ;;
  *) fail "unknown case" ;;
esac
