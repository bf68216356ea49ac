#!/usr/bin/env bash
# bench/gateway.sh - the public hop, next to its peers, in one run: the same
# cached LeaderboardService/GetTop (top 10 of a 30-member org) sent
#   - straight to svc-leaderboard (with a signed identity, as the gateway sends it),
#   - through HAProxy (Debian's, HTTP/2 on both sides, forwarding the signed identity),
#   - through nginx (Debian's, grpc_pass with upstream keepalive, the same),
#   - through the Accolade gateway as scripts/run starts it (its frame-level
#     front, gateway/front.h: JWT, authorization, rate limits, signed
#     identity), rate limits off, then at their defaults,
#   - through the gateway on gRPC core both ways (ACCOLADE_GATEWAY_FRONT=0,
#     as it was before the front),
# with h2load at two settings (-c 50 -m 10 and -c 4 -m 25), rounds alternating,
# the median of the rounds printed with its ratio to HAProxy. grpc-status is
# counted from svc-leaderboard's metrics (h2load sees only HTTP 200s).
# Then the same call from 1,000 members' tokens at the default limits
# (accolade-loadgen, since h2load sends one header set); then HAProxy and
# the gateway each terminating TLS, at both h2load settings.
#
#   bench/gateway.sh [requests=60000] [rounds=3]
#
# The gateway's default limits (50/s per member) refuse most of one member's
# calls in the h2load rows: that row shows what a refusal costs.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
N=${1:-60000}; ROUNDS=${2:-3}
acc_install_deps
for p in haproxy nginx-light; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done
BUILD=$ACC_ROOT/build-bench
acc_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DACCOLADE_SANITIZE=OFF -DACCOLADE_TESTS=ON >/dev/null

TMP=$(mktemp -d /tmp/accolade-gwbench.XXXXXX)
chmod 755 "$TMP"
PG_PORT=$(acc_free_port); REDIS_PORT=$(acc_free_port); LB_PORT=$(acc_free_port); LB_MPORT=$(acc_free_port)
GW_PORT=$(acc_free_port); GW_MPORT=$(acc_free_port); HA_PORT=$(acc_free_port); NG_PORT=$(acc_free_port)
GW2_PORT=$(acc_free_port); GW3_PORT=$(acc_free_port); CORE_PORT=$(acc_free_port); CORE_MPORT=$(acc_free_port)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null || true
  acc_redis_stop "$TMP/redis"
  acc_pg_stop "$TMP/pg"
  rm -rf "$TMP" 2>/dev/null || true
}
trap cleanup EXIT
acc_pg_start "$TMP/pg" "$PG_PORT" fast
acc_as_postgres "$(acc_pg_bin)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench
acc_redis_start "$TMP/redis" "$REDIS_PORT"
export ACCOLADE_LOG_LEVEL=warn ACCOLADE_INTERNAL_KEY=bench-internal-key
DSN="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"

ACCOLADE_LEADERBOARD_PG="$DSN" ACCOLADE_REDIS="127.0.0.1:$REDIS_PORT" \
  "$BUILD/bin/svc-leaderboard" --listen="127.0.0.1:$LB_PORT" --metrics-port="$LB_MPORT" 2>"$TMP/lb.log" &
PIDS+=($!)
# start_gateway PORT MPORT [ENV=VALUE...]
start_gateway() {
  local port=$1 mport=$2; shift 2
  env "$@" ACCOLADE_JWT_HS256_SECRET=bench-secret ACCOLADE_REDIS="127.0.0.1:$REDIS_PORT" \
    ACCOLADE_LEADERBOARD_ADDR="127.0.0.1:$LB_PORT" \
    "$BUILD/bin/gateway" --listen="127.0.0.1:$port" --metrics-port="$mport" 2>>"$TMP/gw.log" &
  PIDS+=($!)
}
start_gateway "$GW_PORT" "$GW_MPORT" ACCOLADE_GATEWAY_RATE_MEMBER=0 ACCOLADE_GATEWAY_RATE_ORG=0
start_gateway "$GW2_PORT" 0
# The gateway as it was before its frame-level front (gRPC core both ways),
# limits off: ACCOLADE_GATEWAY_FRONT=0.
start_gateway "$CORE_PORT" "$CORE_MPORT" ACCOLADE_GATEWAY_FRONT=0 ACCOLADE_GATEWAY_RATE_MEMBER=0 ACCOLADE_GATEWAY_RATE_ORG=0
start_gateway "$GW3_PORT" 0 ACCOLADE_GATEWAY_FRONT=0

