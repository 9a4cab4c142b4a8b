#!/usr/bin/env bash
# The Debian package: cpack builds collections_*.deb from the build folder;
# its control data names the package, Debian's runtime libraries and
# adduser; unpacked into a scratch root (dpkg-deb -x), it holds the
# installed tree, and the unpacked collectionsd prints --help and serves
# from a --flagfile like the unit's, then stops cleanly. As root (CI), the
# postinst runs for real in a private mount namespace over a scratch copy
# of /etc and an empty /var/lib: it makes the system user and group
# "collections", /var/lib/collections 0700 and /etc/collections 0750, and
# runs again without harm (an upgrade). Nothing on the machine changes.
#   tests/e2e/package_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: package_test.sh BUILD_DIR}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/serve_lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/collections-package.XXXXXX")
trap 'serve_cleanup; rm -rf "$dir"' EXIT
fail() {
  echo "package_test: $*" >&2
  exit 1
}

cpack --config "$build/CPackConfig.cmake" -B "$dir/out" >"$dir/cpack.log" 2>&1 || {
  cat "$dir/cpack.log" >&2
  fail "cpack failed"
}
debs=("$dir"/out/collections_*.deb)
[[ ${#debs[@]} -eq 1 && -f ${debs[0]} ]] || fail "no single collections_*.deb in $dir/out"
deb=${debs[0]}

[[ $(dpkg-deb -f "$deb" Package) == collections ]] || fail "package name"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in adduser libgrpc++1.51 libprotobuf32 libabsl20220623 libsoci-core4.0 \
  libsoci-sqlite3-4.0 libsoci-postgresql4.0 libssl3; do
  [[ ", $depends," == *", $lib"[\ ,]* ]] || fail "Depends lacks $lib: $depends"
done
dpkg-deb -e "$deb" "$dir/control"
[[ -x $dir/control/postinst ]] || fail "no executable postinst"

dpkg-deb -x "$deb" "$dir/root"
check_tree "$dir/root/usr"
"$dir/root/usr/sbin/collectionsd" --help >"$dir/help" 2>&1 || true
grep -q -- '--listen' "$dir/help" || { cat "$dir/help" >&2; fail "--help lists no --listen"; }
mkdir "$dir/state"
# The build's development credentials (the install test runs the shipped
# dev_credentials.sh; RSA keys take seconds to make).
serve_from_tree "$dir/root/usr" "$dir/state" "$build/test-credentials"

if [[ $(id -u) -eq 0 ]] && unshare --mount true 2>/dev/null; then
  users_before=$(getent passwd collections || true)
  cp -a /etc "$dir/etc"
  mkdir -m 0755 "$dir/var-lib"
  unshare --mount sh -c '
    set -e
    mount --make-rprivate /
    mount --bind "$1/etc" /etc
    mount --bind "$1/var-lib" /var/lib
    "$1/control/postinst" configure
    "$1/control/postinst" configure "1.0.0"
    getent passwd collections | cut -d: -f6,7 >"$1/user"
    getent group collections >/dev/null
    stat -c "%a %U %G" /var/lib/collections /etc/collections >"$1/modes"
  ' postinst "$dir" >"$dir/postinst.log" 2>&1 || {
    cat "$dir/postinst.log" >&2
    fail "postinst failed"
  }
  [[ $(cat "$dir/user") == /var/lib/collections:/usr/sbin/nologin ]] ||
    fail "user collections: $(cat "$dir/user")"
  [[ $(cat "$dir/modes") == $'700 collections collections\n750 root collections' ]] ||
    fail "modes: $(cat "$dir/modes")"
  [[ $(getent passwd collections || true) == "$users_before" ]] ||
    fail "postinst changed this machine's users"
  postinst="ran (user, group, folders; twice)"
else
  postinst="not run (needs root and unshare)"
fi
echo "package_test: ok ($(basename "$deb"), $(stat -c %s "$deb") bytes; postinst $postinst)"
