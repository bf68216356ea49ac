#!/usr/bin/env bash
# bench/writepath.sh - the write path (issue 16) against pgbench, in one run,
# on a Postgres with the settings a user runs (durable: fsync and
# synchronous_commit on, as scripts/run starts it, not bench/lib.sh's "fast"):
#   1. CreateNomination through the gateway, distinct request ids, 200 givers
#      nominating 200 members in 20 teams (each team its own manager), org
#      allowance and pair cap at 100;
#   2. ReviewNomination approving all of them as fast as C clients go (each by
#      the nominee's manager), then the time from the last approval returning
#      to the last award on the all-time board and in its recipient's inbox
#      (wall clock, polled every 20 ms);
#   3. approvals at a steady 80% of that rate (BENCH_STEADY_PCT=80): approval
#      -> visible p50/p99, from the stores' clocks (the approval's commit ->
#      the ledger row's, the inbox row's);
#   4. GetTop and GetProfile through the gateway;
#   5. pgbench tpcb-like at -c C on the same Postgres, run before step 1 and
#      again after step 4 (the ratios are to the mean of the two), and a
#      one-row INSERT.
# The gateway's rate limits are raised (the defaults, 1000/s per org, would
# cap the write path below the goal); everything else is at its default.
#
#   bench/writepath.sh [calls=3000] [concurrency=16] [seconds=15]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
source "$(dirname "$0")/lib.sh"
N=${1:-3000}; C=${2:-16}; T=${3:-15}
BENCH_PG_DURABLE=1 bench_stack writepath

bench_services

# Member m<i> is in team t<i % 20>, managed by mgr<i % 20>: nomination n (of
# m<n % 200>) is routed to mgr<n % 20>.
psql_ bench -c "
  INSERT INTO nomination.member (org, user_id, display_name, team, manager_id)
  SELECT 'wp', 'mgr' || i, 'Manager ' || i, 'mgmt', '' FROM generate_series(0, 19) i UNION ALL
  SELECT 'wp', 'm' || i, 'Member ' || i, 't' || (i % 20), 'mgr' || (i % 20) FROM generate_series(0, 199) i UNION ALL
  SELECT 'wp', 'g' || i, 'Giver ' || i, 't' || (i % 20), 'mgr' || (i % 20) FROM generate_series(0, 199) i;
  INSERT INTO nomination.org_settings (org, allowance_per_month, pair_cap_per_quarter) VALUES ('wp', 100, 100)
  ON CONFLICT (org) DO UPDATE SET allowance_per_month = 100, pair_cap_per_quarter = 100;
  ANALYZE nomination.member;"

LG=("$BUILD/bin/accolade-loadgen" --addr "$GW" --org wp -c "$C")
JUST='justification=Closed the renewal two weeks early by pairing with support on every blocker.'
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# nominate PREFIX COUNT BADGE: COUNT nominations, then their ids in request
# order (line n routed to mgr<n % 20>) in $TMP/PREFIX.ids.
nominate() {
  "${LG[@]}" --method CreateNomination -n "$2" --user 'g{n%199}' \
    --fields "badge_id=$3;nominee_ids[]=m{n%200};request_id=$1-{n};$JUST"
  psql_ bench -c "SELECT id FROM nomination.nomination WHERE org = 'wp' AND request_id LIKE '$1-%'
    ORDER BY substring(request_id FROM '[0-9]+\$')::int" >"$TMP/$1.ids"
}
approve() { "${LG[@]}" --method ReviewNomination -n "$(wc -l <"$TMP/$1.ids")" --user 'mgr{n%20}' --role manager \
  --ids "$TMP/$1.ids" --fields 'nomination_id={id};approve=1' "${@:2}"; }