# haproxy_start NAME BIND: HAProxy (Debian's) listening as BIND ("ADDR:PORT
# proto h2", or with "ssl crt ... alpn h2"), h2 to svc-leaderboard behind;
# its config in $TMP/NAME.cfg.
haproxy_start() {
  printf '%s\n' "global" "  maxconn 4000   # its FD limit is twice this, within the sandbox's" "defaults" \
    "  mode http" "  timeout connect 5s" "  timeout client 60s" "  timeout server 60s" "frontend fe" "  bind $2" \
    "  default_backend be" "backend be" "  server lb 127.0.0.1:$LB_PORT proto h2" > "$TMP/$1.cfg"
  haproxy -f "$TMP/$1.cfg" 2>"$TMP/$1.log" &
  PIDS+=($!)
}
haproxy_start haproxy "127.0.0.1:$HA_PORT proto h2"
cat > "$TMP/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err warn;
events { worker_connections 8192; }
http {
  access_log off;
  upstream lb { server 127.0.0.1:$LB_PORT; keepalive 64; keepalive_requests 10000000; }
  server {
    listen 127.0.0.1:$NG_PORT http2;
    keepalive_requests 10000000;   # else a client's connection ends after 1000 calls
    location / { grpc_pass grpc://lb; }
  }
}
EOF
nginx -c "$TMP/nginx.conf" -p "$TMP" 2>"$TMP/nginx.log" &
PIDS+=($!)

for port in $LB_PORT $GW_PORT $GW2_PORT $GW3_PORT $CORE_PORT; do
  for _ in $(seq 1 200); do "$BUILD/bin/accolade" --addr "127.0.0.1:$port" health >/dev/null 2>&1 && break; sleep 0.05; done
done

# Seed 30 members' awards (RecordAward, as svc-award sends it) and sign the
# identity the direct and proxied calls carry, as the gateway would.
/usr/bin/python3 - "$LB_PORT" "$TMP" "$ACC_ROOT/tests/support" <<'PY'
import hashlib, hmac, sys, time
import grpc
port, tmp = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from pywire import field_str as s, varint  # noqa: E402
KEY = b"bench-internal-key"

def ident(org, user, role, team):
    ts = str(int(time.time()))
    sig = hmac.new(KEY, ("v1\n%s\n%s\n%s\n%s\n%s\n" % (org, user, role, team, ts)).encode(), hashlib.sha256).hexdigest()
    return [("x-accolade-org", org), ("x-accolade-user", user), ("x-accolade-role", role),
            ("x-accolade-team", team), ("x-accolade-ts", ts), ("x-accolade-sig", sig)]

def i(num, v):
    return varint(num << 3) + varint(v)

ch = grpc.insecure_channel("127.0.0.1:%s" % port)
rec = ch.unary_unary("/accolade.v1.LeaderboardService/RecordAward")
now = int(time.time() * 1000)
for n in range(30):
    body = (s(1, "bench-award-%d" % n) + s(2, "bench") + s(3, "deal-closer") + s(5, "sales") + i(6, 10 * (n + 1)) +
            s(7, "m%02d" % n) + s(8, "team%d" % (n % 3)) + i(12, now))
    rec(body, metadata=ident("bench", "svc:award", "service", ""), timeout=10)
PY
# fresh_identity: the signed identity headers again, signed now (a service
# takes a signature for 300 s; a run at 60,000 calls a path lasts longer).
fresh_identity() {
  local ts sig
  ts=$(date +%s)
  sig=$(printf 'v1\n%s\n%s\n%s\n%s\n%s\n' bench m00 member team0 "$ts" |
    openssl dgst -sha256 -hmac "$ACCOLADE_INTERNAL_KEY" | awk '{print $NF}')
  IDH=(-H "x-accolade-org: bench" -H "x-accolade-user: m00" -H "x-accolade-role: member"
       -H "x-accolade-team: team0" -H "x-accolade-ts: $ts" -H "x-accolade-sig: $sig")
}
fresh_identity
TOKEN=$("$BUILD/bin/accolade" token --secret bench-secret --user m00 --org bench --team team0 --ttl 3600)
printf '\x00\x00\x00\x00\x00' > "$TMP/gettop.bin"

# ok_calls: GetTop calls svc-leaderboard answered OK so far.
ok_calls() {
  curl -s "http://127.0.0.1:$LB_MPORT/metrics" |
    awk '/^accolade_rpc_requests_total\{method="\/accolade.v1.LeaderboardService\/GetTop",code="OK"\}/ {print $2}' | head -1
}

# one PATH PORT C M [headers...]: prints "req/s p50 p99 ok"
one() {
  local port=$1 c=$2 m=$3; shift 3
  local before; before=$(ok_calls); before=${before:-0}
  rm -f "$TMP/h2.log"   # h2load appends to its --log-file: this run's calls only
  h2load -n "$N" -c "$c" -m "$m" -d "$TMP/gettop.bin" -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
    --log-file="$TMP/h2.log" "${SCHEME:-http}://127.0.0.1:$port/accolade.v1.LeaderboardService/GetTop" > "$TMP/h2.out" 2>&1
  local rps; rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$TMP/h2.out")
  local after; after=$(ok_calls); after=${after:-0}
  read -r p50 p99 < <(awk '{print $3}' "$TMP/h2.log" | sort -n | awk '{a[NR]=$1} END {
      printf "%.2f %.2f\n", a[int(NR*0.50)]/1000, a[int(NR*0.99)]/1000 }')
  awk '{print $3}' "$TMP/h2.log" >> "$TMP/lat-$port-$c"   # every round's calls, for pooled_p99
  echo "${rps:-0} $p50 $p99 $((after - before))"
}

# pooled_p99 PORT C: p99 over every call of every round to PORT at -c C (a
# stall of the service in one round weighs as much as it lasted, not more).
pooled_p99() {
  [ -s "$TMP/lat-$1-$2" ] || { echo -; return; }
  sort -n "$TMP/lat-$1-$2" | awk '{a[NR]=$1} END {printf "%.2f\n", a[int(NR*0.99)]/1000}'
}

# rb C: raw ZREVRANGE of the same top 10 on the same Redis, C connections (the
# same number of calls in flight as h2load's clients x streams).
rb() {
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -n "$N" -c "$1" -q ZREVRANGE "lb:{bench}:members:all:all" 0 9 WITHSCORES \
    2>/dev/null | tr '\r' '\n' | awk '{for (i = 1; i < NF; i++) if ($(i + 1) == "requests") r = $i} END {print r + 0, "-", "-", "-"}'
}

declare -A RES
# turns C M R SUFFIX HA_PORT GW_PORT: HAProxy and the gateway (limits off) in
# round R, into RES[haproxySUFFIX,...] and RES[gatewaySUFFIX,...]. The two take
# turns going first; the paths measured right after nginx's rounds had the
# worst tails (every path's p99 near 35 ms in a run without them, 50-80 ms
# with them), and until 2026-12-01 the gateway always came right after
# nginx, so nginx goes last in a round. SCHEME=https: over TLS.
turns() {
  local c=$1 m=$2 r=$3 sfx=$4 p first=haproxy second=gateway
  [ $((r % 2)) -eq 0 ] && { first=gateway; second=haproxy; }
  for p in $first $second; do
    if [ "$p" = haproxy ]; then RES[haproxy$sfx,$c,$r]=$(one "$5" "$c" "$m" "${IDH[@]}")
    else RES[gateway$sfx,$c,$r]=$(one "$6" "$c" "$m" -H "authorization: Bearer $TOKEN"); fi
  done
}
PATHS=(direct haproxy nginx gateway gateway-limits gateway-core redis)
for setting in "50 10" "4 25"; do
  read -r c m <<<"$setting"
  for r in $(seq 1 "$ROUNDS"); do
    fresh_identity
    RES[direct,$c,$r]=$(one "$LB_PORT" "$c" "$m" "${IDH[@]}")
    turns "$c" "$m" "$r" "" "$HA_PORT" "$GW_PORT"
    RES[gateway-limits,$c,$r]=$(one "$GW2_PORT" "$c" "$m" -H "authorization: Bearer $TOKEN")
    RES[gateway-core,$c,$r]=$(one "$CORE_PORT" "$c" "$m" -H "authorization: Bearer $TOKEN")
    RES[redis,$c,$r]=$(rb $((c * m)))
    RES[nginx,$c,$r]=$(one "$NG_PORT" "$c" "$m" "${IDH[@]}")
  done
done

# table_head TITLE: a table's title and column names.
table_head() {
  printf '\n%s\n' "$1"
  printf '%-40s %10s %8s %8s %10s %8s %12s\n' "path" "req/s" "p50 ms" "p99 ms" "p99 all ms" "x HAProxy" "OK at service"
}
# row NAME PATH C PORT HA: PATH's median round at -c C, its p99 over every
# round to PORT, and its rate as a multiple of HA (req/s).
row() {
  local rps p50 p99 ok
  read -r rps p50 p99 ok <<<"$(median "$2" "$3")"
  [ "$ok" != - ] && ok="$ok/$N"
  printf '%-40s %10.0f %8s %8s %10s %8.2f %12s\n' "$1" "$rps" "$p50" "$p99" "$(pooled_p99 "$4" "$3")" \
    "$(awk -v a="$rps" -v b="$5" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$ok"
}
# median PATH C: the round with the median req/s.
median() {
  for r in $(seq 1 "$ROUNDS"); do echo "${RES[$1,$2,$r]}"; done | sort -n | awk -v k=$(( (ROUNDS + 1) / 2 )) 'NR==k'
}
for setting in "50 10" "4 25"; do
  read -r c m <<<"$setting"
  ha=$(median haproxy "$c" | awk '{print $1}')
  table_head "$(printf 'GetTop, %d calls, h2load -c %d -m %d, median of %d rounds' "$N" "$c" "$m" "$ROUNDS")"
  for p in "${PATHS[@]}"; do
    case $p in
      direct) port=$LB_PORT;; haproxy) port=$HA_PORT;; nginx) port=$NG_PORT;; gateway) port=$GW_PORT;;
      gateway-limits) port=$GW2_PORT;; gateway-core) port=$CORE_PORT;; *) port=none;;
    esac
    name=$p
    case $p in
      direct) name="straight to svc-leaderboard";;
      haproxy) name="HAProxy 2.6 (h2 both sides, no auth)";;
      nginx) name="nginx 1.22 grpc_pass, keepalive";;
      gateway) name="Accolade gateway, limits off";;
      gateway-limits) name="Accolade gateway, default limits";;
      gateway-core) name="gateway on gRPC core (FRONT=0), limits off";;
      redis) name="redis-benchmark ZREVRANGE 0 9, -c $((c * m))";;
    esac
    row "$name" "$p" "$c" "$port" "$ha"
  done
  awk -v a="$(median gateway "$c" | awk '{print $1}')" -v b="$(median redis "$c" | awk '{print $1}')" \
    'BEGIN {printf "GetTop through the gateway (limits off) / raw ZREVRANGE: %.2f\n", (b > 0 ? a / b : 0)}'
