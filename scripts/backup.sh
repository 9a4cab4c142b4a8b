#!/usr/bin/env bash
# Backs up collectionsd's database while the server runs, consistently:
#   scripts/backup.sh "sqlite3://db=var/collections.db timeout=5" backup.db
#   scripts/backup.sh "postgresql://host=H port=P dbname=D user=U" backup.dump
# The connection string is collectionsd's --db. SQLite: SQLite's online
# backup (the sqlite3 shell's .backup), a consistent copy even while the
# writer commits; the result is a database file collectionsd opens as it
# is. PostgreSQL: pg_dump's custom format (restore with pg_restore).
# The backup is created owner-only: it holds borrowers' personal data.
#
# Restore (with collectionsd stopped):
#   SQLite:      install -m 600 backup.db var/collections.db (and remove any
#                var/collections.db-wal and -shm left by the old file)
#   PostgreSQL:  createdb D && pg_restore --no-owner -d D backup.dump
# then start collectionsd on it; it applies any newer migrations itself.
set -euo pipefail
db=${1:?usage: scripts/backup.sh DB_CONNECTION OUTPUT}
out=${2:?usage: scripts/backup.sh DB_CONNECTION OUTPUT}
umask 077
case "$db" in
  sqlite3://*)
    file=$(sed -E 's#^sqlite3://##; s#(^| )db=([^ ]+).*#\2#' <<<"$db")
    [[ -f $file ]] || { echo "backup: no database file $file" >&2; exit 1; }
    rm -f "$out"
    # .timeout: wait for the writer's commit instead of failing on a lock.
    sqlite3 "$file" ".timeout 10000" ".backup '$out'"
    result=$(sqlite3 "$out" "PRAGMA integrity_check;")
    [[ $result == ok ]] || { echo "backup: $out fails its integrity check: $result" >&2; exit 1; }
    ;;
  postgresql://*)
    # SOCI's "key=value key=value" is libpq's connection string as it is.
    pg_dump --format=custom --file="$out" "${db#postgresql://}"
    ;;
  *)
    echo "backup: unknown database $db (sqlite3://... or postgresql://...)" >&2
    exit 2
    ;;
esac
echo "backup: wrote $out ($(stat -c %s "$out") bytes)" >&2
