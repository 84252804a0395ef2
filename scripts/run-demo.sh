#!/usr/bin/env bash
# HAL's main job on a fresh Debian 12 machine: installs missing packages, builds, builds (or
# reuses) the test guest, and runs a single-machine installation: hal-controller on its embedded
# SQLite store, hal-node agents in a kvm-qemu pool (two nodes) and a mock pool, a real Linux guest
# applied as a KubeVirt VirtualMachine, shown Running and live-migrated between the two nodes.
# Arguments go to scripts/single-machine.sh (e.g. --keep).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" --target hal-controller --target hal-node --target halctl \
  --target hal-pki \
  --target hal-kvm-qemu --target hal-mock
guest=$("$root/scripts/test-guest/build.sh" | tail -n 1)
exec "$root/scripts/single-machine.sh" "$root/build" "$guest" "$@"
