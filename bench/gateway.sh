#!/usr/bin/env bash
# bench/gateway.sh - the cost of the gateway hop: the same Echo call straight
# to the test service and through the gateway (JWT check, authorization,
# Redis rate limit, forward with a signed identity), in one run.
#   bench/gateway.sh [requests=50000] [clients=50] [streams-per-client=10]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-50000}; C=${2:-50}; M=${3:-10}
acc_install_deps
BUILD=$ACC_ROOT/build-bench
acc_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DACCOLADE_SANITIZE=OFF -DACCOLADE_TESTS=ON >/dev/null

TMP=$(mktemp -d /tmp/accolade-gwbench.XXXXXX)
SVC_PORT=$(acc_free_port); GW_PORT=$(acc_free_port); REDIS_PORT=$(acc_free_port); MPORT=$(acc_free_port)
acc_redis_start "$TMP/redis" "$REDIS_PORT"
export ACCOLADE_LOG_LEVEL=warn ACCOLADE_METRICS_PORT=0 ACCOLADE_INTERNAL_KEY=bench-key
"$BUILD/bin/accolade-testsvc" --listen="127.0.0.1:$SVC_PORT" 2>"$TMP/svc.log" &
P1=$!
ACCOLADE_JWT_HS256_SECRET=bench-secret ACCOLADE_REDIS="127.0.0.1:$REDIS_PORT" \
  ACCOLADE_GATEWAY_RATE_MEMBER=1000000 ACCOLADE_GATEWAY_BURST_MEMBER=1000000 \
  ACCOLADE_GATEWAY_RATE_ORG=1000000 ACCOLADE_GATEWAY_BURST_ORG=1000000 \
  ACCOLADE_GATEWAY_TEST_ROUTE="/accolade.test.v1.TestService/=127.0.0.1:$SVC_PORT" \
  "$BUILD/bin/gateway" --listen="127.0.0.1:$GW_PORT" --metrics-port="$MPORT" 2>"$TMP/gw.log" &
P2=$!
trap 'kill $P1 $P2 2>/dev/null; wait $P1 $P2 2>/dev/null; acc_redis_stop "$TMP/redis"; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do "$BUILD/bin/accolade" --addr "127.0.0.1:$GW_PORT" health >/dev/null 2>&1 && break; sleep 0.05; done
TOKEN=$("$BUILD/bin/accolade" token --secret bench-secret --user bench --org bench --ttl 3600)
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$TMP/echo.bin"

printf '%-28s %10s %9s %9s %8s\n' "Echo ($N req, -c $C -m $M)" "req/s" "p50 ms" "p99 ms" "non-200"
run() {
  local name=$1 port=$2; shift 2
  h2load -n "$N" -c "$C" -m "$M" -d "$TMP/echo.bin" -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
    --log-file="$TMP/h2.log" "http://127.0.0.1:$port/accolade.test.v1.TestService/Echo" > "$TMP/h2.out" 2>&1
  local rps; rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$TMP/h2.out")
  local errs; errs=$(awk '$2 != 200' "$TMP/h2.log" | wc -l)
  read -r p50 p99 < <(awk '{print $3}' "$TMP/h2.log" | sort -n | awk '{a[NR]=$1} END {
      printf "%.2f %.2f\n", a[int(NR*0.50)]/1000, a[int(NR*0.99)]/1000 }')
  printf '%-28s %10s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p99" "$errs"
}
run "direct to the service" "$SVC_PORT"
run "through the gateway" "$GW_PORT" -H "authorization: Bearer $TOKEN"
# h2load sees only HTTP statuses: count the gateway's grpc-status codes from its metrics.
/usr/bin/python3 - "$MPORT" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode()
ok = bad = 0
for line in body.splitlines():
    if line.startswith('accolade_rpc_requests_total{method="/accolade.test.v1.TestService/Echo"'):
        n = int(line.rsplit(" ", 1)[1])
        if 'code="OK"' in line: ok += n
        else: bad += n
print("gateway grpc-status: %d OK, %d not OK" % (ok, bad))
PY
