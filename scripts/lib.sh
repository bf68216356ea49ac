# scripts/lib.sh - shared by scripts/run and scripts/test: packages, build,
# a private Postgres cluster and Redis on loopback. Source it; do not run it.

ACC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ACC_PACKAGES="build-essential cmake pkg-config libgrpc-dev libabsl-dev libgoogle-perftools-dev protobuf-c-compiler libprotobuf-c-dev
  protobuf-compiler libhiredis-dev libpq-dev libssl-dev libcriterion-dev libcurl4-openssl-dev
  libjson-c-dev libmicrohttpd-dev libnghttp2-dev zlib1g-dev postgresql redis-server nghttp2-client python3-grpcio
  python3-protobuf python3-yaml python3-cryptography docker-compose chromium python3-websocket python3-aiosmtpd"

acc_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# acc_install_deps installs the Debian packages that are missing.
acc_install_deps() {
  local missing=()
  for p in $ACC_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    acc_log "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# acc_build DIR [cmake args...] configures and builds into DIR.
acc_build() {
  local dir=$1; shift
  cmake -S "$ACC_ROOT" -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)"
}

acc_free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

acc_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# acc_as_postgres runs a command as the postgres user when we are root
# (initdb refuses to run as root).
acc_as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# acc_pg_start DATADIR PORT [fast] initialises (once) and starts a cluster
# listening on 127.0.0.1:PORT only, trust auth for local use.
acc_pg_start() {
  local data=$1 port=$2 fast=${3:-}
  local bin; bin=$(acc_pg_bin)
  mkdir -p "$data"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data" "$(dirname "$data")"
  if [ ! -f "$data/PG_VERSION" ]; then
    acc_as_postgres "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  # autovacuum_naptime 1s: a table that grows from nothing (a new install
  # under load) is analyzed within a second or two of each 10% of growth,
  # so the plans the services' connections keep are made again from its
  # size (common/pg.c), not kept from when it was empty.
  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c max_connections=300"
  opts="$opts -c autovacuum_naptime=1s"
  [ -n "$fast" ] && opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  # ACC_PG_OPTS: more server settings, e.g. to load pg_stat_statements for a profile.
  opts="$opts ${ACC_PG_OPTS:-}"
  acc_as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -o "$opts" -w -t 60 start >/dev/null
}

# acc_reserve_ports LIST keeps the kernel from handing the ports in LIST
# ("50050-50054,55432") to outgoing connections: fixed listen ports inside
# the ephemeral range (32768-60999) are otherwise now and then taken by some
# process's connection, and a service cannot listen. Root only; a read-only
# /proc/sys (a container) leaves it as it was.
acc_reserve_ports() {
  [ "$(id -u)" -eq 0 ] || return 0
  local cur; cur=$(sysctl -n net.ipv4.ip_local_reserved_ports 2>/dev/null) || return 0
  sysctl -qw net.ipv4.ip_local_reserved_ports="${cur:+$cur,}$1" 2>/dev/null || true
}

acc_pg_stop() {
  local data=$1
  [ -f "$data/postmaster.pid" ] || return 0
  acc_as_postgres "$(acc_pg_bin)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

# acc_redis_start DIR PORT starts redis-server in the background (pid in DIR/redis.pid).
acc_redis_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "redis did not start" >&2; return 1
}

# acc_redis_stop stops the Redis of DIR and waits (up to 5 s) until it has
# exited, so that DIR can be removed after it.
acc_redis_stop() {
  local dir=$1 pid
  [ -f "$dir/redis.pid" ] || return 0
  pid=$(cat "$dir/redis.pid")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.05
  done
}
