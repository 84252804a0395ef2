#!/usr/bin/env bash
# Compares the ABI of hal.h (reached through the probe library) with the committed baseline.
# HAL's rule within a major version: the size-prefixed structs may only grow by members appended
# at their end. So the check passes when abidiff reports nothing, or only data-member insertions
# at an offset at or beyond the struct's old size; any other change (a member removed, retyped,
# moved or inserted in the middle, a function removed or changed) fails.
# Usage: check-abi.sh PROBE.so BASELINE.xml   (rewrite the baseline with `abidw --no-corpus-path
#        --out-file BASELINE.xml PROBE.so` after an intended, reviewed change)
set -uo pipefail
probe=$1
baseline=$2
report=$(abidiff --no-show-locs --leaf-changes-only "$baseline" "$probe")
rc=$?
if (( rc & 3 )); then
  echo "hal.h: abidiff failed (exit $rc)" >&2
  exit 1
fi
if (( rc == 0 )); then
  echo "hal.h: ABI identical to the baseline"
  exit 0
fi
verdict=$(awk '
  /^Leaf changes summary|^Changed leaf types summary|^Removed\/Changed\/Added (functions|variables) summary: 0 Removed, 0 Changed/ { next }
  /^Removed\/Changed\/Added/ { bad = bad "\n  " $0; next }
  /^\x27struct [a-z_]+\x27 changed:$/ { in_struct = 1; old = -1; next }
  /^  type size changed from [0-9]+ to [0-9]+ \(in bits\)$/ { old = $5; next }
  /^  [0-9]+ data member insertions?:$/ { next }
  /at offset [0-9]+ \(in bits\)$/ {
    off = $(NF - 2)
    if (old < 0 || off + 0 < old + 0) bad = bad "\n  member inserted before the old end: " $0
    next
  }
  /^  [0-9]+ impacted interfaces?:$/ { skip = 1; next }
  /^    (function|variable) / && skip { next }
  /^[[:space:]]*$/ { next }
  { bad = bad "\n  " $0 }
  END { printf "%s", bad }
' <<<"$report")
if [ -n "$verdict" ]; then
  echo "$report"
  echo "hal.h: INCOMPATIBLE ABI change against $(basename "$baseline"):$verdict" >&2
  exit 1
fi
echo "$report"
echo "hal.h: compatible ABI change (members appended only); review it, then update the baseline"
