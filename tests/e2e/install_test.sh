#!/usr/bin/env bash
# The installed tree stands on its own: `cmake --install` into a fresh
# prefix puts the server, the clients, the contract, the shipped policy, the
# credentials script, the Python client, the systemd unit and the docs where
# they belong, and the installed collectionsd serves from a --flagfile like
# the unit's, then drains on SIGTERM and exits 0.
#   tests/e2e/install_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
source "$(dirname "${BASH_SOURCE[0]}")/serve_lib.sh"
prefix=$(mktemp -d "${TMPDIR:-/tmp}/collections-install.XXXXXX")
trap 'serve_cleanup; rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
check_tree "$prefix"
mkdir "$prefix/state"
serve_from_tree "$prefix" "$prefix/state"
echo "install_test: ok ($(grep -c . "$prefix/state/server.log") JSON log lines)"
