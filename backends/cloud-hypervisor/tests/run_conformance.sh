#!/usr/bin/env bash
# run_conformance.sh HAL_CONFORMANCE PLUGIN EMULATOR OUTDIR - runs hal-conformance on the
# cloud-hypervisor backend with hal-ch-emulator as its binary: a --certify run of the profiles
# it declares (HAL_CONFORMANCE_PROFILES runs the profiles it lists instead). With HAL_CH_BINARY set to a real
# cloud-hypervisor and a usable /dev/kvm it runs against that binary instead (and then needs
# HAL_TEST_GUEST_DIR for a bootable kernel).
set -euo pipefail
exe=$1 plugin=$2 emulator=$3 out=$4
binary=$emulator
kernel=/proc/self/exe  # the emulator only checks that the payload is readable
if [ -n "${HAL_CH_BINARY:-}" ] && [ -w /dev/kvm ]; then
  binary=$HAL_CH_BINARY
  if [ -z "${HAL_TEST_GUEST_DIR:-}" ]; then
    echo "skipped: HAL_CH_BINARY is set but HAL_TEST_GUEST_DIR (a bootable guest) is not"
    exit 77
  fi
  kernel=$HAL_TEST_GUEST_DIR/vmlinuz
fi
echo "cloud-hypervisor conformance against: $binary"
rm -rf "$out"
mkdir -p "$out"
state=$(mktemp -d)
# Stop every VMM this run started, by the PIDs recorded in this run's own state dirs.
cleanup() {
  local pidfile pid
  while IFS= read -r -d '' pidfile; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true
  done < <(find "$state" -name cloud-hypervisor.pid -print0 2>/dev/null)
  rm -rf "$state"
}
trap cleanup EXIT
cat >"$out/config.json" <<JSON
{"binary": "$binary", "stateDir": "$state/a"}
JSON
cat >"$out/target-config.json" <<JSON
{"binary": "$binary", "stateDir": "$state/b"}
JSON
if [ "$binary" = "$emulator" ]; then
  cat >"$out/spec-template.json" <<JSON
{"boot": {"kernel": "$kernel", "cmdline": "console=ttyS0"}, "console": {"serial": true}}
JSON
else
  cat >"$out/spec-template.json" <<JSON
{"memory": {"size": "512Mi"},
 "boot": {"kernel": "$kernel", "initrd": "$HAL_TEST_GUEST_DIR/initrd.img",
          "cmdline": "console=ttyS0 quiet"},
 "console": {"serial": true}}
JSON
fi
# A certification run (the backend's declared profiles, fixed clause set) unless
# HAL_CONFORMANCE_PROFILES names the profiles to run.
if [ -n "${HAL_CONFORMANCE_PROFILES:-}" ]; then
  selection=(--profile "$HAL_CONFORMANCE_PROFILES")
else
  selection=(--certify)
fi
"$exe" --plugin "$plugin" --config "$out/config.json" \
  --target-config "$out/target-config.json" --spec-template "$out/spec-template.json" \
  "${selection[@]}" --wait-seconds 30 \
  --report "$out/report.json" --junit "$out/junit.xml"
