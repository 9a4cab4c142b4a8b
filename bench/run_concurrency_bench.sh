#!/usr/bin/env bash
# The memory measurement of bench/RESULTS.md ("10,000 concurrent calls"):
# starts a fresh collectionsd on a new SQLite file, holds CALLS concurrent
# ClaimTasks long-polls open on an empty queue over CONNECTIONS connections
# (collections-concurrency-bench), samples the server's resident memory
# while they wait, cancels them and stops the server.
#
# Usage: bench/run_concurrency_bench.sh [extra collectionsd flags...]
# Environment: CALLS=10000 CONNECTIONS=20 HOLD=10s BUILD_DIR=build TMP_ROOT=/tmp
set -euo pipefail

cd "$(dirname "$0")/.."
CALLS=${CALLS:-10000}
CONNECTIONS=${CONNECTIONS:-20}
HOLD=${HOLD:-10s}
BUILD_DIR=${BUILD_DIR:-build}
TMP_ROOT=${TMP_ROOT:-/tmp}

if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target collectionsd collections-concurrency-bench >/dev/null
SERVER=$BUILD_DIR/server/collectionsd
BENCH=$BUILD_DIR/bench/collections-concurrency-bench

CREDENTIALS=$BUILD_DIR/bench-credentials
if [[ ! -f $CREDENTIALS/access.textproto ]]; then
  scripts/dev_credentials.sh "$CREDENTIALS"
fi
export COLLECTIONS_TOKEN_FILE=${COLLECTIONS_TOKEN_FILE:-$CREDENTIALS/tokens/operator.jwt}

run_dir=$(mktemp -d "$TMP_ROOT/collections-concurrency.XXXXXX")
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT

log=$run_dir/server.log
"$SERVER" --listen=127.0.0.1:0 --db="sqlite3://db=$run_dir/c.db timeout=5" \
  --access_config="$CREDENTIALS/access.textproto" --daily_aging_time=off "$@" >"$log" 2>&1 &
server_pid=$!
ADDR=""
for _ in $(seq 1 300); do
  ADDR=$(grep -o 'serving on [^ ]*' "$log" 2>/dev/null | awk '{print $3}') || true
  [[ -n $ADDR ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $ADDR ]] || { echo "collectionsd did not start" >&2; exit 1; }

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
     "build=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt") nproc=$(nproc)" \
     "calls=$CALLS connections=$CONNECTIONS server_flags=\"$*\""
"$BENCH" --server="$ADDR" --calls="$CALLS" --connections="$CONNECTIONS" --hold="$HOLD" \
  --server_pid="$server_pid"