done

# 1,000 members' tokens (20 in each of 50 orgs) spread over the calls, at the
# gateway's default limits (50/s a member, 1000/s an org): h2load sends one
# header set, so accolade-loadgen (bench/loadgen.c: -c 50 threads of blocking
# gRPC calls, one connection) makes these calls, the same on every path;
# straight and through HAProxy they carry the 1,000 signed identities.
lg() {   # lg ADDR [loadgen flags]: prints "req/s p50 p99 ok"
  local addr=$1; shift
  "$BUILD/bin/accolade-loadgen" --addr "$addr" --method GetTop -n "$N" -c 50 --user 'm{n%1000}' --org 'o{n%50}' \
    --jwt-secret bench-secret "$@" | awk -v n="$N" '{print $4, $5, $6, n - $7}'
}
# evalsha: the Lua calls Redis has run (the rate limiter's lease fetches).
evalsha() { redis-cli -p "$REDIS_PORT" info commandstats | awk -F'[=,]' '/^cmdstat_evalsha:/ {print $2}'; }
TPATHS=(direct haproxy gateway-limits gateway core-limits)
LEASES=""
for r in $(seq 1 "$ROUNDS"); do
  RES[direct,t,$r]=$(lg "127.0.0.1:$LB_PORT" --sign 1)
  RES[haproxy,t,$r]=$(lg "127.0.0.1:$HA_PORT" --sign 1)
  e0=$(evalsha)
  RES[gateway-limits,t,$r]=$(lg "127.0.0.1:$GW2_PORT")
  LEASES="$LEASES $(($(evalsha) - ${e0:-0}))"
  RES[gateway,t,$r]=$(lg "127.0.0.1:$GW_PORT")
  RES[core-limits,t,$r]=$(lg "127.0.0.1:$GW3_PORT")
