#!/usr/bin/env bash
# bench/leaderboard.sh - svc-leaderboard at scale, against a real Postgres and
# Redis started here (Release build, no sanitizers):
#   1. seeds two orgs straight into the ledger: "big" (MEMBERS members, ROWS
#      awards) and "small" (10,000 members, 100,000 awards), awards spread
#      over the last 3 years, 10 teams of 100 per 1,000 members, 5 badges;
#   2. times RebuildLeaderboards of each org (every board from the ledger),
#      and of "big" a second time, replacing the boards the first one wrote;
#   3. h2load on GetTop (all-time top 10) and GetRank at 10k vs MEMBERS
#      members, with the hot-board cache on and off;
#   4. redis-benchmark's ZREVRANGE of the same top 10 on the same Redis.
#
#   bench/leaderboard.sh [members=1000000] [rows=10000000] [requests=100000] [clients=50] [streams=1]
#
# h2load runs |clients| connections with |streams| calls in flight on each;
# redis-benchmark the same number of calls in flight (clients x streams
# connections, one each).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
MEMBERS=${1:-1000000}; ROWS=${2:-10000000}; N=${3:-100000}; C=${4:-50}; M=${5:-1}
bench_stack lbbench
export ACCOLADE_LOG_LEVEL=warn ACCOLADE_METRICS_PORT=0 ACCOLADE_INTERNAL_KEY=bench-key
export ACCOLADE_LEADERBOARD_PG="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
export ACCOLADE_REDIS="127.0.0.1:$REDIS_PORT"

