#!/usr/bin/env bash
# Builds the HAL test guest (Debian kernel + busybox initramfs) used by every QEMU test.
#
# Usage: scripts/test-guest/build.sh [--cache DIR]
#   DIR defaults to ${HAL_GUEST_CACHE:-$HOME/.cache/hal/test-guest}.
# Output: <DIR>/<key>/vmlinuz and <DIR>/<key>/initrd.img; the last stdout line is <DIR>/<key>,
# so callers can do GUEST=$(scripts/test-guest/build.sh). <key> is the kernel version (e.g.
# 6.1.0-56-amd64) plus a hash of the init script and this script: nothing is rebuilt unless one
# of them changes. (apt-cache is slow here, ~1 s per call with no pkgcache: we make one call.)
# The kernel package is only downloaded (apt-get download) and unpacked, never installed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${HAL_GUEST_CACHE:-$HOME/.cache/hal/test-guest}"
# Kernel modules the init loads if they are not built in (dependencies are added from modules.dep).
WANTED_MODULES="virtio_pci virtio_console virtio_blk virtio_net virtio_balloon e1000e button evdev"

die() { echo "test-guest/build.sh: error: $*" >&2; exit 1; }
log() { [[ -n "${HAL_GUEST_VERBOSE:-}" ]] && echo "test-guest/build.sh: $*" >&2; return 0; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cache) [[ $# -ge 2 ]] || die "--cache needs a directory"; CACHE="$2"; shift 2 ;;
    --cache=*) CACHE="${1#--cache=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (usage: build.sh [--cache DIR])" ;;
  esac
done

# Installs missing Debian packages this script needs on the host.
ensure_host_packages() {
  local missing=()
  [[ -x /bin/busybox ]] || missing+=(busybox-static)
  command -v cpio >/dev/null || missing+=(cpio)
  command -v dpkg-deb >/dev/null || die "dpkg-deb not found (this script needs a Debian host)"
  command -v apt-get >/dev/null || die "apt-get not found (this script needs a Debian host)"
  [[ ${#missing[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || die "missing packages ${missing[*]}; install them: sudo apt-get install --no-install-recommends ${missing[*]}"
  log "installing ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || die "could not install ${missing[*]}"
  fi
}

ensure_host_packages

# Resolve the real, versioned kernel package behind the linux-image-amd64 metapackage.
KPKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
if [[ -z "$KPKG" ]]; then
  apt-get update -qq >/dev/null 2>&1 || true
  KPKG="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')"
fi
[[ -n "$KPKG" ]] || die "cannot resolve linux-image-amd64 to a kernel package (apt-cache depends linux-image-amd64)"
KVER="${KPKG#linux-image-}"

HASH="$(cat "$HERE/init" "$HERE/build.sh" | sha256sum | cut -c1-12)"
KEY="${KVER}_${HASH}"
OUT="$CACHE/$KEY"
if [[ -s "$OUT/vmlinuz" && -s "$OUT/initrd.img" ]]; then
  log "up to date: $OUT"
  echo "$OUT"
  exit 0
fi

mkdir -p "$CACHE" || die "cannot create cache dir $CACHE"
WORK="$(mktemp -d "$CACHE/.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
LOG="$WORK/log"

# Download (never install) the kernel package.
mkdir -p "$WORK/dl"
id _apt >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]] && chown _apt "$WORK/dl" 2>/dev/null || true
if ! (cd "$WORK/dl" && apt-get download -qq "$KPKG") >"$LOG" 2>&1; then
  log "apt-get download failed, running apt-get update"
  apt-get update -qq >>"$LOG" 2>&1 || true
  (cd "$WORK/dl" && apt-get download -qq "$KPKG") >>"$LOG" 2>&1 \
    || { cat "$LOG" >&2; die "apt-get download $KPKG failed"; }
fi
DEB="$(ls "$WORK/dl"/*.deb 2>/dev/null | head -n1)"
[[ -n "$DEB" ]] || die "apt-get download $KPKG produced no .deb"
KPKG_VERSION="$(dpkg-deb -f "$DEB" Version)"
dpkg-deb -x "$DEB" "$WORK/k" || die "dpkg-deb -x $DEB failed"
VMLINUZ="$WORK/k/boot/vmlinuz-$KVER"
MODDIR="$WORK/k/lib/modules/$KVER"
[[ -f "$VMLINUZ" ]] || die "kernel image boot/vmlinuz-$KVER not found in $DEB"
[[ -d "$MODDIR" ]] || die "lib/modules/$KVER not found in $DEB"

# The package ships no modules.dep (depmod runs at install time): generate one.
if [[ ! -s "$MODDIR/modules.dep" ]]; then
  busybox depmod -b "$WORK/k" "$KVER" >>"$LOG" 2>&1 || { cat "$LOG" >&2; die "depmod failed"; }
fi

# Resolve wanted modules to an ordered load list (dependencies first), skipping built-ins.
declare -A SEEN=()
LOAD_ORDER=()
dep_line() { awk -v m="$1" -F': *' '{ n=$1; sub(/.*\//, "", n); sub(/\.ko(\..*)?$/, "", n); gsub(/-/, "_", n) } n==m { print; exit }' "$MODDIR/modules.dep"; }
add_module_path() {  # $1: path relative to MODDIR as written in modules.dep
  local path="$1" line deps d
  [[ -n "${SEEN[$path]:-}" ]] && return 0
  SEEN[$path]=1
  line="$(grep -m1 "^$path:" "$MODDIR/modules.dep" || true)"
  deps="${line#*:}"
  for d in $deps; do add_module_path "$d"; done
  LOAD_ORDER+=("$path")
}
for m in $WANTED_MODULES; do
  if grep -Eq "/${m//_/[_-]}\.ko" "$MODDIR/modules.builtin" 2>/dev/null; then
    log "$m is built in"
    continue
  fi
  line="$(dep_line "$m")"
  [[ -n "$line" ]] || die "module $m is neither built in nor in modules.dep of $KVER"
  add_module_path "${line%%:*}"
done

# Assemble the initramfs.
ROOT="$WORK/root"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,etc,lib/modules}
cp /bin/busybox "$ROOT/bin/busybox"
ln -s busybox "$ROOT/bin/sh"
install -m 0755 "$HERE/init" "$ROOT/init"
: >"$ROOT/lib/modules/load.list"
for path in "${LOAD_ORDER[@]}"; do
  name="$(basename "$path")"
  case "$name" in
    *.ko) cp "$MODDIR/$path" "$ROOT/lib/modules/$name" ;;
    *.ko.xz) xz -dc "$MODDIR/$path" >"$ROOT/lib/modules/${name%.xz}"; name="${name%.xz}" ;;
    *.ko.zst) zstd -qdc "$MODDIR/$path" >"$ROOT/lib/modules/${name%.zst}"; name="${name%.zst}" ;;
    *.ko.gz) gzip -dc "$MODDIR/$path" >"$ROOT/lib/modules/${name%.gz}"; name="${name%.gz}" ;;
    *) die "unsupported module file $path" ;;
  esac
  echo "$name" >>"$ROOT/lib/modules/load.list"
