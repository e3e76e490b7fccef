#!/usr/bin/env bash
# Installs what building, testing and the demo need, from Debian 12's packages only.
# With the argument "windows": what the Windows build needs instead (scripts/build-windows.sh):
# the mingw-w64 cross compiler, wine to run its tests, wixl and msitools (msibuild, msiinfo) for
# the MSI, zip and python3 for the handler package and its check, and the header-only libraries.
set -euo pipefail

if [[ ${1:-} == windows ]]; then
  packages=(
    cmake make g++-mingw-w64-x86-64-posix wine wine64 wixl msitools zip python3
    nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev catch2
  )
else
  packages=(
    cmake g++ make pkg-config
    libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
    libmount-dev libsystemd-dev
    catch2 clang-format
    util-linux mount ca-certificates systemd nftables iproute2
    cifs-utils nfs-common sudo passwd libcrypt-dev autofs
    libssl-dev openssl
    dpkg-dev lintian zip unzip file binutils dose-distcheck
    debootstrap qemu-system-x86 qemu-utils e2fsprogs python3
  )
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
