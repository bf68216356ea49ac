#!/usr/bin/env bash
# bench/suite.sh - the whole suite under load, through the gateway (Release
# build, a throwaway Postgres and Redis, every process on loopback):
#   1. CreateNomination with a distinct request id per call, then
#      ReviewNomination approving each of them (accolade-loadgen);
#   2. recognition-to-visibility of those approvals, from Postgres' commit
#      timestamps: from the approval's commit to the commit marking the award
#      applied on the boards (after its Redis write) and to the recipient's
#      inbox row's commit - p50 and p99 of every approval made under load; a
#      run in which an approval is not visible within its bound fails;
#   3. GetTop, GetRank, GetProfile and ListInbox;
#   4. the baselines in the same run: redis-benchmark ZREVRANGE 0 9 WITHSCORES
#      on the org's board and pgbench with a one-row INSERT transaction, and
#      the ratios GetTop/ZREVRANGE, CreateNomination/INSERT and
#      GetProfile/GetTop, with the server CPU per GetTop and GetProfile;
#   5. the resident memory of each process, idle and after the load.
#
#   bench/suite.sh [calls=4000] [concurrency=16]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
N=${1:-4000}; C=${2:-16}
bench_stack suitebench

bench_services

# The org: a manager, 500 members in 10 teams, 200 givers; allowances that a
# load test does not exhaust (100 a month, 100 per pair a quarter).
psql_ bench -c "
  INSERT INTO nomination.member (org, user_id, display_name, team, manager_id)
  SELECT 'bench', 'mgr', 'The Manager', 'mgmt', '' UNION ALL
  SELECT 'bench', 'm' || i, 'Member ' || i, 't' || (i / 50), 'mgr' FROM generate_series(0, 499) i UNION ALL
  SELECT 'bench', 'g' || i, 'Giver ' || i, 'givers', 'mgr' FROM generate_series(0, 199) i;
  INSERT INTO nomination.org_settings (org, allowance_per_month, pair_cap_per_quarter) VALUES ('bench', 100, 100)
  ON CONFLICT (org) DO UPDATE SET allowance_per_month = 100, pair_cap_per_quarter = 100;
  ANALYZE nomination.member;"

# visibility PREFIX waits (at most BENCH_VIS_BOUND_S, 60 s) for every approval
# of nominations whose request id starts with PREFIX to be on the boards and
# in the inbox - the run fails if one is not - then prints "count lb_p50
# lb_p99 inbox_p50 inbox_p99" (ms) from the approvals' commits.
visibility() {
  bench_visible bench "$1" "${BENCH_VIS_BOUND_S:-60}" || exit 1
  bench_visibility bench "$1"
}

rss() { for s in svc-nomination svc-award svc-leaderboard svc-notify gateway; do
  printf '%s=%s ' "$s" "$(awk '/^VmRSS/ {printf "%.1fMiB", $2/1024}' "/proc/${PID[$s]}/status")"; done; echo; }
RSS_IDLE=$(rss)

LG=("$BUILD/bin/accolade-loadgen" --addr "$GW" --org bench -c "$C")
JUST='justification=Closed the renewal two weeks early by pairing with support on every blocker.'
printf '%-18s %7s %4s %10s %8s %8s %7s\n' "call" "calls" "c" "req/s" "p50 ms" "p99 ms" "errors"
OUT_CREATE=$("${LG[@]}" --method CreateNomination -n "$N" --user 'g{n%199}' \
  --fields "badge_id=deal-closer;nominee_ids[]=m{n%500};request_id=bench-{n};$JUST")
echo "$OUT_CREATE"
psql_ bench -c "SELECT id FROM nomination.nomination WHERE org = 'bench' AND status = 1 ORDER BY created_at" >"$TMP/ids"
"${LG[@]}" --method ReviewNomination -n "$(wc -l <"$TMP/ids")" --user mgr --role manager --ids "$TMP/ids" \
  --fields 'nomination_id={id};approve=1'

# Wait for the outboxes, then read the visibility from the stores.
VIS=$(visibility bench)

# Visibility again at a steady rate well below saturation (RATE approvals a
# second, the calls in flight bounded by C): the latency a team sees on a
# normal day, where the figure above is a backlog draining at full speed.
RATE=${ACCOLADE_BENCH_VIS_RATE:-50}
"${LG[@]}" --method CreateNomination -n "$((RATE * 10))" --user 'g{n%199}' \
  --fields "badge_id=knowledge-sharer;nominee_ids[]=m{n%500};request_id=paced-{n};$JUST" >/dev/null
