#!/usr/bin/env bash
# Single-machine HAL: starts hal-controller on its embedded SQLite store and three hal-node agents
# on loopback (qemu-a and qemu-b in the kvm-qemu pool, mock-a in the mock pool), applies the
# test-guest VirtualMachine, shows it Running with a real booted guest, live-migrates it to the
# other kvm-qemu node while its heartbeat keeps counting, then stops everything it started.
# Security is on: hal-pki makes a cluster CA under the work dir, certificates for the controller,
# each node and an admin user, and a halctl configuration for the admin ($work/halconfig); every
# connection is mutual TLS.
# Usage: scripts/single-machine.sh BUILD_DIR GUEST_DIR [--keep]
#   --keep   leave the installation running (prints how to reach it and how to stop it)
# Env: HAL_PORT_BASE (default 7440: controller; +1..+3 the agents).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?build dir}
guest=${2:?test guest dir}
keep=${3:-}
base=${HAL_PORT_BASE:-7440}
controller_addr=127.0.0.1:$base
work=$(mktemp -d /tmp/hal-single-machine-XXXXXX)
pki_dir=$work/pki
export HALCONFIG=$work/halconfig
halctl() { "$build/controller/halctl/halctl" "$@"; }
hal_pki() { "$build/controller/pki/hal-pki" --dir "$pki_dir" "$@" >/dev/null; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # QEMU processes our agents started, found by the pidfiles in our own state dirs.
  for f in $(find "$work" -name qemu.pid 2>/dev/null); do
    pid=$(cat "$f")
    if grep -q qemu-system "/proc/$pid/cmdline" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$work"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in $base $((base + 1)) $((base + 2)) $((base + 3)); do
  port_free "$p" || { echo "port $p is in use; set HAL_PORT_BASE" >&2; exit 1; }
done

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "timed out waiting for $what" >&2; tail -n 20 "$work"/*.log >&2; return 1; }
    sleep 0.2
  done
}

[ "$keep" = --keep ] || trap cleanup EXIT

say "cluster CA and certificates in $pki_dir (hal-pki), halctl config $HALCONFIG"
hal_pki init
hal_pki controller
hal_pki user admin --group system:admins
for name in qemu-a qemu-b mock-a; do hal_pki node "$name"; done
cat >"$HALCONFIG" <<EOF
apiVersion: hal.dev/v1
kind: Config
clusters:
- name: single-machine
  cluster:
    server: $controller_addr
    certificate-authority: $pki_dir/ca.crt
users:
- name: admin
  user:
    client-certificate: $pki_dir/user-admin.crt
    client-key: $pki_dir/user-admin.key
contexts:
- name: admin@single-machine
  context: {cluster: single-machine, user: admin}
current-context: admin@single-machine
EOF
chmod 600 "$HALCONFIG"

say "hal-controller on $controller_addr, store sqlite:$work/controller.db, mutual TLS"
"$build/controller/server/hal-controller" --listen "$controller_addr" \
  --tls-ca "$pki_dir/ca.crt" --tls-cert "$pki_dir/controller.crt" --tls-key "$pki_dir/controller.key" \
  --store "sqlite:$work/controller.db" --image "hal/test-guest=$guest" >"$work/controller.log" 2>&1 &
pids+=($!)
wait_for 20 "the controller" halctl get nodes
halctl apply -f "$root/examples/manifests/nodepools.yaml"

port=$((base + 1))
for node in qemu-a:qemu qemu-b:qemu mock-a:mock; do
  name=${node%%:*} pool=${node##*:}
  mkdir -p "$work/$name"
  "$build/controller/node/hal-node" --name "$name" --pool "$pool" \
    --pool-file "$root/examples/manifests/nodepools.yaml" --listen "127.0.0.1:$port" \
    --controller "$controller_addr" --state-dir "$work/$name" --guest-silence-timeout 20 \
    --tls-ca "$pki_dir/ca.crt" --tls-cert "$pki_dir/node-$name.crt" --tls-key "$pki_dir/node-$name.key" \
    --plugin-path "$build/backends/kvm-qemu:$build/backends/mock" --host-path-root "$guest" \
    >"$work/node-$name.log" 2>&1 &
  pids+=($!)
  port=$((port + 1))
done
# Each check reads halctl's whole answer first: `halctl ... | grep -q` fails under pipefail when
# grep stops reading before halctl has written everything (SIGPIPE), as a node's JSON over 4 KiB does.
node_ready() {
  local json wide
  json=$(halctl get node "$1" -o json) && wide=$(halctl get node "$1" -o wide) &&
    grep -q '"type": *"Ready"' <<<"$json" && grep -q Ready <<<"$wide"
}
for n in qemu-a qemu-b mock-a; do wait_for 30 "node $n" node_ready "$n"; done
# node_accelerator NODE: "ACCELERATOR (why)" as the node's backend reports it.
node_accelerator() {
  local json accel reason
  json=$(halctl get node "$1" -o json 2>/dev/null) || true
  accel=$(sed -n 's/.*"accelerator": *"\([^"]*\)".*/\1/p' <<<"$json" | head -n 1)
  reason=$(sed -n 's/.*"acceleratorReason": *"\([^"]*\)".*/\1/p' <<<"$json" | head -n 1)
  echo "${accel:-unknown} (${reason:-no reason given})"
}
say "nodes"
halctl get nodes
for n in qemu-a qemu-b; do echo "$n accelerator: $(node_accelerator "$n")"; done

