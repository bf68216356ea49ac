#!/usr/bin/env bash
# bench/runtime.sh - the runtime's per-call cost: h2load against one process
# (the test service, no database) on Health.Check and Echo. Prints req/s,
# p50, p99 and errors (from the server's access log: any grpc-status != 0,
# since h2load counts every HTTP 200 as a success).
#
# The peer in the same run: gRPC's own C++ async server answering the same
# Check (bench/cxx_health.cc, built here with g++ against Debian's libgrpc++),
# with as many threads as cores, as gRPC's qps benchmark server runs.
#
#   bench/runtime.sh [requests=200000] [clients=50] [streams-per-client=10] [threads=default]
#
# threads: the runtime's worker threads; by default what a user runs (none
# given: 2 x cores + 2). The C++ server gets one thread per core either way.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-200000}; C=${2:-50}; M=${3:-10}; THREADS=${4:-}

acc_install_deps
for p in libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
BUILD=$ACC_ROOT/build-bench
acc_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DACCOLADE_SANITIZE=OFF -DACCOLADE_TESTS=ON >/dev/null
CXX_OUT=$BUILD/cxx-health
if [ ! -x "$CXX_OUT/accolade-cxx-health" ] || [ "$ACC_ROOT/bench/cxx_health.cc" -nt "$CXX_OUT/accolade-cxx-health" ]; then
  mkdir -p "$CXX_OUT"
  protoc -I "$ACC_ROOT/proto" --cpp_out="$CXX_OUT" --grpc_out="$CXX_OUT" \
    --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" "$ACC_ROOT/proto/grpc/health/v1/health.proto"
  g++ -O2 -std=c++17 -I "$CXX_OUT" "$ACC_ROOT/bench/cxx_health.cc" \
    "$CXX_OUT/grpc/health/v1/health.pb.cc" "$CXX_OUT/grpc/health/v1/health.grpc.pb.cc" \
    $(pkg-config --cflags --libs grpc++ protobuf) -lpthread -o "$CXX_OUT/accolade-cxx-health"
fi

TMP=$(mktemp -d /tmp/accolade-bench.XXXXXX)
PORT=$(acc_free_port)
SVC=
# start_server [ENV=VALUE...]: the test service with these settings added.
start_server() {
  [ -n "$SVC" ] && { kill "$SVC" 2>/dev/null || true; wait "$SVC" 2>/dev/null || true; }
  : > "$TMP/server.log"
  env "$@" ACCOLADE_LOG_LEVEL="${BENCH_LOG_LEVEL:-info}" "$BUILD/bin/accolade-testsvc" --listen="127.0.0.1:$PORT" \
    ${THREADS:+--threads="$THREADS"} --pollers="${BENCH_POLLERS:-0}" 2>>"$TMP/server.log" &
  SVC=$!
  for _ in $(seq 1 100); do grep -q serving "$TMP/server.log" && break; sleep 0.05; done
}
trap '[ -n "$SVC" ] && kill $SVC 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

# gRPC frames: 0 (not compressed), 4-byte big-endian length, the message.
printf '\x00\x00\x00\x00\x00' > "$TMP/health.bin"
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$TMP/echo.bin"