done
if [[ $(id -u) -eq 0 ]]; then
  mknod -m 600 "$ROOT/dev/console" c 5 1
  mknod -m 666 "$ROOT/dev/null" c 1 3
fi
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z | cpio -o -0 -H newc -R 0:0 --reproducible --quiet) \
  | gzip -9n >"$WORK/initrd.img" || die "packing the initramfs failed"

mkdir -p "$WORK/out"
cp "$VMLINUZ" "$WORK/out/vmlinuz"
mv "$WORK/initrd.img" "$WORK/out/initrd.img"
printf 'kernel_package=%s\nkernel_package_version=%s\nmodules=%s\n' \
  "$KPKG" "${KPKG_VERSION:-unknown}" "$(tr '\n' ' ' <"$ROOT/lib/modules/load.list")" >"$WORK/out/manifest.txt"
rm -rf "$OUT"
mv "$WORK/out" "$OUT" || die "cannot move the result to $OUT"
log "built $OUT"

# Keep the cache small: the newest three guests stay (this one among them), older ones go, and
# so do build dirs that a killed run left behind more than a day ago.
n=0
while IFS= read -r dir; do
  [[ -f "$dir/manifest.txt" ]] || continue
  n=$((n + 1))
  [[ $n -le 3 || "$dir" == "$OUT" ]] && continue
  log "pruning $dir"
  rm -rf -- "$dir"
done < <(ls -1dt -- "$CACHE"/*_*/ 2>/dev/null | sed 's:/$::')
find "$CACHE" -maxdepth 1 -type d -name '.build.*' -mmin +1440 -exec rm -rf -- {} + 2>/dev/null || true
echo "$OUT"