say "apply examples/manifests/testguest-vm.yaml and examples/manifests/mock-vm.yaml"
halctl apply -f "$root/examples/manifests/testguest-vm.yaml"
halctl apply -f "$root/examples/manifests/mock-vm.yaml"
vmi_running() {
  local json
  json=$(halctl get vmi "$1" -o json) && grep -q '"phase": *"Running"' <<<"$json"
}
wait_for 60 "testguest Running" vmi_running testguest
wait_for 30 "mock-small Running" vmi_running mock-small
node=$(halctl get vmi testguest -o json | sed -n 's/.*"nodeName": *"\([^"]*\)".*/\1/p' | head -n 1)
console="$work/$node/kvm-qemu/default-testguest/console.log"
guest_beats() { grep -q 'HAL-GUEST: heartbeat' "$console"; }
# guest_diagnosis NODE CONSOLE_LOG: why a guest did not come up, on stderr: its node, the
# accelerator that node's backend chose and why, what the VMI says, and its last console lines.
guest_diagnosis() {
  {
    echo "the guest on node $1 did not come up; accelerator $(node_accelerator "$1")"
    halctl describe vmi testguest 2>&1 || true
    if [ -s "$2" ]; then
      echo "last console lines ($2):"
      tail -n 5 "$2" | tr -d '\r'
    else
      echo "no console output at all ($2)"
    fi
  } >&2
}
wait_for 60 "the guest's heartbeat" guest_beats || { guest_diagnosis "$node" "$console"; exit 1; }
halctl get vms
halctl get vmis -o wide

say "the guest on $node says (its serial console)"
grep -a -o 'HAL-GUEST: .*' "$console" | grep -v heartbeat | tr -d '\r'
grep -a -o 'HAL-GUEST: heartbeat.*' "$console" | tail -n 1 | tr -d '\r'
# last_beat FILE: the last complete heartbeat line's "heartbeat N boot_id=ID" (the file may end
# in the middle of a line QEMU is still writing; the guest's uptime_ms is left out).
last_beat() {
  grep -a -o $'heartbeat [0-9]* boot_id=[0-9a-f]*[^\r]*\r' "$1" | tail -n 1 | cut -d' ' -f1-3
}
before=$(last_beat "$console")

say "live migration of testguest away from $node"
halctl migrate testguest --wait
target=$(halctl get vmi testguest -o json | sed -n 's/.*"nodeName": *"\([^"]*\)".*/\1/p' | head -n 1)
target_console="$work/$target/kvm-qemu/default-testguest/console.log"
sleep 2
after=$(last_beat "$target_console")
echo "before on $node:   $before"
echo "after on $target: $after"
# The same boot_id with a higher count: the guest kept running instead of booting again.
[ "$target" != "$node" ] || { echo "the VM is still on $node" >&2; exit 1; }
beats() { cut -d' ' -f2 <<<"$1"; }
if [ -z "$before" ] || [ -z "$after" ] || [ "${before##*boot_id=}" != "${after##*boot_id=}" ] ||
  ! [ "$(beats "$after")" -gt "$(beats "$before")" ]; then
  echo "the guest did not keep running across the migration" >&2
  exit 1
fi
echo "same boot_id, heartbeat went on: the guest kept running"
halctl get vmis -o wide
halctl get vmim

if [ "$keep" = --keep ]; then
  say "left running; state in $work"
  echo "  export HALCONFIG=$HALCONFIG; $build/controller/halctl/halctl get vms"
  echo "  stop: kill ${pids[*]}"
else
  say "stopping everything"
fi