# pending PREFIX: approvals of PREFIX not yet on the board or in the inbox.
pending() {
  psql_ bench -c "SELECT
    (SELECT count(*) FROM nomination.nomination WHERE org = 'wp' AND status = 2 AND request_id LIKE '$1-%') -
    (SELECT count(*) FROM leaderboard.ledger l JOIN award.award a ON l.award_id = a.id::text
       JOIN nomination.nomination n ON a.source_id = n.id::text WHERE n.request_id LIKE '$1-%'),
    (SELECT count(*) FROM nomination.nomination WHERE org = 'wp' AND status = 2 AND request_id LIKE '$1-%') -
    (SELECT count(*) FROM notify.inbox i JOIN award.award a ON i.event_id = 'award-granted:' || a.id
       JOIN nomination.nomination n ON a.source_id = n.id::text WHERE n.request_id LIKE '$1-%' AND i.kind = 'award_granted')"
}
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# cpu_all: Postgres, Redis and the services; cpu_pg: Postgres alone (ms).
cpu_all() { bench_cpu_total; }
cpu_pg() { bench_server_cpu | sed -n 1p; }
# pgbench on the same Postgres, its own database; tpcb-like runs before the
# write path and again after it, so a machine whose speed drifts during the
# run shows as two figures, and the ratios are to their mean.
psql_ -c "CREATE DATABASE pgb"
PGB=(acc_as_postgres "$(acc_pg_bin)/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U postgres)
"${PGB[@]}" -i -q pgb >/dev/null 2>&1
# tpcb OUT: tpcb-like for T s, its output in OUT, Postgres' CPU ms in OUT.cpu.
tpcb() {
  local c0; c0=$(cpu_pg)
  "${PGB[@]}" -n -b tpcb-like -c "$C" -j 2 -T "$T" pgb >"$1" 2>&1
  echo $(($(cpu_pg) - c0)) >"$1.cpu"
}
tpcb "$TMP/tpcb0.out"
printf '%-18s %7s %4s %10s %8s %8s %7s\n' "call" "calls" "c" "req/s" "p50 ms" "p99 ms" "errors"
# undelivered: outbox rows of every service not delivered yet.
undelivered() { psql_ bench -c "SELECT (SELECT count(*) FROM nomination.outbox WHERE delivered_at IS NULL) +
  (SELECT count(*) FROM award.outbox WHERE delivered_at IS NULL)"; }
[ -z "${BENCH_KEEP_LOGS:-}" ] || psql_ bench -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" \
  >/dev/null 2>&1 || true
CPU0=$(cpu_all)
OUT_CREATE=$(nominate burst "$N" deal-closer); echo "$OUT_CREATE"
for _ in $(seq 1 1200); do [ "$(undelivered)" = 0 ] && break; sleep 0.05; done
CPU1=$(cpu_all)
SPLIT1=$(bench_cpu_split)
# With BENCH_KEEP_LOGS and ACC_PG_OPTS="-c shared_preload_libraries=pg_stat_statements",
# the statements of the nominations (statements-create.txt), of the burst
# of approvals (statements.txt) and of the steady part (statements-steady.txt)
# go there too: calls | total ms executing | total ms planning (with
# pg_stat_statements.track_planning=on) | plans made | buffers touched per
# call | rows per call | the statement; and the steady part's planning is
# printed.
stmts() { [ -z "${BENCH_KEEP_LOGS:-}" ] || psql_ bench -c "$1" 2>/dev/null || true; }
top_stmts() {
  [ -z "${BENCH_KEEP_LOGS:-}" ] || stmts "SELECT calls, round(total_exec_time), round(total_plan_time), plans,
    round((shared_blks_hit + shared_blks_read)::numeric / NULLIF(calls, 0), 1), round(rows::numeric / NULLIF(calls, 0), 1),
    left(regexp_replace(query, '\s+', ' ', 'g'), 150) FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 60" \
    >"$BENCH_KEEP_LOGS/$1"
}
[ -z "${BENCH_KEEP_LOGS:-}" ] || mkdir -p "$BENCH_KEEP_LOGS"
top_stmts statements-create.txt
stmts "SELECT pg_stat_statements_reset()" >/dev/null
OUT_REVIEW=$(approve burst); echo "$OUT_REVIEW"
T0=$(now_ms); LB_MS=""; IN_MS=""
for _ in $(seq 1 3000); do
  IFS='|' read -r lbp inp <<<"$(pending burst)"
  [ -z "$LB_MS" ] && [ "$lbp" = 0 ] && LB_MS=$(($(now_ms) - T0))
  [ -z "$IN_MS" ] && [ "$inp" = 0 ] && IN_MS=$(($(now_ms) - T0))
  [ -n "$LB_MS" ] && [ -n "$IN_MS" ] && break
  sleep 0.02
done
for _ in $(seq 1 1200); do [ "$(undelivered)" = 0 ] && break; sleep 0.05; done
CPU2=$(cpu_all)
SPLIT2=$(bench_cpu_split)
top_stmts statements.txt
stmts "SELECT pg_stat_statements_reset()" >/dev/null

# A steady 80% of the burst's approval rate (the goal's load; another share
# with BENCH_STEADY_PCT, to see the latency at a lighter load), 10 s of it.
PCT=${BENCH_STEADY_PCT:-80}
RATE=$(echo "$OUT_REVIEW" | awk -v p="$PCT" '{printf "%d", $4 * p / 100}')
nominate paced "$((RATE * 10))" knowledge-sharer >/dev/null
PACED=$(approve paced --rate "$RATE")
for _ in $(seq 1 500); do [ "$(pending paced)" = "0|0" ] && break; sleep 0.05; done
top_stmts statements-steady.txt
PLANNING=$(stmts "SELECT sum(calls), sum(plans), round(sum(total_plan_time)), round(sum(total_exec_time)),
  sum(calls) FILTER (WHERE query LIKE 'WITH claimed AS%'), sum(plans) FILTER (WHERE query LIKE 'WITH claimed AS%'),
  round(sum(total_plan_time) FILTER (WHERE query LIKE 'WITH claimed AS%')) FROM pg_stat_statements")
VIS=$(bench_visibility wp paced)
# Each paced approval's legs (ms from its commit: the award's commit, the
# ledger's, the inbox's), printed below; with BENCH_KEEP_LOGS kept there too.
psql_ bench -F ' ' -c "
  SELECT to_char(c.t, 'HH24:MI:SS.MS'), round(extract(epoch FROM pg_xact_commit_timestamp(a.xmin) - c.t) * 1000),
         round(extract(epoch FROM pg_xact_commit_timestamp(l.xmin) - c.t) * 1000),
         round(extract(epoch FROM pg_xact_commit_timestamp(i.xmin) - c.t) * 1000)
  FROM nomination.nomination n CROSS JOIN LATERAL (SELECT pg_xact_commit_timestamp(n.xmin) AS t) c
  JOIN award.award a ON a.org = n.org AND a.source_id = n.id::text
  JOIN leaderboard.ledger l ON l.award_id = a.id::text
  JOIN notify.inbox i ON i.org = n.org AND i.event_id = 'award-granted:' || a.id
  WHERE n.org = 'wp' AND n.status = 2 AND n.request_id LIKE 'paced-%' ORDER BY c.t" >"$TMP/paced.txt"
if [ -n "${BENCH_KEEP_LOGS:-}" ]; then mkdir -p "$BENCH_KEEP_LOGS"; cp "$TMP/paced.txt" "$BENCH_KEEP_LOGS/"; fi

CPU5=$(cpu_all)
OUT_TOP=$("${LG[@]}" --method GetTop -n "$((N * 4))" --user 'm{n%200}' --fields 'page_size=10'); echo "$OUT_TOP"
CPU6=$(cpu_all)
OUT_PROF=$("${LG[@]}" --method GetProfile -n "$((N * 2))" --user 'm{n%200}' --fields 'member_id=m{n%200}'); echo "$OUT_PROF"
CPU7=$(cpu_all)
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

tpcb "$TMP/tpcb1.out"
psql_ pgb -c "CREATE TABLE one_row (id bigserial PRIMARY KEY, org text, payload text, created_at timestamptz DEFAULT now())"
echo "INSERT INTO one_row (org, payload) VALUES ('wp', 'one row');" >"$TMP/insert.sql"
"${PGB[@]}" -n -c "$C" -j 2 -T "$T" -f "$TMP/insert.sql" pgb >"$TMP/insert.out" 2>&1
tps_of() { awk '/^tps/ {print $3; exit}' "$1"; }
TPCB0=$(tps_of "$TMP/tpcb0.out"); TPCB1=$(tps_of "$TMP/tpcb1.out")
TPCB=$(awk -v a="$TPCB0" -v b="$TPCB1" 'BEGIN {printf "%.1f", (a + b) / 2}')
INS=$(tps_of "$TMP/insert.out")

rps() { echo "$1" | awk '{print $4}'; }
echo
echo "postgres: fsync=$(psql_ -c 'SHOW fsync') synchronous_commit=$(psql_ -c 'SHOW synchronous_commit')"
echo "pgbench tpcb-like -c $C -j 2 -T $T: $TPCB0 tps before the write path, $TPCB1 after, mean $TPCB; one-row INSERT: $INS tps"
awk -v a="$(rps "$OUT_CREATE")" -v r="$(rps "$OUT_REVIEW")" -v b="$TPCB" \
  'BEGIN {printf "ratio CreateNomination / tpcb-like: %.2f, ReviewNomination / tpcb-like: %.2f (goal >= 0.5)\n", a / b, r / b}'
awk -v a="$(rps "$OUT_PROF")" -v b="$(rps "$OUT_TOP")" 'BEGIN {printf "ratio GetProfile / GetTop: %.2f (goal >= 0.5)\n", a / b}'
echo "server CPU per read: GetTop $(bench_per_call "$CPU5" "$CPU6" "$OUT_TOP") ms, GetProfile $(bench_per_call "$CPU6" "$CPU7" "$OUT_PROF") ms"
txns() { awk '/number of transactions actually processed/ {print $NF; exit}' "$1" | cut -d/ -f1; }
TPCB_N=$(($(txns "$TMP/tpcb0.out") + $(txns "$TMP/tpcb1.out")))
TPCB_CPU=$(($(cat "$TMP/tpcb0.out.cpu") + $(cat "$TMP/tpcb1.out.cpu")))
awk -v n="$N" -v t="$TPCB_N" -v c="$((CPU1 - CPU0))" -v r="$((CPU2 - CPU1))" -v p="$TPCB_CPU" 'BEGIN {
  printf "server CPU (ours: Postgres, Redis, services; pgbench: Postgres; no load generator counted): a nomination %.2f ms, an approval %.2f ms with its awards delivered, a tpcb-like transaction %.3f ms: %.1f and %.1f tpcb-like transactions\n",
    c / n, r / n, p / t, (c / n) / (p / t), (r / n) / (p / t)
  printf "  (CPU ms: %d for the nominations, %d for the approvals, %d for %d tpcb-like transactions)\n", c, r, p, t }'
# Where an approval's CPU went, process by process.
join <(sort <<<"$SPLIT1") <(sort <<<"$SPLIT2") | awk '{print $1, $3 - $2}' | sort -k2,2nr |
  awk -v n="$N" '{printf "%s%s %.2f", (NR > 1 ? ", " : "  (an approval: "), $1, $2 / n} END {print " ms)"}'
echo "burst of $N approvals: last on the board ${LB_MS:-(not within 60 s)} ms, last in the inbox ${IN_MS:-(not within 60 s)} ms after the last approval returned (goal <= 1000)"
read -r vn lb50 lb99 in50 in99 <<<"$VIS"
echo "steady $RATE approvals/s, $PCT% of the burst's ($(echo "$PACED" | awk '{print "review p50 " $5 " ms, errors " $7}')), $vn approvals: leaderboard p50 $lb50 p99 $lb99 ms; inbox p50 $in50 p99 $in99 ms (goal at 80%: p99 <= 50)"
# The legs, whole run, and each second's medians (does a leg grow?).
for leg in "2 award" "3 ledger" "4 inbox"; do
  read -r col name <<<"$leg"
  q=$(awk -v c="$col" '{print $c}' "$TMP/paced.txt" | sort -n | awk '{a[NR] = $1} END {
    if (NR) printf "p50 %d p90 %d p99 %d", a[int(NR * 0.5) + 1], a[int(NR * 0.9) + 1], a[int(NR * 0.99) + 1] }')
  per_s=$(awk -v c="$col" '{print substr($1, 1, 8), $c}' "$TMP/paced.txt" | sort -k1,1 -k2n | awk '
    $1 != s { if (s != "") out = out " " v[int(n / 2) + 1]; s = $1; n = 0 } { v[++n] = $2 }
    END { if (s != "") out = out " " v[int(n / 2) + 1]; print out }')
  echo "steady leg, ms from the approval's commit to the $name's: $q; median of each second:$per_s"
done
[ -z "$PLANNING" ] || echo "$PLANNING" | awk -F'|' '{printf "steady part, Postgres (pg_stat_statements): %d statement calls, %d plans, %d ms planning, %d ms executing; of them the outbox claims: %d calls, %d plans, %d ms planning\n", $1, $2, $3, $4, $5, $6, $7}'
echo "load average: before $LOAD0, after the services' load $LOAD1, at the end $(cut -d' ' -f1-3 /proc/loadavg)"
