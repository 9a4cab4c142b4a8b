#!/usr/bin/env bash
# The reports-at-scale measurement of bench/RESULTS.md (issue #17), on the
# real server and the managers' CLI.
#
# It starts a release-built collectionsd on a fresh database
# (--daily_aging_time=off, so only the measured RPCs move the business
# date), imports ROWS typical rows (collections-loadgen, as
# run_import_aging.sh typical), stops it and starts it again on the same
# database, and prints:
#   - start-up: from "database: opening" to "serving on" in the server's log
#     (the start-up catch-up runs after that, in the background), and when
#     the catch-up finished;
#   - each report through `collectionsctl report NAME --format=json` (wall
#     time of the command), and `report all --html` once;
#   - DAYS typical days: `date advance` by one day (the day's run: aging,
#     timers, the report snapshot), then the server's RSS;
#   - the server's RSS after start, after each day and after the reports.
#
# Usage: bench/run_report_days.sh
# Environment:
#   ROWS=1000000      rows imported
#   DAYS=10           days advanced one at a time
#   DB=               a PostgreSQL connection string to use instead of a new
#                     SQLite file (its database must be empty)
#   BUILD_DIR=build   an optimized build (Release or RelWithDebInfo)
#   SERVER=           another collectionsd binary to measure (e.g. an
#                     earlier build kept aside); the CLI stays BUILD_DIR's
#   TMP_ROOT=/tmp     where the run directory (database, logs) is made
#   KEEP=0            1: keep the run directory
#   REUSE_DB=         a SQLite file a kept run imported (KEEP=1): copied into
#                     the run directory and used instead of importing again;
#                     with DB=, any non-empty value: DB's database holds an
#                     earlier run's import, used as it is (no copy)
#   DAY_GAP=0         seconds to wait before each day: a bank's days are a
#                     day apart, so the last day's WAL checkpoint (SQLite) has
#                     long finished when the next begins; back to back, each
#                     day also competes with the checkpoint of the one before
#   IMPORT_TIMEOUT=120m  the import RPC's deadline (collections-loadgen's
#                     default, 30 minutes, cut a 1,000,000-row import short
#                     at 804,591 rows on a machine at load 15)
set -euo pipefail

cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
DAYS=${DAYS:-10}
DB=${DB:-}
BUILD_DIR=${BUILD_DIR:-build}
TMP_ROOT=${TMP_ROOT:-/tmp}
KEEP=${KEEP:-0}
REUSE_DB=${REUSE_DB:-}
IMPORT_TIMEOUT=${IMPORT_TIMEOUT:-120m}
DAY_GAP=${DAY_GAP:-0}

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt")
case "$build_type" in
  Release|RelWithDebInfo) ;;
  *) echo "error: measure an optimized build (RelWithDebInfo), not '$build_type'" >&2; exit 2 ;;
esac
cmake --build "$BUILD_DIR" -j2 --target collectionsd collectionsctl collections-loadgen >/dev/null
SERVER=${SERVER:-$BUILD_DIR/server/collectionsd}
CTL=$BUILD_DIR/clients/collectionsctl
LOADGEN=$BUILD_DIR/bench/collections-loadgen

CREDENTIALS=$BUILD_DIR/bench-credentials
if [[ ! -f $CREDENTIALS/access.textproto ]]; then
  scripts/dev_credentials.sh "$CREDENTIALS"
fi
export COLLECTIONS_TOKEN_FILE=${COLLECTIONS_TOKEN_FILE:-$CREDENTIALS/tokens/operator.jwt}

run_dir=$(mktemp -d "$TMP_ROOT/collections-report-days.XXXXXX")
db=${DB:-"sqlite3://db=$run_dir/collections.db timeout=5"}
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $KEEP == 1 ]]; then echo "kept $run_dir" >&2; else rm -rf "$run_dir"; fi
}
trap cleanup EXIT

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
     "build=$build_type nproc=$(nproc) rows=$ROWS days=$DAYS backend=${DB:+postgresql}${DB:-sqlite3}"

