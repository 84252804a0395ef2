#!/usr/bin/env bash
# Compiles hal.h as strict C99 with each available C compiler; fails on any warning.
# Usage: check-c99.sh INCLUDE_DIR
set -euo pipefail
include_dir=$1
src=$(dirname "$0")/c99_check.c
checked=0
for cc in gcc clang; do
  command -v "$cc" >/dev/null || continue
  "$cc" -std=c99 -Wall -Wextra -pedantic -Werror -I"$include_dir" -c "$src" -o /dev/null
  echo "hal.h: C99 pedantic OK with $cc"
  checked=$((checked + 1))
done
[ "$checked" -gt 0 ] || { echo "no C compiler found" >&2; exit 1; }
