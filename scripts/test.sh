#!/usr/bin/env bash
# The test command: installs missing packages (PostgreSQL server included),
# checks the C++ formatting, builds, starts a throwaway PostgreSQL cluster
# on loopback, runs the whole suite with ctest, and stops PostgreSQL
# whatever happens. Exits non-zero on any failure. Extra arguments go to
# ctest (e.g. -R Storage).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
# Unformatted C++ fails the run before anything is built (scripts/format.sh
# fixes it).
scripts/format.sh --check
scripts/build.sh

exec scripts/pg.sh run \
  ctest --test-dir build --output-on-failure --no-tests=error "$@"
