#!/usr/bin/env bash
# Installs the Debian 12 packages this project needs, and only when one is
# missing (then: apt-get update once, apt-get install). Must run as root when
# something is missing; needs no standard input. See docs/toolchain.md
# for why every library comes from Debian.
set -euo pipefail

PACKAGES=(
  cmake g++ make pkg-config
  dpkg-dev  # cpack's Debian package: dpkg-shlibdeps finds the runtime libraries
  clang  # scripts/clang_check.sh: the thread-safety analysis
  clang-format  # scripts/format.sh: the test command checks the formatting
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libsoci-dev libsqlite3-dev libpq-dev libboost-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-jwt-dev nlohmann-json3-dev libssl-dev  # security/: bearer tokens
  prometheus-cpp-dev  # collectionsd --metrics_listen
  openssl  # scripts/dev_credentials.sh: throwaway CA, certificates, tokens
  postgresql tzdata
  sqlite3  # scripts/backup.sh: SQLite's online backup
  chromium  # the e2e test renders collectionsctl's HTML report headless
  python3-grpcio python3-protobuf  # the Python client (clients/python) and its test
)

installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ "$status" == *" installed" ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
  installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "deps: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

echo "deps: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing packages and not root; run as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# A mirror hiccup should not fail a build: three tries each.
retry() {
  local n
  for n in 1 2 3; do
    "$@" </dev/null && return 0
    echo "deps: '$*' failed (try $n of 3)" >&2
  done
  return 1
}
retry apt-get update
retry apt-get install -y --no-install-recommends "${missing[@]}"

for pkg in "${missing[@]}"; do
  if ! installed "$pkg"; then
    echo "deps: $pkg is still not installed" >&2
    exit 1
  fi
done
echo "deps: done" >&2
