#!/usr/bin/env bash
# Make sure PostgreSQL and Redis are reachable for the tests; source this file.
#
# Uses the ones on 127.0.0.1:5432 / :6379 when they answer. Otherwise starts a
# throwaway server from the Debian packages (postgresql, redis-server) in a temp
# directory on a free port and exports its URL; or stops with the exact command
# to install what is missing. Exports:
#   ARBYTRON_TEST_PG_URL     postgres://postgres@HOST:PORT/postgres
#   ARBYTRON_TEST_REDIS_URL  redis://HOST:PORT
# and registers a trap that stops throwaway servers when the calling shell exits.

_arb_free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
_arb_cleanup=()
_arb_stop_services() { for c in "${_arb_cleanup[@]}"; do eval "$c" >/dev/null 2>&1 || true; done; }
trap _arb_stop_services EXIT

ensure_postgres() {
  if [ -n "${ARBYTRON_TEST_PG_URL:-}" ]; then return 0; fi
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    export ARBYTRON_TEST_PG_URL="postgres://postgres@127.0.0.1:5432/postgres"; return 0
  fi
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "PostgreSQL is not reachable on 127.0.0.1:5432 and not installed."
    echo "Install it:  sudo apt-get install -y postgresql"
    echo "or start the system one:  sudo pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start"
    return 1
  fi
  local dir port run=()
  dir=$(mktemp -d /tmp/arbytron-pg.XXXXXX); port=$(_arb_free_port)
  if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; run=(runuser -u postgres --); fi
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres --auth=trust >/dev/null
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" -l "$dir/log" -w start >/dev/null
  _arb_cleanup+=("${run[*]} $bin/pg_ctl -D $dir/data -m immediate stop; rm -rf $dir")
  export ARBYTRON_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "started a throwaway PostgreSQL on 127.0.0.1:$port"
}

ensure_redis() {
  if [ -n "${ARBYTRON_TEST_REDIS_URL:-}" ]; then return 0; fi
  if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
    export ARBYTRON_TEST_REDIS_URL="redis://127.0.0.1:6379"; return 0
  fi
  if ! command -v redis-server >/dev/null; then
    echo "Redis is not reachable on 127.0.0.1:6379 and not installed."
    echo "Install it:  sudo apt-get install -y redis-server"
    echo "or start it: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
    return 1
  fi
  local dir port; dir=$(mktemp -d /tmp/arbytron-redis.XXXXXX); port=$(_arb_free_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$dir" --logfile "$dir/log" --pidfile "$dir/pid" >/dev/null
  for _ in $(seq 50); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  _arb_cleanup+=("redis-cli -p $port shutdown nosave; rm -rf $dir")
  export ARBYTRON_TEST_REDIS_URL="redis://127.0.0.1:$port"
  echo "started a throwaway Redis on 127.0.0.1:$port"
}
