#!/usr/bin/env bash
# Formats the project's C++ sources with clang-format (.clang-format:
# Google style, 100 columns).
#   scripts/format.sh           rewrites every file that is not formatted
#   scripts/format.sh --check   changes nothing; lists the files that are not
#                               formatted and exits 1 if there are any
# Only files tracked by git (or new and not ignored) count; generated code
# lives in build/ and is never touched.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
check=0
if [[ "${1:-}" == "--check" ]]; then check=1; fi
command -v clang-format >/dev/null || { echo "format: clang-format is missing (scripts/deps.sh installs it)" >&2; exit 2; }

mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cc' '*.h')
bad=()
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  if ! clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
    bad+=("$f")
  fi
done
if [[ ${#bad[@]} -eq 0 ]]; then
  echo "format: ${#files[@]} files formatted" >&2
  exit 0
fi
if [[ $check -eq 1 ]]; then
  echo "format: ${#bad[@]} of ${#files[@]} files are not formatted (run scripts/format.sh):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
clang-format -i "${bad[@]}"
echo "format: reformatted ${#bad[@]} files" >&2