psql_ bench -c "SELECT id FROM nomination.nomination WHERE org = 'bench' AND status = 1 ORDER BY created_at" >"$TMP/ids2"
PACED=$("${LG[@]}" --method ReviewNomination -n "$(wc -l <"$TMP/ids2")" --user mgr --role manager --ids "$TMP/ids2" \
  --rate "$RATE" --fields 'nomination_id={id};approve=1')
VIS_PACED=$(visibility paced)

CPU0=$(bench_cpu_total)
OUT_TOP=$("${LG[@]}" --method GetTop -n "$((N * 5))" --user 'm{n%500}' --fields 'page_size=10')
echo "$OUT_TOP"
CPU1=$(bench_cpu_total)
"${LG[@]}" --method GetRank -n "$((N * 5))" --user 'm{n%500}' --fields 'subject_id=m{n%500}'
CPU2=$(bench_cpu_total)
OUT_PROF=$("${LG[@]}" --method GetProfile -n "$((N * 2))" --user 'm{n%500}' --fields 'member_id=m{n%500}')
echo "$OUT_PROF"
CPU3=$(bench_cpu_total)
"${LG[@]}" --method ListInbox -n "$((N * 2))" --user 'm{n%500}' --fields 'page_size=20'
RSS_LOAD=$(rss)

# Baselines on the same Postgres and Redis.
ZR=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -n "$((N * 5))" -c "$C" -q \
  ZREVRANGE "$(lb_key bench members:all:all)" 0 9 WITHSCORES 2>/dev/null | tr '\r' '\n' | grep -v '^$' | tail -1)
psql_ bench -c "CREATE TABLE bench_insert (id bigserial PRIMARY KEY, org text, payload text, created_at timestamptz DEFAULT now())"
echo "INSERT INTO bench_insert (org, payload) VALUES ('bench', 'one row, as a nomination is one row plus its outbox');" >"$TMP/insert.sql"
acc_as_postgres "$(acc_pg_bin)/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres -n -c "$C" -j 2 -T 10 \
  -f "$TMP/insert.sql" bench >"$TMP/pgbench.out" 2>&1
TPS=$(awk '/^tps/ {print $3; exit}' "$TMP/pgbench.out")
ZRPS=$(echo "$ZR" | awk '{for (i = 1; i <= NF; i++) if ($i == "requests") print $(i - 1)}')
TOP_RPS=$(echo "$OUT_TOP" | awk '{print $4}')
CREATE_RPS=$(echo "$OUT_CREATE" | awk '{print $4}')

echo
echo "baseline redis-benchmark -c $C: $ZR"
echo "baseline pgbench one-row INSERT, -c $C -j 2 -T 10: $TPS tps"
awk -v a="$TOP_RPS" -v b="$ZRPS" 'BEGIN {printf "ratio GetTop / ZREVRANGE: %.2f (goal >= 1.0)\n", a / b}'
awk -v a="$CREATE_RPS" -v b="$TPS" 'BEGIN {printf "ratio CreateNomination / INSERT: %.2f (goal >= 0.6)\n", a / b}'
awk -v a="$(echo "$OUT_PROF" | awk '{print $4}')" -v b="$TOP_RPS" 'BEGIN {printf "ratio GetProfile / GetTop: %.2f (goal >= 0.5)\n", a / b}'
echo "server CPU per read (Postgres, Redis, the services): GetTop $(bench_per_call "$CPU0" "$CPU1" "$OUT_TOP") ms, GetProfile $(bench_per_call "$CPU2" "$CPU3" "$OUT_PROF") ms"
read -r vn lb50 lb99 in50 in99 <<<"$VIS"
echo "recognition to visibility over $vn approvals at full speed (a backlog draining): leaderboard p50 $lb50 ms p99 $lb99 ms; inbox p50 $in50 ms p99 $in99 ms"
read -r vn lb50 lb99 in50 in99 <<<"$VIS_PACED"
echo "recognition to visibility over $vn approvals at a steady $RATE/s ($(echo "$PACED" | awk '{print "review p50 " $5 " ms"}')): leaderboard p50 $lb50 ms p99 $lb99 ms; inbox p50 $in50 ms p99 $in99 ms (goal p99 <= 50 ms)"
echo "RSS idle:       $RSS_IDLE"
echo "RSS after load: $RSS_LOAD"
