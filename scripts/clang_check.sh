#!/usr/bin/env bash
# The static checks: configures build-clang/ with clang (Debian's clang 14)
# and COLLECTIONS_STRICT_WARNINGS=ON, which compiles the project's own code
# with -Wthread-safety (Abseil's ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED
# annotations checked), -Wshadow and -Werror, and builds everything. Generated
# protobuf code and third-party headers are not checked. Exits non-zero on any
# finding. Runs no tests. CI (.ci/run) runs it after the test command.
#   scripts/clang_check.sh             everything
#   scripts/clang_check.sh TARGET...   only these targets
# JOBS overrides the parallelism (default 2); run it under `nice` on a
# shared machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
build="$root/build-clang"

scripts/deps.sh
if [[ -f "$build/CMakeCache.txt" ]]; then
  cached=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ "$cached" != "$root" ]]; then
    echo "clang_check: $build was configured for $cached; starting it afresh" >&2
    rm -rf "$build"
  fi
fi
# The checks are the compiler front end's: no optimisation and no debug
# information, which roughly halves the build.
CC=clang CXX=clang++ cmake -S "$root" -B "$build" \
  -DCMAKE_BUILD_TYPE=ClangCheck -DCMAKE_CXX_FLAGS_CLANGCHECK=-O0 \
  -DCMAKE_C_FLAGS_CLANGCHECK=-O0 \
  -DCOLLECTIONS_STRICT_WARNINGS=ON
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$build" -j"${JOBS:-2}" "${targets[@]}"
echo "clang_check: clean" >&2