printf '%-40s %10s %9s %9s %8s %9s %9s\n' "call ($N requests, -c $C -m $M, threads ${THREADS:-default})" "req/s" "p50 ms" "p99 ms" "errors" "CPU us" "h2load us"
declare -A RPS CPU LGCPU
# cpu_ticks: the server's user + system CPU so far, in clock ticks (the
# "CPU us" column: the server's CPU per call, whatever h2load takes).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SVC/stat"; }
run() {
  local name=$1 path=$2 body=$3
  # Lines of this run only: the log holds the earlier runs' too.
  local before; before=$(grep -c '"type":"access"' "$TMP/server.log" || true)
  local okbefore; okbefore=$(grep -c '"code":0,' "$TMP/server.log" || true)
  local cpu0; cpu0=$(cpu_ticks)
  # h2load's own CPU (bash's time: user and system seconds), on the same cores.
  local TIMEFORMAT='%U %S'
  rm -f "$TMP/h2.log"   # h2load appends to its --log-file: this run's calls only
  { time h2load -n "$N" -c "$C" -m "$M" -d "$body" -H 'content-type: application/grpc' -H 'te: trailers' \
    --log-file="$TMP/h2.log" "http://127.0.0.1:$PORT$path" > "$TMP/h2.out" 2>&1; } 2> "$TMP/h2.time"
  local cpu1; cpu1=$(cpu_ticks)
  local lg_us; lg_us=$(awk -v n="$N" '{printf "%.1f", ($1 + $2) * 1e6 / n}' "$TMP/h2.time")
  sleep 1   # buffered access lines are written within 500 ms
  local us; us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
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
  printf '%-40s %10s %9s %9s %8s %9s %9s\n' "$name" "$rps" "$p50" "$p99" "$errs" "$us" "$lg_us"
  RPS[$name]=$rps
  CPU[$name]=$us
  LGCPU[$name]=$lg_us
}
# start_cxx: the C++ async server on the same port, one thread per core.
start_cxx() {
  [ -n "$SVC" ] && { kill "$SVC" 2>/dev/null || true; wait "$SVC" 2>/dev/null || true; }
  : > "$TMP/server.log"
  "$CXX_OUT/accolade-cxx-health" --listen "127.0.0.1:$PORT" --threads "$(nproc)" 2>>"$TMP/server.log" &
  SVC=$!
  for _ in $(seq 1 100); do grep -q serving "$TMP/server.log" && break; sleep 0.05; done
}
# Two rounds of the runtime with its defaults (access lines buffered) and the
# C++ server, alternating; then each access line written at once, as before
# ACCOLADE_ACCESS_LOG_BUFFER.
for round in 1 2; do
  start_server
  run "Health/Check ($round)" /grpc.health.v1.Health/Check "$TMP/health.bin"
  run "TestService/Echo ($round)" /accolade.test.v1.TestService/Echo "$TMP/echo.bin"
  echo "(runtime RSS after load: $(ps -o rss= -p $SVC | awk '{printf "%.1f MiB", $1/1024}'))"
  start_cxx
  run "C++ async server Health/Check ($round)" /grpc.health.v1.Health/Check "$TMP/health.bin"
  echo "(C++ server RSS after load: $(ps -o rss= -p $SVC | awk '{printf "%.1f MiB", $1/1024}'))"
done
best() { printf '%s\n' "$@" | sort -n | tail -1; }
ours=$(best "${RPS[Health/Check (1)]}" "${RPS[Health/Check (2)]}")
cxx=$(best "${RPS[C++ async server Health/Check (1)]}" "${RPS[C++ async server Health/Check (2)]}")
awk -v a="$ours" -v b="$cxx" 'BEGIN { printf "Health/Check, best round each: runtime %.0f, C++ async %.0f req/s: %.2fx\n", a, b, a / b }'
awk -v a="${CPU[Health/Check (1)]}" -v b="${CPU[Health/Check (2)]}" -v c="${CPU[C++ async server Health/Check (1)]}" \
  -v d="${CPU[C++ async server Health/Check (2)]}" \
  'BEGIN { r = (a + b) / 2; x = (c + d) / 2; printf "server CPU per Check, mean of the rounds: runtime %.1f us, C++ async %.1f us (runtime / C++: %.2f)\n", r, x, r / x }'
# Both servers share the two cores with h2load: a rate is about cores / (server
# CPU + h2load CPU) per call, so this is the server CPU per call 1.2x the C++
# server's rate would take.
awk -v x="${CPU[C++ async server Health/Check (1)]}" -v y="${CPU[C++ async server Health/Check (2)]}" \
  -v g1="${LGCPU[Health/Check (1)]}" -v g2="${LGCPU[Health/Check (2)]}" \
  'BEGIN { c = (x + y) / 2; g = (g1 + g2) / 2; printf "h2load CPU per Check: %.1f us; 1.2x the C++ server'"'"'s rate would need about %.1f us of server CPU per call\n", g, (c + g) / 1.2 - g }'
start_server ACCOLADE_ACCESS_LOG_BUFFER=0
run "Health/Check, log unbuffered" /grpc.health.v1.Health/Check "$TMP/health.bin"
run "TestService/Echo, log unbuffered" /accolade.test.v1.TestService/Echo "$TMP/echo.bin"
echo "(server RSS after load: $(ps -o rss= -p $SVC | awk '{printf "%.1f MiB", $1/1024}'))"