done
ha=$(median haproxy t | awk '{print $1}')
printf '\nGetTop, %d calls from 1,000 members in 50 orgs, accolade-loadgen -c 50, median of %d rounds\n' "$N" "$ROUNDS"
printf '%-44s %10s %8s %8s %8s %8s\n' "path" "req/s" "p50 ms" "p99 ms" "x HAProxy" "OK"
for p in "${TPATHS[@]}"; do
  read -r rps p50 p99 ok <<<"$(median "$p" t)"
  case $p in
    direct) name="straight to svc-leaderboard (signed)";;
    haproxy) name="HAProxy 2.6 (signed, no auth)";;
    gateway-limits) name="Accolade gateway, default limits";;
    gateway) name="Accolade gateway, limits off";;
    core-limits) name="gateway on gRPC core (FRONT=0), default limits";;
  esac
  printf '%-44s %10.0f %8s %8s %8.2f %8s\n' "$name" "$rps" "$p50" "$p99" "$(awk -v a="$rps" -v b="$ha" 'BEGIN {print (b > 0 ? a / b : 0)}')" "$ok/$N"
done
echo "Lua calls Redis ran in each round of the gateway at its default limits (its lease fetches; GetTop runs none), $N calls a round:$LEASES"

# TLS on the public hop: HAProxy and the gateway's front each terminating
# TLS (a P-256 certificate made here; h2load negotiates TLS 1.3 and h2) with
# plaintext h2 to svc-leaderboard behind, limits off, the same h2load
# settings and rounds (the two take turns going first). Each h2load client
# makes one handshake; the rest is the record layer.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/tls.key" -out "$TMP/tls.pem" 2>/dev/null
cat "$TMP/tls.pem" "$TMP/tls.key" > "$TMP/tls-both.pem"
HAS_PORT=$(acc_free_port); GWS_PORT=$(acc_free_port)
haproxy_start haproxy-tls "127.0.0.1:$HAS_PORT ssl crt $TMP/tls-both.pem alpn h2"
start_gateway "$GWS_PORT" 0 ACCOLADE_GATEWAY_RATE_MEMBER=0 ACCOLADE_GATEWAY_RATE_ORG=0 \
  ACCOLADE_TLS_CERT="$TMP/tls.pem" ACCOLADE_TLS_KEY="$TMP/tls.key"
