#!/usr/bin/env bash
# The installed tree stands on its own: `cmake --install` into a fresh
# prefix puts the server, the clients, the contract, the shipped policy, the
# credentials script, the systemd unit and the docs where they belong, and
# the installed collectionsd serves from a --flagfile like the unit's, then
# drains on SIGTERM and exits 0.
#   tests/e2e/install_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
prefix=$(mktemp -d "${TMPDIR:-/tmp}/collections-install.XXXXXX")
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$prefix"' EXIT
pid=""
cmake --install "$build" --prefix "$prefix" >/dev/null

for f in sbin/collectionsd bin/collectionsctl bin/collections-agent \
  bin/collections-legal-receiver share/collections/default_policy.textproto \
  share/collections/dev_credentials.sh share/collections/examples/collectionsd.flags \
  share/collections/protos/collections/v1/case_service.proto \
  share/collections/protos/collections/v1/access.proto \
  lib/systemd/system/collectionsd.service share/doc/collections/README.md \
  share/doc/collections/docs/security.md; do
  [[ -e $prefix/$f ]] || { echo "install_test: missing $f" >&2; exit 1; }
done

"$prefix/share/collections/dev_credentials.sh" "$prefix/etc" 2>/dev/null
cat >"$prefix/collectionsd.flags" <<FLAGS
--listen=127.0.0.1:0
--db=sqlite3://db=$prefix/collections.db timeout=5
--access_config=$prefix/etc/access.textproto
--policy=$prefix/share/collections/default_policy.textproto
--log_format=json
--daily_aging_time=off
FLAGS
"$prefix/sbin/collectionsd" --flagfile="$prefix/collectionsd.flags" 2>"$prefix/server.log" &
pid=$!
for _ in $(seq 1 600); do
  grep -q '"msg":"serving on ' "$prefix/server.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$prefix/server.log" >&2; exit 1; }
  sleep 0.05
done
grep -q '"msg":"serving on ' "$prefix/server.log" || { echo "install_test: not serving" >&2; exit 1; }
kill -TERM "$pid"
wait "$pid"
status=$?
pid=""
[[ $status -eq 0 ]] || { echo "install_test: exit $status" >&2; cat "$prefix/server.log" >&2; exit 1; }
echo "install_test: ok ($(grep -c . "$prefix/server.log") JSON log lines)"
