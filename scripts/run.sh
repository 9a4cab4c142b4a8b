#!/usr/bin/env bash
# The run command: installs missing packages, builds collectionsd, and serves
# on 127.0.0.1:50051 with the embedded SQLite database var/collections.db and
# the shipped default policy. Extra arguments go to collectionsd (e.g.
# --policy=FILE). Stop it with Ctrl-C or SIGTERM.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/deps.sh
scripts/build.sh collectionsd
mkdir -p var
exec build/server/collectionsd \
  --listen=127.0.0.1:50051 \
  --db="sqlite3://db=var/collections.db timeout=5" \
  "$@"
