#!/usr/bin/env bash
# Installs the Debian 12 packages HAL needs to build, test and run, skipping those already present.
# Usage: scripts/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache clang lld libclang-rt-14-dev clang-format
  libboost-dev libboost-filesystem-dev libboost-system-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libyaml-cpp-dev libsqlite3-dev libssl-dev
  libgoogle-perftools-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libgtest-dev libgmock-dev libbenchmark-dev
  abigail-tools qemu-system-x86 qemu-utils busybox-static cpio dpkg-dev
  # libvirtd + virtlogd + virsh for the kvm-qemu create->running benchmark's libvirt comparison
  # (it runs its own private daemons; libvirt-daemon-system and its services are not needed).
  libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  # etcd for the controller's etcd store: its tests start private members on loopback.
  etcd-server etcd-client
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "install-deps: installing ${missing[*]}" >&2
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
