#!/usr/bin/env bash
# BullMQ on Redis next to collectionsd on SQLite, in one run on the same
# machine (bench/RESULTS.md, issue #14): the claim->complete cycles of
# bench/run_task_bench.sh, then the same shape on BullMQ, then one summary
# line per system with the ratio collectionsd/BullMQ.
#
#   single  TASKS tasks, WORKERS workers each claiming one task and completing
#           it. collectionsd: run_task_bench.sh cycles with BATCH=1 (SQLite,
#           WAL, synchronous=FULL). BullMQ: peers/bullmq.mjs manual (claim =
#           Worker.getNextJob, complete = Job.moveToCompleted, timed like
#           collections-taskbench times ClaimTasks), and peers/bullmq.mjs
#           worker (BullMQ's own Worker loop, where a completion fetches the
#           next job: no claim latency of its own). collectionsd runs a
#           second time with CLAIM_NEXT=1 (each completion claims the next
#           task in the same call), the like of that loop: the Worker loop's
#           ratio is against that row.
#   batch   TASKS tasks, BATCH_WORKERS workers claiming BATCH at a time.
#           collectionsd: ClaimTasks max_tasks=BATCH. BullMQ has no batch
#           claim outside BullMQ Pro: BATCH getNextJob calls at once per
#           worker, completed concurrently (peers/bullmq.mjs).
#
# Each BullMQ row runs twice, on a fresh Redis each time:
#   redis-default  Redis's own defaults (RDB snapshots now and then, no
#                  append-only file: nothing is fsynced per job);
#   redis-aof      appendonly yes, appendfsync always (every write fsynced
#                  before Redis answers, durable like synchronous=FULL).
# Both with maxmemory-policy noeviction, as BullMQ's documentation asks.
# Redis is the script's own: a redis-server on a free loopback port with its
# files under a temporary directory, stopped at exit; the system's Redis
# service is neither used nor started.
#
# Redis and node come from Debian (redis-server, nodejs, npm: installed here
# when missing, as root, non-interactively, with Redis's service kept from
# starting); BullMQ and ioredis from the npm registry, pinned in
# bench/peers/package.json and package-lock.json (npm ci when missing).
#
# Usage: bench/run_bullmq_bench.sh [single] [batch]   (default: both)
# Environment: TASKS=20000 WORKERS=16 BATCH=32 BATCH_WORKERS=8
#   PERSISTENCE="default aof" (which Redis rows) BUILD_DIR=build TMP_ROOT=/tmp
#   WAIT_IDLE=0 (passed to run_task_bench.sh)
set -euo pipefail
cd "$(dirname "$0")"
TASKS=${TASKS:-20000}
WORKERS=${WORKERS:-16}
BATCH=${BATCH:-32}
BATCH_WORKERS=${BATCH_WORKERS:-8}
PERSISTENCE=${PERSISTENCE:-default aof}
TMP_ROOT=${TMP_ROOT:-/tmp}
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(single batch)
for scenario in "${scenarios[@]}"; do
  [[ $scenario == single || $scenario == batch ]] ||
    { echo "unknown scenario $scenario (single, batch)" >&2; exit 2; }
done
for persistence in $PERSISTENCE; do
  [[ $persistence == default || $persistence == aof ]] ||
    { echo "unknown PERSISTENCE $persistence (default, aof)" >&2; exit 2; }
done

peers_installed() { [[ -d peers/node_modules/bullmq && -d peers/node_modules/ioredis ]]; }

