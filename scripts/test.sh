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
# The suite runs in the secure setup (TLS, client certificates, bearer
# tokens) made by scripts/dev_credentials.sh into build/test-credentials;
# the build makes them, and they are renewed here once a week (the tokens
# among them last 30 days).
if [[ -n $(find build/test-credentials/access.textproto -mtime +7 2>/dev/null) ]]; then
  rm -rf build/test-credentials
fi
scripts/build.sh

exec scripts/pg.sh run \
  ctest --test-dir build --output-on-failure --no-tests=error "$@"
