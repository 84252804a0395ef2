#!/usr/bin/env bash
# run_conformance.sh HAL_CONFORMANCE PLUGIN EMULATOR OUTDIR [emulator|binary] - runs hal-conformance
# on the cloud-hypervisor backend: a --certify run of the profiles it declares
# (HAL_CONFORMANCE_PROFILES runs the profiles it lists instead). "emulator" (the default) uses
# hal-ch-emulator as the VMM binary. "binary" uses the real cloud-hypervisor $HAL_CH_BINARY and
# boots the test guest in $HAL_TEST_GUEST_DIR; it exits 77 (skipped) with the reason unless both
# are there and this host's KVM runs stock guests (/dev/kvm read-write, vmx or svm, and not the
# paravirtual kvm_pvm, on which stock kernels hang).
set -euo pipefail
exe=$1 plugin=$2 emulator=$3 out=$4 mode=${5:-emulator}
binary=$emulator
kernel=/proc/self/exe  # the emulator only checks that the payload is readable
if [ "$mode" = binary ]; then
  skip() { echo "skipped: $*"; exit 77; }
  [ -n "${HAL_CH_BINARY:-}" ] || skip "set HAL_CH_BINARY to a cloud-hypervisor binary"
  command -v "$HAL_CH_BINARY" >/dev/null || skip "HAL_CH_BINARY '$HAL_CH_BINARY' is not an executable"
  { [ -r /dev/kvm ] && [ -w /dev/kvm ]; } || skip "/dev/kvm is not usable read-write"
  [ ! -d /sys/module/kvm_pvm ] || skip "/dev/kvm is kvm-pvm, which runs only PVM guest kernels"
  grep -qwE 'vmx|svm' /proc/cpuinfo || skip "the CPU has no hardware virtualisation (vmx/svm)"
  [ -n "${HAL_TEST_GUEST_DIR:-}" ] && [ -r "$HAL_TEST_GUEST_DIR/vmlinuz" ] ||
    skip "HAL_TEST_GUEST_DIR does not name a test guest (vmlinuz, initrd.img)"
  binary=$(command -v "$HAL_CH_BINARY")
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
