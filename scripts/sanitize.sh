#!/usr/bin/env bash
# Builds everything with a sanitizer into its own build folder and runs the
# whole suite there, against a throwaway PostgreSQL cluster like
# scripts/test.sh. Any sanitizer finding stops the process that made it and
# fails its test; the script exits non-zero on any failure.
#   scripts/sanitize.sh asan [CTEST_ARG...]   AddressSanitizer and UBSan
#                                             (build-asan/)
#   scripts/sanitize.sh tsan [CTEST_ARG...]   ThreadSanitizer (build-tsan/)
# JOBS overrides the parallelism (default 2); run it under `nice` on a
# shared machine.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

kind=${1:-}
case "$kind" in
  asan)
    # UBSan's vptr check needs typeinfo that Debian's SOCI library does not
    # export, so it is left out.
    flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=all -fno-omit-frame-pointer"
    export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:detect_stack_use_after_return=1:strict_init_order=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
    # Known leaks inside third-party libraries only (each explained there).
    export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
    ;;
  *)
    echo "usage: $0 asan|tsan [CTEST_ARG...]" >&2
    exit 2
    ;;
esac
shift
build="$root/build-$kind"

scripts/deps.sh
if [[ -f "$build/CMakeCache.txt" ]]; then
  cached=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt")
  if [[ "$cached" != "$root" ]]; then
    echo "sanitize: $build was configured for $cached; starting it afresh" >&2
    rm -rf "$build"
  fi
fi
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="$flags" \
  -DCMAKE_SHARED_LINKER_FLAGS="$flags"
cmake --build "$build" -j"${JOBS:-2}"

exec scripts/pg.sh run \
  ctest --test-dir "$build" --output-on-failure --no-tests=error "$@"
