#!/usr/bin/env bash
# HAL's main job on a fresh Debian 12 machine: installs missing packages, builds, and runs the
# tour: load the mock backend through the real plugin loader, print what it is, and run a VM
# through its whole life (define, start, pause, resume, migrate to a second backend instance,
# shut down, delete), printing every event.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build" --target hal-tour --target hal-mock
exec "$root/build/examples/tour/hal-tour" --plugin "$root/build/backends/mock/libhal-mock.so" "$@"