# start_lb CACHE_MS [LOG_LEVEL]: (re)start svc-leaderboard; sets LB_PORT.
start_lb() {
  if [ ${#PIDS[@]} -gt 0 ]; then kill "${PIDS[@]}"; wait "${PIDS[@]}" 2>/dev/null || true; PIDS=(); fi
  LB_PORT=$(acc_free_port); MPORT=$(acc_free_port)
  ACCOLADE_LEADERBOARD_CACHE_MS=$1 ACCOLADE_LOG_LEVEL=${2:-warn} ACCOLADE_METRICS_PORT=$MPORT \
    "$BUILD/bin/svc-leaderboard" --listen="127.0.0.1:$LB_PORT" 2>>"$TMP/lb.log" &
  PIDS+=($!)
  for _ in $(seq 1 200); do
    "$BUILD/bin/accolade" --addr "127.0.0.1:$LB_PORT" health >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  cat "$TMP/lb.log" >&2; exit 1
}
# The boards of a fresh Redis are rebuilt by the service's repair thread at
# start; mark this Redis as current so that only the timed rebuilds run.
redis-cli -p "$REDIS_PORT" set accolade:lb:epoch 1 >/dev/null
start_lb 250 info   # creates the schema; logs each rebuild's breakdown

seed() {
  local org=$1 members=$2 rows=$3
  local t0=$SECONDS
  psql_ bench -c "
    INSERT INTO leaderboard.ledger (award_id, org, recipient_id, recipient_team, badge_id, category, points,
                                    granted_at_ms, recipient_name, applied, retract_applied)
    SELECT '$org-' || g, '$org', 'm' || m, 't' || (m / 100), (ARRAY['deal-closer','knowledge-sharer',
           'customer-champion','innovation-driver','collaboration-leader'])[1 + g % 5],
           (ARRAY['sales','enablement','customer','innovation','teamwork'])[1 + g % 5], 10 + (g % 5) * 10,
           (extract(epoch FROM now())::bigint - (g * 40503 % (3 * 365 * 86400))) * 1000,
           'Member ' || m, true, false
    FROM (SELECT g, (g * 2654435761) % $members AS m FROM generate_series(1::bigint, $rows) g) s;
    ANALYZE leaderboard.ledger;"
  echo "seeded org $org: $rows awards to $members members in $((SECONDS - t0)) s"
}
trap 'rc=$?; [ "$rc" -eq 0 ] || tail -20 "$TMP/lb.log" >&2; bench_cleanup' EXIT
seed small 10000 100000
seed big "$MEMBERS" "$ROWS"

# sign ORG USER ROLE: the internal identity headers (as common/identity.c).
sign() {
  local ts; ts=$(date +%s)
  local sig; sig=$(printf 'v1\n%s\n%s\n%s\n\n%s\n' "$1" "$2" "$3" "$ts" |
    openssl dgst -sha256 -hmac "$ACCOLADE_INTERNAL_KEY" -r | cut -d' ' -f1)
  echo "-H x-accolade-org:$1 -H x-accolade-user:$2 -H x-accolade-role:$3 -H x-accolade-ts:$ts -H x-accolade-sig:$sig"
}

# rebuild ORG: RebuildLeaderboards as the org's admin (python3-grpcio), with
# the service's own counts and duration.
rebuild() {
  /usr/bin/python3 - "127.0.0.1:$LB_PORT" "$1" "$ACCOLADE_INTERNAL_KEY" <<'PY'
import grpc, hashlib, hmac, sys, time
addr, org, key = sys.argv[1:4]
ts = str(int(time.time()))
sig = hmac.new(key.encode(), ("v1\n%s\nbench\nadmin\n\n%s\n" % (org, ts)).encode(), hashlib.sha256).hexdigest()
md = [("x-accolade-org", org), ("x-accolade-user", "bench"), ("x-accolade-role", "admin"),
      ("x-accolade-team", ""), ("x-accolade-ts", ts), ("x-accolade-sig", sig)]
call = grpc.insecure_channel(addr).unary_unary("/accolade.v1.LeaderboardService/RebuildLeaderboards")
t0 = time.time()
resp = call(b"", metadata=md, timeout=900)
wall = time.time() - t0
fields, i = {}, 0
while i < len(resp):   # every field of the reply is a varint
    tag, i = resp[i] >> 3, i + 1
    v = shift = 0
    while True:
        b = resp[i]; i += 1
        v |= (b & 0x7F) << shift; shift += 7
        if b < 0x80: break
    fields[tag] = v
print("rebuild %s: %d awards into %d boards in %.1f s (server: %d ms)" % (
    org, fields.get(1, 0), fields.get(2, 0), wall, fields.get(3, 0)))
PY
}
rebuild small
rebuild big
# Again, now that the boards exist: the swap also drops the old ones.
rebuild big
grep -o 'rebuilt org[^"]*' "$TMP/lb.log" || true
echo "redis after the rebuilds: $(redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory_human/ {print $2}' | tr -d '\r'), $(redis-cli -p "$REDIS_PORT" dbsize) keys, all-time board of big: $(redis-cli -p "$REDIS_PORT" zcard "$(lb_key big members:all:all)") members"

# gRPC frames: flag 0, 4-byte length, the message.
printf '\x00\x00\x00\x00\x02\x10\x0a' > "$TMP/top.bin"                 # GetTopRequest{page_size: 10}
printf '\x00\x00\x00\x00\x07\x12\x05m4321' > "$TMP/rank.bin"          # GetRankRequest{subject_id: "m4321"}

printf '\n%-44s %10s %9s %9s %8s\n' "call (-n $N -c $C -m $M)" "req/s" "p50 ms" "p99 ms" "errors"
h2() {
  local name=$1 org=$2 method=$3 body=$4
  rm -f "$TMP/h2.log"   # h2load appends to its --log-file: this run's calls only
  # shellcheck disable=SC2046
  h2load -n "$N" -c "$C" -m "$M" -d "$body" -H 'content-type: application/grpc' -H 'te: trailers' \
    $(sign "$org" bench member) --log-file="$TMP/h2.log" \
    "http://127.0.0.1:$LB_PORT/accolade.v1.LeaderboardService/$method" > "$TMP/h2.out" 2>&1
  local rps; rps=$(awk '/^finished in/ {gsub(",","",$4); print $4}' "$TMP/h2.out")
  local errs; errs=$(awk '$2 != 200' "$TMP/h2.log" | wc -l)
  read -r p50 p99 < <(awk '{print $3}' "$TMP/h2.log" | sort -n | awk '{a[NR]=$1} END {
      printf "%.2f %.2f\n", a[int(NR*0.50)]/1000, a[int(NR*0.99)]/1000 }')
  printf '%-44s %10s %9s %9s %8s\n' "$name" "$rps" "$p50" "$p99" "$errs"
}
for cache in 250 0; do
  start_lb "$cache"
  h2 "GetTop 10k members (cache ${cache} ms)" small GetTop "$TMP/top.bin"
  h2 "GetTop $MEMBERS members (cache ${cache} ms)" big GetTop "$TMP/top.bin"
done
h2 "GetRank 10k members" small GetRank "$TMP/rank.bin"
h2 "GetRank $MEMBERS members" big GetRank "$TMP/rank.bin"
# h2load counts HTTP statuses only; the grpc-status of every call is in the
# service's metrics.
/usr/bin/python3 - "$MPORT" <<'PY'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode()
codes = {}
for line in body.splitlines():
    if line.startswith("accolade_rpc_requests_total{"):
        code = line.split('code="')[1].split('"')[0]
        codes[code] = codes.get(code, 0) + int(line.rsplit(" ", 1)[1])
print("grpc-status of the last server's calls: %s" % ", ".join("%s %d" % kv for kv in sorted(codes.items())))
PY
echo
for size in small big; do
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -n "$N" -c "$((C * M))" -q \
    ZREVRANGE "$(lb_key "$size" members:all:all)" 0 9 WITHSCORES 2>/dev/null | tr '\r' '\n' | grep -v '^$' | tail -1 |
    sed "s/^/redis-benchmark ($size, -c $((C * M))) /"
done
