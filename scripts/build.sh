#!/usr/bin/env bash
# Configures and builds the project into build/ (RelWithDebInfo, -j2).
#   scripts/build.sh             everything
#   scripts/build.sh TARGET...   only these targets (e.g. collectionsd)
# JOBS overrides the parallelism (default 2).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build"

# A build/ configured for another source tree (a copied or moved checkout)
# cannot be reused: start it afresh.
if [[ -f "$build/CMakeCache.txt" ]]; then
  cached=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ "$cached" != "$root" ]]; then
    echo "build: $build was configured for $cached; starting it afresh" >&2
    rm -rf "$build"
  fi
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}"
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" -j"${JOBS:-2}" "${targets[@]}"
