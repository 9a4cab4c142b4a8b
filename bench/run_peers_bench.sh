#!/usr/bin/env bash
# collectionsd on PostgreSQL next to the job-queue peers, in one run on the
# same database server (bench/RESULTS.md): TASKS tasks, WORKERS workers each
# taking one at a time and completing it.
#   collectionsd     bench/run_task_bench.sh cycles (BATCH=1), DB_WRITERS writers
#   graphile-worker  0.16.6, its defaults but concurrency WORKERS
#   pg-boss          10.4.2, WORKERS loops of fetch(1) + complete
#   raw              pgbench, WORKERS clients: UPDATE ... FOR UPDATE SKIP LOCKED,
#                    then UPDATE (peers/raw_skip_locked.sql), two commits a cycle
# The peers come from the npm registry (bench/peers/package.json, pinned);
# node and pgbench from Debian (nodejs, postgresql).
#
# Usage: scripts/pg.sh run bench/run_peers_bench.sh
# Environment: COLLECTIONS_TEST_PG (set by scripts/pg.sh), TASKS=20000
#   WORKERS=16 DB_WRITERS=8 BUILD_DIR=build
set -euo pipefail
cd "$(dirname "$0")"
TASKS=${TASKS:-20000}
WORKERS=${WORKERS:-16}
admin=${COLLECTIONS_TEST_PG:?run under scripts/pg.sh run, or set COLLECTIONS_TEST_PG}
libpq=${admin#postgresql://}
host=$(sed -nE 's/.*host=([^ ]+).*/\1/p' <<<"$libpq")
port=$(sed -nE 's/.*port=([0-9]+).*/\1/p' <<<"$libpq")
user=$(sed -nE 's/.*user=([^ ]+).*/\1/p' <<<"$libpq")
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
psql_admin() { psql -X -q -v ON_ERROR_STOP=1 "$libpq" "$@"; }

command -v node >/dev/null || { echo "node is missing (apt-get install nodejs npm)" >&2; exit 2; }
if [[ ! -d peers/node_modules ]]; then
  (cd peers && npm ci --no-audit --no-fund >/dev/null)
fi

databases=()
fresh_db() {  # $1: name
  psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
  databases+=("$1")
}
cleanup() {
  for d in "${databases[@]}"; do
    psql_admin -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

echo "# peers: $(date -u +%Y-%m-%dT%H:%M:%SZ) tasks=$TASKS workers=$WORKERS" \
     "postgresql=$("$pg_bin/postgres" --version | awk '{print $3}') node=$(node --version)"

# collectionsd
PG_ADMIN=$admin TASKS=$TASKS WORKERS=$WORKERS BATCH=1 ./run_task_bench.sh cycles |
  grep -E '^cycles: cycles=|^# ' | sed 's/^cycles: /collectionsd: /'

# graphile-worker and pg-boss
fresh_db peers_graphile
node peers/peers.mjs graphile "postgres://$user@$host:$port/peers_graphile" "$TASKS" "$WORKERS"
fresh_db peers_pgboss
node peers/peers.mjs pgboss "postgres://$user@$host:$port/peers_pgboss" "$TASKS" "$WORKERS"

# raw SKIP LOCKED
fresh_db peers_raw
raw=$(sed -E 's/dbname=[^ ]*/dbname=peers_raw/' <<<"$libpq")
psql -X -q -v ON_ERROR_STOP=1 "$raw" >/dev/null <<SQL
CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, state INT NOT NULL DEFAULT 0,
  payload TEXT NOT NULL, taken_at TIMESTAMPTZ, done_at TIMESTAMPTZ);
CREATE INDEX raw_jobs_waiting ON raw_jobs (id) WHERE state = 0;
INSERT INTO raw_jobs (payload) SELECT 'job ' || n FROM generate_series(1, $TASKS) n;
SQL
per_client=$((TASKS / WORKERS))
out=$("$pg_bin/pgbench" -n -c "$WORKERS" -j 2 -t "$per_client" -f peers/raw_skip_locked.sql "$raw" 2>&1)
tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out" | head -1)
lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
echo "raw SKIP LOCKED (pgbench): cycles=$((per_client * WORKERS)) cycles_per_s=${tps%.*}" \
     "workers=$WORKERS latency_avg_ms=$lat"
