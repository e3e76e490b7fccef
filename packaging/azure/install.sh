#!/bin/sh
# VM extension install: installs the dsvm-agent .deb shipped next to this script with apt-get,
# so its dependencies come from the VM's own mirror, then runs the agent's install step.
# WALinuxAgent runs it from the handler directory; the install timeout is 900 s.
set -eu

cd "$(dirname "$0")"
set -- ./dsvm-agent_*.deb
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "install.sh: expected exactly one dsvm-agent_*.deb in $(pwd)" >&2
    exit 1
fi
deb=$1

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    # Waits for another apt or dpkg run (unattended-upgrades, cloud-init) instead of failing.
    # --allow-downgrades: a handler downgrade runs the lower version's install over the higher
    # version's package (the old version's update and uninstall keep the config and the package).
    apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends --allow-downgrades "$deb"
}
# Package lists may be missing or stale on a fresh image: refresh them once and retry.
if ! apt_install; then
    apt-get -o DPkg::Lock::Timeout=300 update
    apt_install
fi

exec /usr/sbin/dsvm-agent extension install
