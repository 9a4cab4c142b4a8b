#!/usr/bin/env bash
# The import and aging measurement of bench/RESULTS.md.
#
# For each scenario it starts a release-built collectionsd on a fresh SQLite
# file under /tmp (--daily_aging_time=off, so only the measured RPC moves the
# business date), streams ROWS rows through CaseService.ImportDelinquencies
# with collections-loadgen, advances the business date by one day with
# CaseService.AdvanceBusinessDate, counts the cases per stage, and stops the
# server (SIGTERM). Scenarios:
#
#   worst    every row 30 days past due, with a mild amount and a clean
#            credit record: each case opens in REMINDER (two tasks) and on
#            the next day crosses into COUNSELLING (both tasks cancelled, one
#            created) -- the aging worst case, every open case at a band
#            edge at once.
#   typical  days past due and amounts spread over the class bands (see
#            collections-loadgen --help): the next day only the few cases at
#            a band edge are visited.
#
# Usage: bench/run_import_aging.sh [worst] [typical]      (default: both)
# Environment:
#   ROWS=1000000      rows per import
#   BUILD_DIR=build   where collectionsd and collections-loadgen are built
#                     (configured Release or RelWithDebInfo; built here)
#   TMP_ROOT=/tmp     where the fresh database directory is made
#   PERF=0            1: record `perf record --call-graph dwarf` profiles of
#                     collectionsd for the import and the aging pass into the
#                     run directory (use with KEEP=1; read them with
#                     `perf report -i FILE --children`)
#   KEEP=0            1: keep the run directory (database, logs, profiles)
#   CENSUS=1          0: skip counting cases per stage afterwards
#   AGING=1           0: import only (no aging pass)
#   REV=...           what to print as the source revision (default: git's)
#   REUSE_DB=FILE     a SQLite file a kept run imported (KEEP=1 AGING=0): copied
#                     into the run directory and aged instead of importing
#                     again, so that two binaries age the same book
#   PROBE=0           1: while the import runs, an agent's write beside it:
#                     `collectionsctl signal note --case=1` every quarter
#                     second; prints the wall time of each (process start
#                     included) as p50 / p90 / max after the import
#   SERVER=FILE       the collectionsd binary to run (default: the build's;
#                     e.g. a copy of an earlier revision's, for a before/after)
#   COLLECTIONS_TOKEN_FILE, COLLECTIONS_TLS_CA, ...  read by collections-loadgen
#                     as its connection flags' defaults (README, "Credentials
#                     for the clients")
set -euo pipefail

cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
BUILD_DIR=${BUILD_DIR:-build}
TMP_ROOT=${TMP_ROOT:-/tmp}
PERF=${PERF:-0}
KEEP=${KEEP:-0}
CENSUS=${CENSUS:-1}
AGING=${AGING:-1}
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(worst typical)

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
case "$build_type" in
  Release|RelWithDebInfo) ;;
  *) echo "error: $BUILD_DIR is a '$build_type' build; measure an optimized one" \
          "(cmake -S . -B $BUILD_DIR -DCMAKE_BUILD_TYPE=RelWithDebInfo)" >&2
     exit 2 ;;
esac
cmake --build "$BUILD_DIR" -j2 --target collectionsd collections-loadgen collectionsctl >/dev/null
SERVER=${SERVER:-$BUILD_DIR/server/collectionsd}
REUSE_DB=${REUSE_DB:-}
LOADGEN=$BUILD_DIR/bench/collections-loadgen

# Identity is never off: the development credentials of
# scripts/dev_credentials.sh, made once per build folder. The clients use
# the operator token (every role but legal). TLS=1 also serves and connects
# over TLS, to measure what TLS and token checks cost.
CREDENTIALS=$BUILD_DIR/bench-credentials
if [[ ! -f $CREDENTIALS/access.textproto ]]; then
  "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/scripts/dev_credentials.sh" "$CREDENTIALS"
fi
export COLLECTIONS_TOKEN_FILE=${COLLECTIONS_TOKEN_FILE:-$CREDENTIALS/tokens/operator.jwt}
SERVER_SECURITY=(--access_config="$CREDENTIALS/access.textproto")
if [[ ${TLS:-0} == 1 ]]; then
  SERVER_SECURITY+=(--tls_cert="$CREDENTIALS/server.pem" --tls_key="$CREDENTIALS/server.key")
  export COLLECTIONS_TLS_CA=$CREDENTIALS/ca.pem
fi

