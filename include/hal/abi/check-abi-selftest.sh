#!/usr/bin/env bash
# Proves check-abi.sh can fail: builds probes from mutated copies of hal.h and asserts the
# verdict for each (unchanged and appended members pass; retyped or mid-inserted members fail).
# Usage: check-abi-selftest.sh INCLUDE_DIR BASELINE.xml
set -euo pipefail
include_dir=$1
baseline=$2
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/inc/hal"

# mutate NAME EXPECTED_EXIT SED_EXPR...: builds a probe from hal.h edited by sed and checks it.
mutate() {
  local name=$1 expected=$2
  shift 2
  sed "$@" "$include_dir/hal/hal.h" >"$work/inc/hal/hal.h"
  if cmp -s "$include_dir/hal/hal.h" "$work/inc/hal/hal.h" && [ "$name" != unchanged ]; then
    echo "FAIL $name: the mutation did not apply"; exit 1
  fi
  if ! cc -shared -fPIC -g -O0 -Wl,-soname,libhal_abi_probe.so -I"$work/inc" \
    "$here/abi_probe.c" -o "$work/$name.so" 2>"$work/$name.cc.log"; then
    # hal.h's own static asserts pin the layout; a mutation they reject is caught too.
    if [ "$expected" -eq 1 ] && grep -q 'static assertion failed' "$work/$name.cc.log"; then
      echo "ok   $name: rejected at compile time by hal.h's layout asserts"
      return
    fi
    echo "FAIL $name: probe did not compile"; cat "$work/$name.cc.log"; exit 1
  fi
  local rc=0
  "$here/check-abi.sh" "$work/$name.so" "$baseline" >"$work/$name.log" 2>&1 || rc=$?
  if [ "$rc" -ne "$expected" ]; then
    echo "FAIL $name: check-abi exited $rc, expected $expected"; cat "$work/$name.log"; exit 1
  fi
  echo "ok   $name: exit $rc as expected"
}

mutate unchanged 0 -e 's/^$//'
mutate table_member_appended 0 \
  -e 's/^} hal_backend_table;/  hal_status (*vm_added)(hal_vm *vm, uint32_t flags, hal_error *error);\n} hal_backend_table;/'
mutate event_member_appended 0 -e 's/^} hal_event;/  uint64_t added;\n} hal_event;/'
mutate table_member_retyped 1 -e 's/(hal_vm \*vm, uint32_t timeout_ms/(hal_vm *vm, uint64_t timeout_ms/'
mutate event_member_inserted_in_middle 1 -e 's/^  uint64_t timestamp_ns;/  uint64_t timestamp_ns;\n  uint32_t inserted;/'
mutate event_state_retyped 1 -e 's/^  hal_vm_state state;/  uint64_t state;/'
mutate error_buffer_shrunk 1 -e 's/#define HAL_ERROR_MESSAGE_SIZE 512/#define HAL_ERROR_MESSAGE_SIZE 256/'
