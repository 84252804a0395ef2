#!/usr/bin/env bash
# run_kvm_qemu.sh HAL_CONFORMANCE PLUGIN OUTDIR - runs hal-conformance on the kvm-qemu backend
# under TCG with the test guest: a --certify run of the profiles it declares (lifecycle,
# migration, numa, and tdx's negative clauses); HAL_CONFORMANCE_PROFILES runs the profiles it
# lists instead. Exits 77 (CTest: skipped) without qemu-system-x86_64 or $HAL_TEST_GUEST_DIR.
set -euo pipefail
exe=$1 plugin=$2 out=$3
if ! command -v qemu-system-x86_64 >/dev/null || [ -z "${HAL_TEST_GUEST_DIR:-}" ] ||
   [ ! -f "$HAL_TEST_GUEST_DIR/vmlinuz" ]; then
  echo "skipped: needs qemu-system-x86_64 and HAL_TEST_GUEST_DIR (scripts/test-guest/build.sh)"
  exit 77
fi
rm -rf "$out"
mkdir -p "$out"
state=$(mktemp -d)
# VMs outlive the suite by design (re-adoption); stop the QEMU processes this run started, by
# the PIDs the backend recorded in this run's own state dirs (never by name).
cleanup() {
  local pidfile pid
  while IFS= read -r -d '' pidfile; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done < <(find "$state" -name qemu.pid -print0 2>/dev/null)
  rm -rf "$state"
}
trap cleanup EXIT
cat >"$out/config.json" <<JSON
{"stateDir": "$state/a", "accelerator": "tcg"}
JSON
cat >"$out/target-config.json" <<JSON
{"stateDir": "$state/b", "accelerator": "tcg"}
JSON
cat >"$out/spec-template.json" <<JSON
{"memory": {"size": "512Mi"},
 "boot": {"kernel": "$HAL_TEST_GUEST_DIR/vmlinuz", "initrd": "$HAL_TEST_GUEST_DIR/initrd.img",
          "cmdline": "console=ttyS0 quiet"},
 "console": {"serial": true}}
JSON
# A certification run (the backend's declared profiles, fixed clause set) unless
# HAL_CONFORMANCE_PROFILES names the profiles to run.
if [ -n "${HAL_CONFORMANCE_PROFILES:-}" ]; then
  selection=(--profile "$HAL_CONFORMANCE_PROFILES")
else
  selection=(--certify)
fi
"$exe" --plugin "$plugin" --config "$out/config.json" \
  --target-config "$out/target-config.json" --spec-template "$out/spec-template.json" \
  "${selection[@]}" --wait-seconds 120 \
  --report "$out/report.json" --junit "$out/junit.xml" --html "$out/report.html"
