#!/usr/bin/env bash
# The TaskService measurement of bench/RESULTS.md: claim->complete cycles per
# second, and task-delivery latency at a fixed creation rate, on SQLite with
# full durability (WAL, synchronous=FULL: a commit is on disk before any
# caller hears of it).
#
# Each scenario starts a fresh collectionsd on a new SQLite file under
# TMP_ROOT, runs collections-taskbench against it, and stops the server
# (SIGTERM; its last log lines give the writer's commands, commits and
# largest batch).
#
#   cycles    TASKS mild cases imported (an SMS task each), then WORKERS
#             workers claim BATCH at a time and complete them.
#   latency   RATE tasks/s created for DURATION seconds while STREAMS workers take
#             them by StreamTasks push and complete them.
#   poll      the same with ClaimTasks long-polls instead of push.
#
# Usage: bench/run_task_bench.sh [cycles] [latency] [poll]   (default: all)
# BullMQ on Redis measured next to these cycles, in one run: bench/run_bullmq_bench.sh.
# Environment: TASKS=50000 WORKERS=8 BATCH=32 RATE=1000 DURATION=20
#   STREAMS=4 CLAIM_NEXT=0 (1, with BATCH=1: each completion claims the next task in the
#   same call, CompleteTaskRequest.claim_next) SERVER_FLAGS= (more collectionsd flags, e.g.
#   --sqlite_wal_checkpoint_mib=1024) BUILD_DIR=build SERVER= (another collectionsd binary
#   to measure, e.g. an earlier build kept aside) TMP_ROOT=/tmp PG_ADMIN= (a SOCI postgresql:// string
#   of an admin database, e.g. scripts/pg.sh's COLLECTIONS_TEST_PG: each scenario then
#   runs on a new PostgreSQL database instead of SQLite) DB_WRITERS=8 REPLICAS=1 (with
#   PG_ADMIN: that many collectionsd on the one database, the workers' connections spread
#   over them in turn) PERF=0 (1: perf record -g the
#   server into the kept run directory) KEEP=0 WAIT_IDLE=0 (1: before each
#   scenario, wait until the machine has been >= 90% idle for 20 s -- for a
#   machine shared with other work); COLLECTIONS_TOKEN_FILE, COLLECTIONS_TLS_CA,
#   ... are read by collections-taskbench as its connection flags' defaults
#   (README, "Credentials for the clients")
set -euo pipefail

cd "$(dirname "$0")/.."
TASKS=${TASKS:-50000}
WORKERS=${WORKERS:-8}
BATCH=${BATCH:-32}
RATE=${RATE:-1000}
DURATION=${DURATION:-20}
STREAMS=${STREAMS:-4}
BUILD_DIR=${BUILD_DIR:-build}
SERVER_FLAGS=${SERVER_FLAGS:-}
CLAIM_NEXT=${CLAIM_NEXT:-0}
TMP_ROOT=${TMP_ROOT:-/tmp}
PERF=${PERF:-0}
KEEP=${KEEP:-$PERF}
WAIT_IDLE=${WAIT_IDLE:-0}
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(cycles latency poll)

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
case "$build_type" in
  Release|RelWithDebInfo) ;;
  *) echo "error: $BUILD_DIR is a '$build_type' build; measure an optimized one" >&2; exit 2 ;;
esac
cmake --build "$BUILD_DIR" -j2 --target collectionsd collections-taskbench >/dev/null
SERVER=${SERVER:-$BUILD_DIR/server/collectionsd}
BENCH=$BUILD_DIR/bench/collections-taskbench

# Identity is never off: the development credentials of
# scripts/dev_credentials.sh, made once per build folder. The clients use
# the operator token (every role but legal). TLS=1 also serves and connects
# over TLS, to measure what TLS and token checks cost.
CREDENTIALS=$BUILD_DIR/bench-credentials
if [[ ! -f $CREDENTIALS/access.textproto ]]; then
  scripts/dev_credentials.sh "$CREDENTIALS"  # the working directory is the tree's root
fi
export COLLECTIONS_TOKEN_FILE=${COLLECTIONS_TOKEN_FILE:-$CREDENTIALS/tokens/operator.jwt}
SERVER_SECURITY=(--access_config="$CREDENTIALS/access.textproto")
if [[ ${TLS:-0} == 1 ]]; then
  SERVER_SECURITY+=(--tls_cert="$CREDENTIALS/server.pem" --tls_key="$CREDENTIALS/server.key")
  export COLLECTIONS_TLS_CA=$CREDENTIALS/ca.pem
fi

