#!/usr/bin/env bash
# bench/runtime.sh - the runtime's per-call cost: h2load against one process
# (the test service, no database) on Health.Check and Echo. Prints req/s,
# p50, p99 and errors (from the server's access log: any grpc-status != 0,
# since h2load counts every HTTP 200 as a success).
#
#   bench/runtime.sh [requests=200000] [clients=50] [streams-per-client=10] [threads=2]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-200000}; C=${2:-50}; M=${3:-10}; THREADS=${4:-2}

acc_install_deps
BUILD=$ACC_ROOT/build-bench
acc_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DACCOLADE_SANITIZE=OFF -DACCOLADE_TESTS=ON >/dev/null

TMP=$(mktemp -d /tmp/accolade-bench.XXXXXX)
PORT=$(acc_free_port)
SVC=
# start_server [ENV=VALUE...]: the test service with these settings added.
start_server() {
  [ -n "$SVC" ] && { kill "$SVC" 2>/dev/null || true; wait "$SVC" 2>/dev/null || true; }
  : > "$TMP/server.log"
  env "$@" ACCOLADE_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" "$BUILD/bin/accolade-testsvc" --listen="127.0.0.1:$PORT" \
    --threads="$THREADS" --pollers="${BENCH_POLLERS:-0}" 2>>"$TMP/server.log" &
  SVC=$!
  for _ in $(seq 1 100); do grep -q serving "$TMP/server.log" && break; sleep 0.05; done
}
trap '[ -n "$SVC" ] && kill $SVC 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

# gRPC frames: 0 (not compressed), 4-byte big-endian length, the message.
printf '\x00\x00\x00\x00\x00' > "$TMP/health.bin"
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$TMP/echo.bin"

printf '%-34s %10s %9s %9s %8s\n' "call ($N requests, -c $C -m $M, $THREADS server threads)" "req/s" "p50 ms" "p99 ms" "errors"
run() {
  local name=$1 path=$2 body=$3
  # Lines of this run only: the log holds the earlier runs' too.
  local before; before=$(grep -c '"type":"access"' "$TMP/server.log" || true)
  local okbefore; okbefore=$(grep -c '"code":0,' "$TMP/server.log" || true)
  h2load -n "$N" -c "$C" -m "$M" -d "$body" -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file="$TMP/h2.log" "http://127.0.0.1:$PORT$path" > "$TMP/h2.out" 2>&1
  sleep 1   # buffered access lines are written within 500 ms
  local rps; rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$TMP/h2.out")
  local httperr; httperr=$(awk '$2 != 200' "$TMP/h2.log" | wc -l)
  local calls; calls=$(( $(grep -c '"type":"access"' "$TMP/server.log" || true) - before ))
  local okcalls; okcalls=$(( $(grep -c '"code":0,' "$TMP/server.log" || true) - okbefore ))
  local errs=$(( httperr + calls - okcalls ))
  # Without the access log (BENCH_LOG_LEVEL=warn) only HTTP errors are seen.
  [ "$calls" -eq 0 ] && errs="$httperr(http)"
  # h2load's log: start time (us), status, duration (us); percentiles from it.
  read -r p50 p99 < <(awk '{print $3}' "$TMP/h2.log" | sort -n | awk '{a[NR]=$1} END {
      printf "%.2f %.2f\n", a[int(NR*0.50)]/1000, a[int(NR*0.99)]/1000 }')
  printf '%-34s %10s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p99" "$errs"
}
# The defaults (access lines buffered), then each line written at once as
# before ACCOLADE_ACCESS_LOG_BUFFER, in the same run.
start_server
run "Health/Check" /grpc.health.v1.Health/Check "$TMP/health.bin"
run "TestService/Echo" /accolade.test.v1.TestService/Echo "$TMP/echo.bin"
start_server ACCOLADE_ACCESS_LOG_BUFFER=0
run "Health/Check, log unbuffered" /grpc.health.v1.Health/Check "$TMP/health.bin"
run "TestService/Echo, log unbuffered" /accolade.test.v1.TestService/Echo "$TMP/echo.bin"
echo "(server RSS after load: $(ps -o rss= -p $SVC | awk '{printf "%.1f MiB", $1/1024}'))"
