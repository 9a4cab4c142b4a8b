#!/usr/bin/env bash
# The test command: installs missing packages (PostgreSQL server included),
# builds, starts a throwaway PostgreSQL cluster on loopback, runs the whole
# suite with ctest, and stops PostgreSQL whatever happens. Exits non-zero on
# any failure. Extra arguments go to ctest (e.g. -R Storage).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
scripts/build.sh

COLLECTIONS_PG_DIR=""
cleanup() {
  local rc=$?
  if [[ -n "$COLLECTIONS_PG_DIR" ]]; then
    "$root/scripts/pg.sh" stop "$COLLECTIONS_PG_DIR" || true
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
pg_env=$(scripts/pg.sh start)
eval "$pg_env"
export COLLECTIONS_TEST_PG

cd build
ctest --output-on-failure --no-tests=error "$@"