for port in $HAS_PORT $GWS_PORT; do
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
done
for setting in "50 10" "4 25"; do
  read -r c m <<<"$setting"
  for r in $(seq 1 "$ROUNDS"); do
    fresh_identity
    SCHEME=https turns "$c" "$m" "$r" -tls "$HAS_PORT" "$GWS_PORT"
  done
  ha=$(median haproxy-tls "$c" | awk '{print $1}')
  table_head "$(printf 'GetTop over TLS, %d calls, h2load -c %d -m %d, median of %d rounds' "$N" "$c" "$m" "$ROUNDS")"
  row "HAProxy 2.6, TLS (no auth)" haproxy-tls "$c" "$HAS_PORT" "$ha"
  row "Accolade gateway, TLS, limits off" gateway-tls "$c" "$GWS_PORT" "$ha"
done

# BENCH_PERF=1: where the gateway's time goes (limits off, h2load -c 4 -m 25)
# and HAProxy's on the same calls, from perf (Debian's linux-perf), by
# library and by symbol.
# profile NAME PID PORT [headers...]
profile() {
  local name=$1 pid=$2 port=$3; shift 3
  perf record -F 999 -g -o "$TMP/perf-$name.data" -p "$pid" -- sleep 3 >/dev/null 2>&1 &
  local pp=$!
  sleep 0.2
  N=200000 one "$port" 4 25 "$@" >/dev/null
  wait "$pp" || true
  printf '\nperf, %s under h2load -c 4 -m 25: by library\n' "$name"
  # (|| true: head ends the pipe early, which pipefail would count as failing)
  perf report -i "$TMP/perf-$name.data" --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 || true
  printf 'by symbol\n'
  perf report -i "$TMP/perf-$name.data" --no-children --sort sym -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 || true
}
if [ "${BENCH_PERF:-0}" = 1 ]; then
  command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
  fresh_identity
  profile gateway "$(pgrep -f -- "--listen=127.0.0.1:$GW_PORT" | head -1)" "$GW_PORT" -H "authorization: Bearer $TOKEN"
  profile haproxy "$(pgrep -f -- "haproxy -f $TMP/haproxy.cfg" | head -1)" "$HA_PORT" "${IDH[@]}"
fi
