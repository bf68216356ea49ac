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
  acc_pg_start "$TMP/pg" "$PG_PORT" $([ "${BENCH_PG_DURABLE:-}" = 1 ] || echo fast)
  acc_redis_start "$TMP/redis" "$REDIS_PORT"
  psql_ -c "CREATE DATABASE bench"
}

bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
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
