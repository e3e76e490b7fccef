#!/usr/bin/env bash
# Builds (once) the Debian 12 guest image the e2e tests boot, and prints its directory.
#
#   build-image.sh [CACHE_ROOT]     default /var/cache/dsvm-agent-tests
#
# The image lives in CACHE_ROOT/e2e-<hash of this script and guest/>, with base.img (raw ext4),
# vmlinuz and initrd.img. A complete image has a READY stamp; a second run with the same recipe
# only prints the directory. Tests boot throw-away qcow2 overlays, so the base never changes.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache_root=${1:-/var/cache/dsvm-agent-tests}

packages=(
  linux-image-amd64 systemd-sysv udev kmod iproute2 procps iputils-ping
  samba nfs-kernel-server cifs-utils nfs-common autofs sudo passwd adduser nftables
  libcurl4 libssl3 libsystemd0 libmount1 libcrypt1
  openssh-server openssh-client
  qemu-guest-agent
)

# Installed with apt after debootstrap: debootstrap cannot configure their dependencies.
# waagent is WALinuxAgent, the Azure guest agent, which runs the agent's VM extension handler.
apt_packages=(jupyterhub python3-notebook waagent)

recipe_hash() {
  {
    cat "$here/build-image.sh"
    (cd "$here/guest" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

# The Debian mirror apt already uses (deb822 .sources or one-line sources.list), never another.
debian_mirror() {
  local files=(/etc/apt/sources.list.d/*.sources)
  awk '
    /^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }
  ' "${files[@]}" 2>/dev/null | head -n1 | grep . && return 0
  awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:.*\/debian\/?$/) { print $i; exit } }' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 | grep . && return 0
  echo "build-image: no Debian mirror found in /etc/apt/sources.list{,.d}" >&2
  return 1
}

image_dir="$cache_root/e2e-$(recipe_hash)"
if [[ -f $image_dir/READY ]]; then
  echo "$image_dir"
  exit 0
fi

for tool in debootstrap mkfs.ext4 qemu-img; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ $(id -u) -eq 0 ]] || { echo "build-image: debootstrap needs root" >&2; exit 1; }

mkdir -p "$cache_root"
exec 9>"$cache_root/.build.lock"
flock 9
if [[ -f $image_dir/READY ]]; then  # built by someone else while we waited
  echo "$image_dir"
  exit 0
fi

mirror=$(debian_mirror)
work=$(mktemp -d "$cache_root/.build.XXXXXX")
rootfs=$work/rootfs
cleanup() {
  for m in proc sys dev; do umount -l "$rootfs/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

start=$SECONDS
echo "build-image: debootstrap bookworm from $mirror" >&2
list=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$list" bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }
echo "build-image: debootstrap took $((SECONDS - start)) s" >&2

# Same suites as the host (updates and security), so the agent's .deb finds the library
# versions it was built against.
security=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian-security\/?$/) { print $i; exit } }' \
  /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
security=${security:-${mirror%/debian*}/debian-security}
cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
SOURCES
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
mount -t proc proc "$rootfs/proc"
mount --rbind /sys "$rootfs/sys"
mount --rbind /dev "$rootfs/dev"
# No service may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
# JupyterHub (and Node.js for its proxy) through apt, whose resolver its dependencies need.
chroot "$rootfs" env DEBIAN_FRONTEND=noninteractive sh -c \
  "apt-get update -qq && apt-get -y -qq upgrade &&
   apt-get -y -qq install --no-install-recommends ${apt_packages[*]} && apt-get clean" \
  >"$work/upgrade.log" 2>&1 ||
  { tail -n 30 "$work/upgrade.log" >&2; exit 1; }
rm -f "$rootfs/usr/sbin/policy-rc.d"
for m in proc sys dev; do umount -l "$rootfs/$m"; done
echo "build-image: upgrade done at $((SECONDS - start)) s" >&2

# The guest's own configuration: hosts, static link addresses, Samba, NFS export, units.
cp -a "$here/guest/." "$rootfs/"
rm -f "$rootfs/etc/resolv.conf"
touch "$rootfs/etc/resolv.conf"
chroot "$rootfs" sh -eu -c '
  passwd -d root >/dev/null
  useradd --system --no-create-home --shell /usr/sbin/nologin dsvmstore
  mkdir -p /srv/dsvmshare /srv/nfspool /etc/dsvm-e2e /var/log/journal
  chown dsvmstore:dsvmstore /srv/dsvmshare
  chmod 0755 /srv/nfspool
  systemctl enable systemd-networkd.service systemd-networkd-wait-online.service >/dev/null 2>&1
  # Storage is started on node1 by the test, never on node2.
  systemctl disable smbd.service nmbd.service samba-ad-dc.service nfs-server.service >/dev/null 2>&1 || true
  systemctl mask nmbd.service samba-ad-dc.service >/dev/null 2>&1
  # Timers that would only steal CPU from the emulated guests.
  for unit in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
              e2scrub_reap.service; do
    systemctl mask "$unit" >/dev/null 2>&1 || true
  done
  systemctl enable autofs.service >/dev/null 2>&1
  # JupyterHub and the Azure guest agent run on node2 only, started by their scenarios.
  systemctl disable jupyterhub.service walinuxagent.service >/dev/null 2>&1 || true
'
echo "dsvm-e2e" >"$rootfs/etc/hostname"

cp "$rootfs"/boot/vmlinuz-* "$work/vmlinuz"
cp "$rootfs"/boot/initrd.img-* "$work/initrd.img"
chmod 0644 "$work/vmlinuz" "$work/initrd.img"
mkfs.ext4 -q -F -L dsvm-e2e -d "$rootfs" "$work/base.img" 3G
echo "build-image: image done at $((SECONDS - start)) s" >&2

rm -rf "$image_dir"
mkdir "$image_dir"
mv "$work/base.img" "$work/vmlinuz" "$work/initrd.img" "$image_dir/"
printf '%s\n' "${packages[@]}" "${apt_packages[@]}" >"$image_dir/packages"
touch "$image_dir/READY"
echo "$image_dir"