run_dir=$(mktemp -d "$TMP_ROOT/collections-taskbench.XXXXXX")
server_pids=()
perf_pid=""
cleanup() {
  [[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null || true
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  [[ -n $PG_ADMIN ]] && drop_databases
  if [[ $KEEP == 1 ]]; then echo "kept $run_dir" >&2; else rm -rf "$run_dir"; fi
}
trap cleanup EXIT

rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD 2>/dev/null; then rev+="+dirty"; fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rev=$rev build=$build_type nproc=$(nproc)" \
     "cpu=\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\"" \
     "fs=$(df -T "$run_dir" | awk 'NR==2 {print $2}') load=\"$(cut -d' ' -f1-3 /proc/loadavg)\"" \
     "db=$([[ -n ${PG_ADMIN:-} ]] && echo "postgresql writers=${DB_WRITERS:-8} replicas=${REPLICAS:-1}" || echo sqlite)"

busy_percent() {  # over the next 5 s, from /proc/stat
  local u n s i w x y z t1 i1
  read -r _ u n s i w x y z _ < /proc/stat; t1=$((u+n+s+i+w+x+y+z)); i1=$((i+w))
  sleep 5
  read -r _ u n s i w x y z _ < /proc/stat
  echo $(( 100 - 100 * (i + w - i1) / (u + n + s + i + w + x + y + z - t1) ))
}

wait_idle() {
  [[ $WAIT_IDLE == 1 ]] || return 0
  local quiet=0
  while (( quiet < 4 )); do
    if (( $(busy_percent) <= 10 )); then quiet=$((quiet + 1)); else quiet=0; fi
  done
  echo "# idle at $(date -u +%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
}

PG_ADMIN=${PG_ADMIN:-}
DB_WRITERS=${DB_WRITERS:-8}
REPLICAS=${REPLICAS:-1}
if [[ $REPLICAS -gt 1 && -z $PG_ADMIN ]]; then
  echo "error: REPLICAS=$REPLICAS needs PostgreSQL (PG_ADMIN)" >&2
  exit 2
fi
pg_databases=()
psql_admin() {  # libpq's form of PG_ADMIN
  psql -X -q -v ON_ERROR_STOP=1 "${PG_ADMIN#postgresql://}" "$@"
}
database_for() {  # $1: scenario -> the --db of its server
  if [[ -z $PG_ADMIN ]]; then
    echo "sqlite3://db=$run_dir/$1.db timeout=5"
    return
  fi
  local name="taskbench_${1}_$$"
  psql_admin -c "CREATE DATABASE $name" >/dev/null
  pg_databases+=("$name")
  echo "$(sed -E 's/dbname=[^ ]*/dbname='"$name"'/' <<<"$PG_ADMIN")"
}
drop_databases() {
  for name in "${pg_databases[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null 2>&1 || true
  done
}

start_one() {  # $1: scenario, $2: database, $3: replica number -> ADDR of it
  local log="$run_dir/$1.server$3.log" pid addr
  "$SERVER" --listen=127.0.0.1:0 --db="$2" --db_writers="$DB_WRITERS" "${SERVER_SECURITY[@]}" \
    --daily_aging_time=off $SERVER_FLAGS >"$log" 2>&1 &
  pid=$!
  server_pids+=("$pid")
  for _ in $(seq 1 300); do
    if addr=$(grep -o 'serving on [^ ]*' "$log" 2>/dev/null | awk '{print $3}') && [[ -n $addr ]]; then
      ADDR=${ADDR:+$ADDR,}$addr
      if [[ $PERF == 1 && $3 == 1 ]]; then
        perf record -g -F 499 -p "$pid" -o "$run_dir/$1.perf.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.5
      fi
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "collectionsd did not start" >&2
  return 1
}

start_server() {  # $1: scenario; REPLICAS servers on one database
  local db
  db=$(database_for "$1")
  ADDR=""
  for i in $(seq 1 "$REPLICAS"); do start_one "$1" "$db" "$i"; done
}

stop_server() {  # $1: scenario
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=""; fi
  local i=0 cpu
  for pid in "${server_pids[@]}"; do
    i=$((i + 1))
    # The server's CPU over the whole scenario (its import included): what
    # a change saves shows here even when a loaded machine blurs the rates.
    cpu=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat")
    kill -TERM "$pid"
    wait "$pid" || { echo "collectionsd exited with $?" >&2; return 1; }
    echo "$1: replica $i $(grep -o 'writer: .*' "$run_dir/$1.server$i.log"), server CPU ${cpu} s"
  done
  server_pids=()
}

for scenario in "${scenarios[@]}"; do
  wait_idle
  start_server "$scenario"
  case "$scenario" in
    cycles) args=(cycles --tasks="$TASKS" --workers="$WORKERS" --batch="$BATCH")
      if [[ $CLAIM_NEXT == 1 ]]; then args+=(--claim_next); fi ;;
    latency) args=(latency --rate="$RATE" --seconds="$DURATION" --streams="$STREAMS" --delivery=stream) ;;
    poll) args=(latency --rate="$RATE" --seconds="$DURATION" --streams="$STREAMS" --delivery=poll) ;;
    *) echo "unknown scenario $scenario (cycles, latency, poll)" >&2; exit 2 ;;
  esac
  echo "$scenario: $("$BENCH" --server="$ADDR" "${args[@]}")"
  stop_server "$scenario"
done