run_dir=$(mktemp -d "$TMP_ROOT/collections-bench.XXXXXX")
server_pid=""
perf_pid=""
cleanup() {
  [[ -n ${probe_pid:-} ]] && kill "$probe_pid" 2>/dev/null || true
  [[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null && wait "$perf_pid" 2>/dev/null || true
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then
    echo "kept $run_dir" >&2
  else
    rm -rf "$run_dir"
  fi
}
trap cleanup EXIT

rev=${REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
if git rev-parse HEAD >/dev/null 2>&1 && ! git diff --quiet HEAD 2>/dev/null; then rev+="+dirty"; fi
echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rev=$rev" \
     "build=$build_type nproc=$(nproc)" \
     "cpu=\"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)\"" \
     "mem=$(awk '/MemTotal/ {printf "%.0fGiB", $2/1048576}' /proc/meminfo)" \
     "fs=$(df -T "$run_dir" | awk 'NR==2 {print $2}') rows=$ROWS"

start_server() {  # $1: scenario name
  local db="$run_dir/$1.db" log="$run_dir/$1.server.log"
  rm -f "$db" "$db-wal" "$db-shm"
  if [[ -n $REUSE_DB ]]; then
    cp "$REUSE_DB" "$db"
    [[ -f $REUSE_DB-wal ]] && cp "$REUSE_DB-wal" "$db-wal"
  fi
  "$SERVER" --listen=127.0.0.1:0 --db="sqlite3://db=$db timeout=5" "${SERVER_SECURITY[@]}" \
    --daily_aging_time=off --log_level=info >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    if addr=$(grep -o 'serving on [^ ]*' "$log" | awk '{print $3}') && [[ -n $addr ]]; then
      ADDR=$addr
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "collectionsd did not start" >&2
  cat "$log" >&2
  return 1
}

stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || { echo "collectionsd exited with $?" >&2; return 1; }
  server_pid=""
}

# CPU seconds (user + system) collectionsd has used so far.
server_cpu() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$server_pid/stat"
}

# Bytes collectionsd has caused to be written to storage so far.
server_written() {
  awk '/^write_bytes/ {print $2}' "/proc/$server_pid/io"
}

# Runs one measured step: prints its result line with the server's CPU
# seconds for the step and the load average after it (other work on the
# machine shows there).
measure() {  # $1: scenario, $2: profile name, rest: the loadgen command
  local scenario=$1 profile=$2 cpu0 written0 out
  shift 2
  perf_start "$scenario.$profile"
  cpu0=$(server_cpu)
  written0=$(server_written)
  out=$("$@")
  perf_stop
  echo "$scenario: $out" \
    "server_cpu_s=$(awk -v a="$cpu0" -v b="$(server_cpu)" 'BEGIN {printf "%.1f", b - a}')" \
    "server_written_mb=$(( ($(server_written) - written0) / 1048576 ))" \
    "loadavg=$(cut -d' ' -f1 /proc/loadavg)"
}

# PROBE=1: a signal on case 1 every quarter second until probe_stop; the
# wall milliseconds of each that succeeded (the first ones fail until the
# import's first commit) go to $run_dir/$1.probe.
probe_pid=""
probe_start() {  # $1: scenario
  [[ ${PROBE:-0} == 1 ]] || return 0
  local out="$run_dir/$1.probe" ctl=$BUILD_DIR/clients/collectionsctl t0
  : >"$out"
  (
    while true; do
      t0=$(date +%s%N)
      if "$ctl" signal note --case=1 --text=probe --server="$ADDR" >/dev/null 2>&1; then
        echo $(( ($(date +%s%N) - t0) / 1000000 )) >>"$out"
      fi
      sleep 0.25
    done
  ) &
  probe_pid=$!
}
probe_stop() {  # $1: scenario
  [[ -n $probe_pid ]] || return 0
  kill "$probe_pid" 2>/dev/null
  wait "$probe_pid" 2>/dev/null || true
  probe_pid=""
  sort -n "$run_dir/$1.probe" | awk -v s="$1" '{a[NR] = $1}
    END {if (NR) printf "%s: probe signals=%d p50_ms=%d p90_ms=%d max_ms=%d\n", s, NR,
         a[int(NR * 0.5) + 1], a[int(NR * 0.9) + 1], a[NR]}'
}

perf_start() {  # $1: profile name
  [[ $PERF == 1 ]] || return 0
  # DWARF unwinding: Debian's libsqlite3 has no frame pointers.
  perf record --call-graph dwarf,16384 -F 99 -p "$server_pid" \
    -o "$run_dir/$1.perf.data" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5
}

perf_stop() {
  [[ -n $perf_pid ]] || return 0
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  perf_pid=""
}

for scenario in "${scenarios[@]}"; do
  case "$scenario" in
    worst) feed=(--dpd=30 --amounts=mild --credit=clean) ;;
    typical) feed=(--dpd=-1 --amounts=spread --credit=mixed) ;;
    *) echo "unknown scenario $scenario (worst, typical)" >&2; exit 2 ;;
  esac
  start_server "$scenario"
  # The server's first business date is today in Asia/Shanghai; so is the
  # feed's as-of date, and aging moves one day on.
  today=$(TZ=Asia/Shanghai date +%F)
  tomorrow=$(TZ=Asia/Shanghai date -d "$today + 1 day" +%F)
  if [[ -n $REUSE_DB ]]; then
    echo "$scenario: import: reused $REUSE_DB ($(stat -c %s "$REUSE_DB") bytes)"
  else
    probe_start "$scenario"
    measure "$scenario" import "$LOADGEN" import --server="$ADDR" --rows="$ROWS" \
      --as_of="$today" "${feed[@]}"
    probe_stop "$scenario"
  fi
  if [[ $AGING == 1 ]]; then
    measure "$scenario" aging "$LOADGEN" advance --server="$ADDR" --to="$tomorrow"
  fi
  if [[ $CENSUS == 1 ]]; then
    echo "$scenario: $("$LOADGEN" census --server="$ADDR")"
  fi
  db="$run_dir/$scenario.db"
  echo "$scenario: db_bytes=$(stat -c %s "$db") wal_bytes=$(stat -c %s "$db-wal" 2>/dev/null || echo 0)"
  stop_server
done