log=""
start_server() {  # $1: log name
  log="$run_dir/$1.log"
  "$SERVER" --listen=127.0.0.1:0 --db="$db" --access_config="$CREDENTIALS/access.textproto" \
    --daily_aging_time=off --log_level=info >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 3000); do
    if ADDR=$(grep -o 'serving on [^ ]*' "$log" | awk '{print $3}') && [[ -n $ADDR ]]; then
      export COLLECTIONS_SERVER=$ADDR
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "collectionsd did not start" >&2
  return 1
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
}
load1() { cut -d' ' -f1 /proc/loadavg; }  # the 1-minute load average, printed with each figure
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$server_pid/status"; }
# The server's CPU seconds so far (user + system): comparable on a busy machine.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$server_pid/stat"; }
# Seconds between the first log lines matching $1 and $2 (their timestamps).
log_gap() {
  python3 - "$log" "$1" "$2" <<'EOF'
import datetime, re, sys
path, a, b = sys.argv[1:]
def at(pattern):
    for line in open(path):
        if re.search(pattern, line):
            return datetime.datetime.fromisoformat(line.split()[0].rstrip("Z"))
    return None
x, y = at(a), at(b)
print("%.2f" % (y - x).total_seconds() if x and y else "n/a")
EOF
}
timed() {  # prints the wall seconds of the command; its output goes to $run_dir/out
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$run_dir/out" 2>&1 || { echo "failed: $*" >&2; cat "$run_dir/out" >&2; return 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}'
}

today=$(TZ=Asia/Shanghai date +%F)
if [[ -n $REUSE_DB && -n $DB ]]; then
  # The days go on from the database's business date (psql, when there is
  # one; DB without its "postgresql://" is a libpq connection string).
  reused_day=$(psql "${DB#postgresql://}" -Atc "SELECT day FROM business_date" 2>/dev/null || true)
  echo "import: reused the PostgreSQL database of DB (business date ${reused_day:-?})"
  if [[ -n $reused_day ]]; then today=$(date -u -d "@$((reused_day * 86400))" +%F); fi
elif [[ -n $REUSE_DB ]]; then
  cp "$REUSE_DB" "$run_dir/collections.db"
  # The copy's dirty pages written back now, not during the server's first
  # fsync (which then waited seconds for them and counted them as start-up).
  sync
  reused_day=$(sqlite3 "$run_dir/collections.db" "SELECT day FROM business_date" 2>/dev/null || true)
  echo "import: reused $REUSE_DB (business date ${reused_day:-?})"
  # The days go on from the book's own business date (a kept book may have
  # been advanced already).
  if [[ -n $reused_day ]]; then today=$(date -u -d "@$((reused_day * 86400))" +%F); fi
else
  start_server import
  echo "import (load before $(load1)): $("$LOADGEN" import --server="$ADDR" --rows="$ROWS" \
    --as_of="$today" --dpd=-1 --amounts=spread --credit=mixed --timeout="$IMPORT_TIMEOUT") load=$(load1)"
  stop_server
fi

start_server restart
echo "start-up: database opening -> serving $(log_gap 'database: opening' 'serving on') s;" \
  "rss_mb=$(rss_mb) load=$(load1)"
for _ in $(seq 1 6000); do
  grep -q 'start-up catch-up: done' "$log" && break
  sleep 0.1
done
echo "start-up catch-up: serving -> done $(log_gap 'serving on' 'start-up catch-up: done') s;" \
  "rss_mb=$(rss_mb) load=$(load1)"

reports() {  # $1: label
  local r line="reports ($1):"
  for r in portfolio funnel roll-rates effectiveness reasons agents sla; do
    line+=" $r=$(timed "$CTL" report "$r" --format=json)"
  done
  line+=" funnel,region=$(timed "$CTL" report funnel --region=310000 --format=json)"
  line+=" sla,region=$(timed "$CTL" report sla --region=310000 --format=json)"
  echo "$line rss_mb=$(rss_mb) load=$(load1)"
}
reports "after start"
echo "report all --html: $(timed "$CTL" report all --html="$run_dir/report.html") s;" \
  "$(stat -c %s "$run_dir/report.html") bytes; rss_mb=$(rss_mb) load=$(load1)"

day=$today
for i in $(seq 1 "$DAYS"); do
  day=$(date -d "$day + 1 day" +%F)
  sleep "$DAY_GAP"
  c0=$(cpu_s)
  s=$(timed "$CTL" date advance --to="$day")
  echo "day $i ($day): date advance $s s ($(tr '\n' ' ' <"$run_dir/out" | cut -c1-160));" \
    "server_cpu_s=$(awk -v a="$c0" -v b="$(cpu_s)" 'BEGIN {printf "%.1f", b - a}')" \
    "rss_mb=$(rss_mb) load=$(load1)"
done
reports "after $DAYS days"
stop_server
