#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, on 127.0.0.1 and a free port,
# in a temporary directory, trust authentication, run as the `postgres` user
# (when invoked as root; otherwise as the invoking user).
#
#   eval "$(scripts/pg.sh start)"   prints, and so sets:
#       COLLECTIONS_PG_DIR   the cluster's directory (for stop)
#       COLLECTIONS_TEST_PG  the SOCI connection string of the admin database
#   scripts/pg.sh stop [DIR]        stops the cluster and removes DIR
#                                   (default: $COLLECTIONS_PG_DIR)
#   scripts/pg.sh run CMD [ARG...]  starts a cluster, runs CMD with both
#                                   variables exported, stops the cluster
#                                   whatever happens, exits with CMD's status
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
    echo "pg: no PostgreSQL server found under /usr/lib/postgresql (run scripts/deps.sh)" >&2
    exit 1
  fi
  echo "$dir"
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses
# to run as root), from / so that it can read its working directory.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

port_in_use() {
  # Something accepts connections on the port.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Creates and starts the cluster in $2; returns non-zero on failure (the
# caller removes the directory).
start_in() {
  local bin=$1 dir=$2 port tries
  if ! as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust \
      --encoding=UTF8 --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    echo "pg: initdb failed" >&2
    return 1
  fi
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 40000))
    if port_in_use "$port"; then continue; fi
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" \
        start >&2; then
      echo "pg: PostgreSQL running in $dir on 127.0.0.1:$port" >&2
      echo "export COLLECTIONS_PG_DIR='$dir'"
      echo "export COLLECTIONS_TEST_PG='postgresql://host=127.0.0.1 port=$port user=postgres dbname=postgres'"
      return 0
    fi
    echo "pg: start on port $port failed; trying another" >&2
    tail -n 5 "$dir/server.log" >&2 || true
  done
  echo "pg: could not start PostgreSQL" >&2
  return 1
}

start() {
  local bin dir
  bin=$(pg_bin)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/collections-pg.XXXXXX")
  chmod 700 "$dir"
  if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir"; fi
  if ! start_in "$bin" "$dir"; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit 1
  fi
}

stop() {
  local dir=${1:-${COLLECTIONS_PG_DIR:-}}
  if [[ -z "$dir" ]]; then
    echo "pg: stop: no directory given and COLLECTIONS_PG_DIR unset" >&2
    exit 2
  fi
  if [[ ! -d "$dir" ]]; then
    echo "pg: $dir is gone already" >&2
    return 0
  fi
  local bin
  bin=$(pg_bin)
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2 ||
      as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >&2 || true
  fi
  rm -rf "$dir"
  echo "pg: stopped and removed $dir" >&2
}

# Runs "$@" with a cluster that lives exactly as long as the command.
run() {
  if [[ $# -eq 0 ]]; then
    echo "usage: $0 run CMD [ARG...]" >&2
    exit 2
  fi
  local self pg_env
  self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
  COLLECTIONS_PG_DIR=""
  trap 'rc=$?; if [[ -n "$COLLECTIONS_PG_DIR" ]]; then "$self" stop "$COLLECTIONS_PG_DIR" || true; fi; exit "$rc"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  pg_env=$("$self" start)
  eval "$pg_env"
  export COLLECTIONS_PG_DIR COLLECTIONS_TEST_PG
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  run) shift; run "$@" ;;
  *)
    echo "usage: $0 start | stop [DIR] | run CMD [ARG...]" >&2
    exit 2
    ;;
esac
