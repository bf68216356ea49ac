# bench/lib.sh - what the benchmarks share: a Release build and a throwaway
# Postgres (database "bench") and Redis on free loopback ports, stopped with
# every process in PIDS when the script exits. Source it after scripts/lib.sh.
#   bench_stack NAME    sets BUILD, TMP, PG_PORT, REDIS_PORT, PIDS; psql_ runs SQL.
# Postgres runs without fsync unless BENCH_PG_DURABLE=1 (then as scripts/run
# starts it: durable commits).
bench_stack() {
  acc_install_deps
  BUILD=$ACC_ROOT/build-bench
  acc_build "$BUILD" -DCMAKE_BUILD_TYPE=Release -DACCOLADE_SANITIZE=OFF -DACCOLADE_TESTS=ON >/dev/null
  TMP=$(mktemp -d "/tmp/accolade-$1.XXXXXX")
  chmod 755 "$TMP"
  PG_PORT=$(acc_free_port); REDIS_PORT=$(acc_free_port)
  PIDS=()
  trap bench_cleanup EXIT INT TERM
  # Commit timestamps: bench_visibility measures from commits, not from the
  # start of a transaction.
  ACC_PG_OPTS="${ACC_PG_OPTS:-} -c track_commit_timestamp=on" \
    acc_pg_start "$TMP/pg" "$PG_PORT" $([ "${BENCH_PG_DURABLE:-}" = 1 ] || echo fast)
  acc_redis_start "$TMP/redis" "$REDIS_PORT"
  psql_ -c "CREATE DATABASE bench"
}