# Installs the Debian packages that are missing (redis-server; nodejs and
# npm, for BullMQ), as root, with no questions asked.
install_missing() {
  local packages=()
  command -v redis-server >/dev/null || packages+=(redis-server)
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || peers_installed || packages+=(npm)
  [[ ${#packages[@]} -gt 0 ]] || return 0
  if [[ $(id -u) -ne 0 ]]; then
    echo "missing ${packages[*]}; as root: apt-get install ${packages[*]}" >&2
    exit 2
  fi
  echo "# installing ${packages[*]} (Debian)" >&2
  # Debian starts a package's service on install unless policy-rc.d answers
  # 101; this benchmark runs its own redis-server, never the system's.
  local guard=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    guard=/usr/sbin/policy-rc.d
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get update </dev/null >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}" \
      </dev/null >/dev/null || status=$?
  [[ -z $guard ]] || rm -f "$guard"
  if [[ " ${packages[*]} " == *" redis-server "* && -d /run/systemd/system ]]; then
    systemctl disable --now redis-server >/dev/null 2>&1 || true  # nor started at boot
  fi
  [[ $status -eq 0 ]] || { echo "apt-get install ${packages[*]} failed" >&2; exit 1; }
}
install_missing
peers_installed || (cd peers && npm ci --no-audit --no-fund </dev/null >/dev/null)

run_dir=$(mktemp -d "$TMP_ROOT/collections-bullmq.XXXXXX")
redis_pid=""
stop_redis() {
  [[ -n $redis_pid ]] || return 0
  kill -TERM "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=""
}
cleanup() {
  stop_redis
  rm -rf "$run_dir"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# $1: default|aof. Starts a fresh redis-server; sets redis_pid and REDIS_PORT.
start_redis() {
  local dir="$run_dir/redis-$1-$RANDOM" args
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  args=(--port "$REDIS_PORT" --bind 127.0.0.1 --dir "$dir" --daemonize no
        --logfile "$dir/redis.log" --maxmemory-policy noeviction)
  [[ $1 == aof ]] && args+=(--appendonly yes --appendfsync always)
  redis-server "${args[@]}" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return 0
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "redis-server did not start:" >&2
  cat "$dir/redis.log" >&2
  exit 1
}

# $1: default|aof, then peers/bullmq.mjs's MODE WORKERS BATCH: its line.
bullmq() {
  local persistence=$1 line
  shift
  start_redis "$persistence"
  line=$(node peers/bullmq.mjs "$1" "$REDIS_PORT" "$TASKS" "$2" "$3")
  stop_redis
  echo "$line"
}

# $1: a key=value line, $2: a key -> its value ("-" when absent).
field() {
  tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1 | grep . || echo -
}

# $1: label, $2: line, $3: collectionsd's line (or empty): one summary line.
summary() {
  local rate p50 p99 ratio=""
  rate=$(field "$2" cycles_per_s)
  p50=$(field "$2" claim_p50_ms)
  p99=$(field "$2" claim_p99_ms)
  if [[ -n $3 ]]; then
    ratio=$(awk -v a="$(field "$3" cycles_per_s)" -v b="$rate" \
      'BEGIN { printf "  collectionsd/BullMQ=%.2f", a / b }')
  fi
  printf '%-44s %7s cycles/s  claim p50/p99 %s/%s ms%s\n' "$1" "$rate" "$p50" "$p99" "$ratio"
}

bullmq_version=$(node -p 'require("./peers/node_modules/bullmq/package.json").version')
ioredis_version=$(node -p 'require("./peers/node_modules/ioredis/package.json").version')
redis_version=$(redis-server --version | sed -nE 's/.* v=([^ ]+).*/\1/p')
echo "# bullmq: $(date -u +%Y-%m-%dT%H:%M:%SZ) tasks=$TASKS bullmq=$bullmq_version" \
     "ioredis=$ioredis_version redis=$redis_version node=$(node --version)" \
     "load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""

summaries=()
for scenario in "${scenarios[@]}"; do
  if [[ $scenario == single ]]; then workers=$WORKERS batch=1; else workers=$BATCH_WORKERS batch=$BATCH; fi
  out=$(TASKS=$TASKS WORKERS=$workers BATCH=$batch TMP_ROOT=$TMP_ROOT ./run_task_bench.sh cycles)
  grep '^# ' <<<"$out"
  ours=$(sed -n 's/^cycles: cycles=/cycles=/p' <<<"$out")
  echo "$scenario collectionsd sqlite: $ours"
  summaries+=("== $scenario: $TASKS tasks, $workers workers, claims of $batch ==")
  summaries+=("$(summary "collectionsd (SQLite, synchronous=FULL)" "$ours" "")")
  ours_next=$ours
  if [[ $batch == 1 ]]; then
    # Like BullMQ's Worker loop: each completion claims the next task
    # (CompleteTaskRequest.claim_next), one call a cycle.
    out=$(CLAIM_NEXT=1 TASKS=$TASKS WORKERS=$workers BATCH=1 TMP_ROOT=$TMP_ROOT \
      ./run_task_bench.sh cycles)
    ours_next=$(sed -n 's/^cycles: cycles=/cycles=/p' <<<"$out")
    echo "$scenario collectionsd sqlite claim_next: $ours_next"
    summaries+=("$(summary "collectionsd, complete + claim next (SQLite)" "$ours_next" "")")
  fi
  for persistence in $PERSISTENCE; do
    line=$(bullmq "$persistence" manual "$workers" "$batch")
    echo "$scenario bullmq redis-$persistence: $line"
    summaries+=("$(summary "BullMQ $bullmq_version (redis-$persistence)" "$line" "$ours")")
    if [[ $batch == 1 ]]; then
      line=$(bullmq "$persistence" worker "$workers" 1)
      echo "$scenario bullmq-worker redis-$persistence: $line"
      summaries+=("$(summary "BullMQ $bullmq_version Worker loop (redis-$persistence)" "$line" \
        "$ours_next")")
    fi
  done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summaries[@]}"
