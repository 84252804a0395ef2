#!/usr/bin/env bash
# certify-out-of-tree.sh - builds a vendor backend the way a vendor does and certifies it:
# installs the SDK component of a HAL build into a temporary prefix, configures and builds
# SOURCE_DIR out of tree against it with find_package(HAL) (a fresh build directory, only that
# prefix on the search path, the compilers in $CC/$CXX when set), checks that the plugin exports
# only hal_plugin_negotiate, and runs the INSTALLED hal-conformance --certify on it. Exits 0 only
# when certification passes. The temporary directory is removed on exit; --out keeps the reports.
#
# Usage: certify-out-of-tree.sh HAL_BUILD_DIR SOURCE_DIR PLUGIN_FILE [--out DIR]
#                               [-- HAL_CONFORMANCE_ARGS...]
#   PLUGIN_FILE  the plugin's file name in SOURCE_DIR's build directory (libhal-toyvisor.so)
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
hal_build=$(cd "$1" && pwd) source_dir=$(cd "$2" && pwd) plugin_file=$3
shift 3
out="" suite_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --) shift; suite_args=("$@"); break ;;
    *) echo "certify-out-of-tree: unknown argument $1" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/hal-certify.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix build=$work/build reports=$work/reports
mkdir -p "$reports"
step() { printf '== %s (%ss)\n' "$1" "$SECONDS"; }

step "install the SDK component of $hal_build into $prefix"
cmake --install "$hal_build" --component sdk --prefix "$prefix" >"$work/install.log" ||
  { cat "$work/install.log" >&2; exit 1; }

step "configure $source_dir out of tree with find_package(HAL)"
configure=(-S "$source_dir" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if command -v ninja >/dev/null; then configure+=(-G Ninja); fi
[ -z "${CC:-}" ] || configure+=(-DCMAKE_C_COMPILER="$CC")
[ -z "${CXX:-}" ] || configure+=(-DCMAKE_CXX_COMPILER="$CXX")
# Nothing of the caller's CMake environment (a parent build's settings) leaks into the vendor's.
env -u CMAKE_PREFIX_PATH -u HAL_DIR -u CMAKE_BUILD_PARALLEL_LEVEL -u CMAKE_GENERATOR \
  cmake --no-warn-unused-cli "${configure[@]}" >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; exit 1; }
found=$(sed -n 's/^HAL_DIR:PATH=//p' "$build/CMakeCache.txt")
if [[ $found != "$prefix"/* ]]; then
  echo "certify-out-of-tree: find_package(HAL) used '$found', not the installed $prefix" >&2
  exit 1
fi

step "build"
cmake --build "$build" >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
plugin=$build/$plugin_file
[ -f "$plugin" ] || { echo "certify-out-of-tree: the build made no $plugin_file" >&2; exit 1; }

if command -v nm >/dev/null; then
  step "check the plugin's exports"
  exports=$(nm -D --defined-only "$plugin" | awk '{print $NF}' | sort -u)
  if [ "$exports" != "hal_plugin_negotiate" ]; then
    echo "certify-out-of-tree: $plugin_file exports more than hal_plugin_negotiate:" >&2
    head -n 20 <<<"$exports" >&2
    exit 1
  fi
fi

step "certify with the installed hal-conformance"
status=0
"$prefix/bin/hal-conformance" --plugin "$plugin" --certify --report "$reports/report.json" \
  --junit "$reports/junit.xml" "${suite_args[@]}" || status=$?
if [ -n "$out" ]; then
  rm -rf "$out" && mkdir -p "$out" && cp "$reports"/* "$out"/
fi
step "done: hal-conformance exit status $status"
exit "$status"