# BENCH_KEEP_LOGS=DIR: the processes' logs and Postgres' are copied there at
# the end.
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${BENCH_KEEP_LOGS:-}" ]; then
    mkdir -p "$BENCH_KEEP_LOGS" && cp "$TMP"/*.log "$TMP/pg/server.log" "$BENCH_KEEP_LOGS/" 2>/dev/null || true
  fi
  acc_redis_stop "$TMP/redis"; acc_pg_stop "$TMP/pg"; rm -rf "$TMP"
}

psql_() { acc_as_postgres "$(acc_pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qtAX -v ON_ERROR_STOP=1 "$@"; }

# lb_key ORG REST: the Redis key of ORG's board REST ("members:all:all") in
# its live generation (svc-leaderboard/gen.h: lb:{org} until a rebuild,
# lb:{org}:g<n> after).
lb_key() {
  local gen; gen=$(redis-cli -p "$REDIS_PORT" get "lb:{$1}:gen")
  if [ -n "$gen" ] && [ "$gen" != 0 ]; then echo "lb:{$1}:g$gen:$2"; else echo "lb:{$1}:$2"; fi
}

# bench_services starts the four services and the gateway on free ports
# against the bench stack (log level warn, no metrics port, the gateway's rate
# limits off), waiting for each to answer its health check.
# Sets PORT[svc] and PID[svc] and GW (the gateway's address).
bench_services() {
  export ACCOLADE_LOG_LEVEL=warn ACCOLADE_METRICS_PORT=0 ACCOLADE_INTERNAL_KEY=bench-key
  export ACCOLADE_JWT_HS256_SECRET=bench-secret
  export ACCOLADE_PG="host=127.0.0.1 port=$PG_PORT user=postgres dbname=bench"
  export ACCOLADE_REDIS="127.0.0.1:$REDIS_PORT"
  # The gateway's rate limits are off (not raised: off, no lease taken): these
  # benches load one org (1,000 calls a second at most by default) and have
  # one manager approve every nomination (50 a second a member). The
  # limiter's own cost is measured by gateway.sh, 1,000 members' tokens at
  # the default limits.
  export ACCOLADE_GATEWAY_RATE_MEMBER=0 ACCOLADE_GATEWAY_RATE_ORG=0
  declare -gA PORT PID
  local s
  for s in svc-leaderboard svc-notify svc-award svc-nomination gateway; do PORT[$s]=$(acc_free_port); done
  export ACCOLADE_LEADERBOARD_ADDR=127.0.0.1:${PORT[svc-leaderboard]} ACCOLADE_NOTIFY_ADDR=127.0.0.1:${PORT[svc-notify]}
  export ACCOLADE_AWARD_ADDR=127.0.0.1:${PORT[svc-award]} ACCOLADE_NOMINATION_ADDR=127.0.0.1:${PORT[svc-nomination]}
  for s in svc-leaderboard svc-notify svc-award svc-nomination gateway; do
    "$BUILD/bin/$s" --listen="127.0.0.1:${PORT[$s]}" 2>>"$TMP/$s.log" &
    PID[$s]=$!; PIDS+=($!)
    for _ in $(seq 1 200); do
      "$BUILD/bin/accolade" --addr "127.0.0.1:${PORT[$s]}" health >/dev/null 2>&1 && break
      sleep 0.05
    done
  done
  GW=127.0.0.1:${PORT[gateway]}
}

# bench_visibility ORG PREFIX prints "count lb_p50 lb_p99 inbox_p50 inbox_p99"
# (ms) over the approvals of ORG's nominations whose request id starts with
# PREFIX, from Postgres' commit timestamps (track_commit_timestamp, on in the
# bench's Postgres): from the commit of the approval (the nomination row's
# last writer) to the commit that marked the award's ledger row applied
# (svc-leaderboard marks it once the award is in Redis, so the board showed
# it by then) and to the commit of the recipient's inbox row (ListInbox
# reads it from then). Approvals whose award is not yet applied and in the
# inbox are left out: bench_visible says whether any are.
bench_visibility() {
  psql_ bench -F ' ' -c "
  WITH v AS (
    SELECT extract(epoch FROM pg_xact_commit_timestamp(l.xmin) - pg_xact_commit_timestamp(n.xmin)) * 1000 AS lb,
           extract(epoch FROM pg_xact_commit_timestamp(i.xmin) - pg_xact_commit_timestamp(n.xmin)) * 1000 AS inbox
    FROM nomination.nomination n
    JOIN award.award a ON a.org = n.org AND a.source_id = n.id::text
    JOIN leaderboard.ledger l ON l.award_id = a.id::text AND l.applied
    JOIN notify.inbox i ON i.org = n.org AND i.event_id = 'award-granted:' || a.id AND i.kind = 'award_granted'
    WHERE n.org = '$1' AND n.status = 2 AND n.request_id LIKE '$2-%')
  SELECT count(*), round(percentile_cont(0.5) WITHIN GROUP (ORDER BY lb)::numeric, 1),
         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY lb)::numeric, 1),
         round(percentile_cont(0.5) WITHIN GROUP (ORDER BY inbox)::numeric, 1),
         round(percentile_cont(0.99) WITHIN GROUP (ORDER BY inbox)::numeric, 1) FROM v"
}

# bench_visible ORG PREFIX BOUND_S waits until every approved nomination of
# ORG whose request id starts with PREFIX has its award applied on the boards
# and in the inbox; if that takes longer than BOUND_S seconds it says how
# many are missing and fails (the caller's run fails with it).
bench_visible() {
  local missing="" deadline=$((SECONDS + $3))
  while [ $SECONDS -le $deadline ]; do
    missing=$(psql_ bench -c "
      SELECT count(*) FROM nomination.nomination n WHERE n.org = '$1' AND n.status = 2 AND n.request_id LIKE '$2-%'
        AND NOT EXISTS (SELECT 1 FROM award.award a
          JOIN leaderboard.ledger l ON l.award_id = a.id::text AND l.applied
          JOIN notify.inbox i ON i.org = a.org AND i.event_id = 'award-granted:' || a.id AND i.kind = 'award_granted'
          WHERE a.org = n.org AND a.source_id = n.id::text)")
    [ "$missing" = 0 ] && return 0
    sleep 0.2
  done
  echo "FAIL: $missing approvals of '$2' not on the boards and in the inbox within $3 s" >&2
  return 1
}

# bench_server_cpu prints the CPU time (ms, user + system) used so far by the
# bench's Postgres (the postmaster, its live backends and those it reaped),
# then by its Redis and the processes in PID: a cost that the other work on
# a shared machine does not inflate the way it does wall-clock rates.
bench_server_cpu() {
  local pm kids
  pm=$(head -1 "$TMP/pg/postmaster.pid")
  # cat, not awk on the files: mawk stops at the first process gone meanwhile
  kids=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$pm" '$4 == pm {print $1}' || true)
  bench_cpu_of "$pm" $kids
  bench_cpu_of "$(cat "$TMP/redis/redis.pid" 2>/dev/null)" "${PID[@]}"
}

# bench_cpu_split prints "name ms" for Postgres, Redis and each of PID's
# processes (bench_services), one a line.
bench_cpu_split() {
  local s
  echo "postgres $(bench_server_cpu | sed -n 1p)"
  echo "redis $(bench_cpu_of "$(cat "$TMP/redis/redis.pid" 2>/dev/null)")"
  for s in "${!PID[@]}"; do echo "$s $(bench_cpu_of "${PID[$s]}")"; done
}

# bench_cpu_total: bench_server_cpu summed (ms).
bench_cpu_total() { bench_server_cpu | awk '{s += $1} END {print s}'; }

# bench_per_call MS_BEFORE MS_AFTER OUTPUT: the server CPU ms per call of a
# loadgen run (its OUTPUT line gives the calls), from two bench_cpu_total.
bench_per_call() { echo "$3" | awk -v c="$(($2 - $1))" '{printf "%.3f", c / $2}'; }

# bench_cpu_of PID...: the CPU ms of those processes (and of the children
# the first one reaped); processes gone meanwhile count nothing.
bench_cpu_of() {
  local first=$1 p
  for p in "$@"; do
    # after the ")" of comm: fields 12-15 are utime stime cutime cstime
    { sed 's/.*) //' "/proc/$p/stat" 2>/dev/null || true; } |
      awk -v c="$([ "$p" = "$first" ] && echo 1 || echo 0)" '{print $12 + $13 + c * ($14 + $15)}'
  done | awk -v hz="$(getconf CLK_TCK)" '{s += $1} END {printf "%d\n", s * 1000 / hz}'
}
