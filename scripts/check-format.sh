#!/usr/bin/env bash
# Fails, naming each file, when a C or C++ source differs from what clang-format makes of it with
# the repo's .clang-format. Usage: scripts/check-format.sh [--fix]   (--fix rewrites the files)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
format=$(command -v clang-format-14 || command -v clang-format) || {
  echo "check-format: clang-format not found (Debian package clang-format)" >&2
  exit 2
}

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files '*.c' '*.cc' '*.h' '*.hpp')
else
  mapfile -t files < <(find . -path './build*' -prune -o \( -name '*.c' -o -name '*.cc' -o \
    -name '*.h' -o -name '*.hpp' \) -print)
fi

if [ "${1:-}" = "--fix" ]; then
  "$format" -i "${files[@]}"
  exit 0
fi
# One clang-format run over every file; each diagnostic starts with "path:line:col: error:".
report=$("$format" --dry-run --Werror "${files[@]}" 2>&1) || true
unformatted=$(sed -nE 's/^([^:]+):[0-9]+:[0-9]+: error: .*/\1/p' <<<"$report" | sort -u)
if [ -n "$unformatted" ]; then
  echo "check-format: not clang-formatted (run scripts/check-format.sh --fix):" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files formatted"
