#!/usr/bin/env bash
# The .deb installed, upgraded and purged in a Debian 12 chroot. The chroot is made with
# `debootstrap --variant=minbase bookworm` from the mirror apt already uses, with the package's
# Depends included so that `dpkg -i` works offline; the tree is cached under
# /var/cache/dsvm-agent-tests/deb-chroot-<hash of the recipe> and copied for each run. Runs in a
# private mount namespace, so nothing it mounts outlives it. Exit 77 (skipped) without root or
# debootstrap.
#
# Checks: after install, the files, directories, modes and the enable link; after an upgrade to
# a package built with a higher version, the version; after purge, the chroot's file listing is
# the one before install, except for what docs/packaging.md says purge keeps. Then, in a fresh
# copy without a network, the VM Application commands of packaging/azure/vm-application.json:
# install, update to a newer and back to the older package, remove (twice).
#
# Usage: chroot_test.sh SOURCE_DIR BUILD_DIR DSVM_AGENT_BINARY
set -euo pipefail
source_dir=${1:?source dir}
build_dir=${2:?build dir}
binary=${3:?dsvm-agent binary}

if [[ $(id -u) -ne 0 ]] || ! command -v debootstrap >/dev/null; then
    echo "skipped: needs root and debootstrap"
    exit 77
fi
if [[ -z ${DSVM_CHROOT_TEST_NAMESPACE:-} ]]; then
    export DSVM_CHROOT_TEST_NAMESPACE=1
    exec unshare --mount --propagation private -- bash "$0" "$@"
fi

work=$(mktemp -d /var/tmp/dsvm-deb-chroot.XXXXXX)
cleanup() {
    # Anything mounted under the work tree (debootstrap mounts /proc and /sys while it runs).
    local mount_point
    for mount_point in $(awk -v w="$work" 'index($5, w) == 1 {print $5}' /proc/self/mountinfo |
        sort -r); do
        umount -l "$mount_point" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/../support/checks.sh"

echo "== packages"
cmake --build "$build_dir" --target dsvm-agent packaging-docs >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; exit 1; }
version=$("$binary" version | awk '{print $2}')
IFS=. read -r major minor patch <<<"$version"
next_version=$major.$minor.$((patch + 1))
cpack -G DEB -B "$work/v1" --config "$build_dir/CPackConfig.cmake" >"$work/v1.log" 2>&1 ||
    { cat "$work/v1.log"; exit 1; }
cpack -G DEB -B "$work/v2" --config "$build_dir/CPackConfig.cmake" \
    -D CPACK_PACKAGE_VERSION="$next_version" >"$work/v2.log" 2>&1 ||
    { cat "$work/v2.log"; exit 1; }
deb1=$(echo "$work"/v1/dsvm-agent_*.deb)
deb2=$(echo "$work"/v2/dsvm-agent_*.deb)
version1=$(dpkg-deb -f "$deb1" Version)
version2=$(dpkg-deb -f "$deb2" Version)
echo "first $version1, upgrade $version2"
dpkg --compare-versions "$version2" gt "$version1" ||
    { echo "FAIL: the upgrade package's version $version2 is not above $version1"; exit 1; }

# The package's Depends, first alternative of each, without version constraints. debootstrap
# resolves real packages only: a virtual one (libspdlog1.10-fmt9) becomes its provider.
real_package() {
    if [[ -n $(apt-cache show --no-all-versions "$1" 2>/dev/null) ]]; then
        echo "$1"
    else
        apt-cache showpkg "$1" | sed -n '/^Reverse Provides:/,$p' | sed -n '2{s/ .*//;p}'
    fi
}
includes=$(dpkg-deb -f "$deb1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/ //g' |
    grep -v '^$' | while read -r name; do real_package "$name"; done | sort -u | paste -sd, -)

# The Debian mirror apt already uses: one-line sources.list entries or deb822 .sources files.
mirror=${DSVM_TEST_MIRROR:-}
if [[ -z $mirror ]]; then
    mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$1 == "deb" && $0 ~ / bookworm / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' ||
        true)
fi
if [[ -z $mirror ]]; then
    mirror=$(awk 'BEGIN {RS = ""} /Suites:[^\n]*bookworm( |\n|$)/ && /Types:[^\n]*deb( |\n|$)/ {
                 if (match($0, /URIs: *[^ \n]+/)) {u = substr($0, RSTART, RLENGTH); sub(/URIs: */, "", u); print u; exit}}' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
[[ -n $mirror ]] || { echo "FAIL: no bookworm mirror in /etc/apt/sources.list*"; exit 1; }

echo "== chroot"
recipe="debootstrap --variant=minbase --include=$includes bookworm $mirror"
hash=$(printf '%s\n' "$recipe" | sha256sum | cut -c1-16)
cache_root=/var/cache/dsvm-agent-tests
cache=$cache_root/deb-chroot-$hash
mkdir -p "$cache_root"
(
    flock 9
    if [[ ! -f $cache/.complete ]]; then
        echo "building $cache: $recipe"
        rm -rf "$cache.tmp"
        debootstrap --variant=minbase --include="$includes" bookworm "$cache.tmp" "$mirror" \
            >"$work/debootstrap.log" 2>&1 ||
            { tail -30 "$work/debootstrap.log"; rm -rf "$cache.tmp"; exit 1; }
        rm -rf "$cache.tmp/var/cache/apt/archives"/*.deb
        printf '%s\n' "$recipe" >"$cache.tmp/.complete"
        rm -rf "$cache"
        mv "$cache.tmp" "$cache"
    fi
) 9>"$cache_root/.lock"
root=$work/root
cp -a "$cache" "$root"
rm -f "$root/.complete"
in_root() { chroot "$root" "$@"; }

# The admin's own fstab lines, there before the package: purge must give them back unchanged.
printf '%s\n' "# admin: the data disk" "UUID=0a1b /data ext4 defaults 0 2" >>"$root/etc/fstab"

# Listing of the whole chroot: type, mode, owner, path, and a checksum of every file in /etc.
listing() {
    (cd "$root" && find . -xdev -printf '%y %m %u:%g %p\n' | sort)
    (cd "$root" && find ./etc -xdev -type f -print0 | sort -z | xargs -0 sha256sum | sed 's/^/sha256 /')
}
listing >"$work/before"

echo "== install $version1"
cp "$deb1" "$deb2" "$root/tmp/"
in_root dpkg -i "/tmp/${deb1##*/}" >"$work/install.log" 2>&1 ||
    { cat "$work/install.log"; echo "FAIL: dpkg -i $version1"; exit 1; }
mode_owner() { stat -c '%a %U:%G %F' "$root$1"; }
check "dsvm-agent $version1 is installed" \
    test "$(in_root dpkg-query -W -f '${Status} ${Version}' dsvm-agent)" = "install ok installed $version1"
check "/usr/sbin/dsvm-agent runs in the chroot (its libraries are there)" \
    sh -c "chroot '$root' /usr/sbin/dsvm-agent version | grep -qx 'dsvm-agent $version'"
check "/usr/sbin/dsvm-agent 0755" test "$(mode_owner /usr/sbin/dsvm-agent)" = "755 root:root regular file"
check "/etc/dsvm-agent 0755" test "$(mode_owner /etc/dsvm-agent)" = "755 root:root directory"
check "/etc/dsvm-agent/credentials 0700" \
    test "$(mode_owner /etc/dsvm-agent/credentials)" = "700 root:root directory"
check "/var/lib/dsvm-agent 0700" test "$(mode_owner /var/lib/dsvm-agent)" = "700 root:root directory"
check "the unit is installed" test -f "$root/lib/systemd/system/dsvm-agent.service"
check "the unit is enabled (multi-user.target.wants link)" \
    test "$(readlink "$root/etc/systemd/system/multi-user.target.wants/dsvm-agent.service")" = \
    /lib/systemd/system/dsvm-agent.service
check "the metadata guard's unit is enabled (sysinit.target.wants link)" \
    test "$(readlink "$root/etc/systemd/system/sysinit.target.wants/dsvm-agent-metadata-guard.service")" = \
    /lib/systemd/system/dsvm-agent-metadata-guard.service
check "nft, which the guard's unit runs, came with the package" test -x "$root/usr/sbin/nft"
check "the man page is installed" test -f "$root/usr/share/man/man8/dsvm-agent.8.gz"
check "the completion is installed" test -f "$root/usr/share/bash-completion/completions/dsvm-agent"
check "/usr/share/doc/dsvm-agent/README.md (the unit's Documentation=)" \
    test -f "$root/usr/share/doc/dsvm-agent/README.md"

# What the agent writes while it runs, so that purge has it to remove.
marker=$(sed -n "s/^marker='\(.*\)'$/\1/p" "$source_dir/packaging/deb/postrm")
echo '{"share": {"source": "//acct.file.core.windows.net/share"}}' >"$root/etc/dsvm-agent/pool.json"
install -m 0600 /dev/null "$root/etc/dsvm-agent/credentials/acct.cred"
install -m 0600 /dev/null "$root/etc/dsvm-agent/credentials/registry.key"
echo '{}' >"$root/var/lib/dsvm-agent/status.json"
echo '{"creating": []}' >"$root/var/lib/dsvm-agent/users-intent.json"
mkdir -p "$root/etc/sudoers.d" "$root/etc/auto.master.d"
install -m 0440 /dev/null "$root/etc/sudoers.d/dsvm-agent"
echo "/run/dsvm-agent/notebooks /etc/dsvm-agent/notebooks.autofs --timeout=600" \
    >"$root/etc/auto.master.d/dsvm-agent.autofs"
cp "$root/etc/fstab" "$root/etc/fstab.dsvm-agent.bak"
install -m 0600 /dev/null "$root/etc/fstab.dsvm-agent.lock"
fstab_before=$(cat "$root/etc/fstab")
{
    # An entry before the admin's lines, a stale marker (its entry removed by hand) right
    # before the admin's comment, and an entry at the end, as the agent leaves them.
    printf '%s\n' "$marker" "//acct.file.core.windows.net/share /datamnt/share cifs nofail,_netdev,credentials=/etc/dsvm-agent/credentials/acct.cred 0 0"
    printf '%s\n' "$fstab_before" | sed "/^# admin: the data disk\$/i\\
$marker"
    printf '%s\n' "  $marker" "acct.file.core.windows.net:/acct/nfs /datamnt/nfs nfs vers=4,minorversion=1,_netdev,nofail 0 0"
} >"$root/etc/fstab.new"
mv "$root/etc/fstab.new" "$root/etc/fstab"
# A pool user: accounts and homes are the pool's and stay after purge.
in_root useradd -m -u 20001 -s /bin/bash pooluser

echo "== upgrade to $version2"
in_root dpkg -i "/tmp/${deb2##*/}" >"$work/upgrade.log" 2>&1 ||
    { cat "$work/upgrade.log"; echo "FAIL: dpkg -i $version2"; exit 1; }
check "the version is now $version2" \
    test "$(in_root dpkg-query -W -f '${Version}' dsvm-agent)" = "$version2"
check "the upgrade kept pool.json" test -f "$root/etc/dsvm-agent/pool.json"
check "the upgrade kept the credentials" test -f "$root/etc/dsvm-agent/credentials/acct.cred"
check "the upgrade kept the agent's fstab entries" \
    test "$(grep -c "managed by dsvm-agent" "$root/etc/fstab")" -eq 3
check "the unit is still enabled" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/dsvm-agent.service"

echo "== purge"
rm -f "$root/tmp/${deb1##*/}" "$root/tmp/${deb2##*/}"
in_root dpkg --purge dsvm-agent >"$work/purge.log" 2>&1 ||
    { cat "$work/purge.log"; echo "FAIL: dpkg --purge"; exit 1; }
check "the package is gone" sh -c "! chroot '$root' dpkg-query -W -f '\${Status}' dsvm-agent 2>/dev/null | grep -q installed"
check "fstab is the admin's again, byte for byte" \
    sh -c "printf '%s\n' \"\$1\" | diff -u - '$root/etc/fstab'" sh "$fstab_before"
check "the pool user's account is kept" in_root getent passwd pooluser
check "the pool user's home is kept" test -d "$root/home/pooluser"

# What purge keeps, from docs/packaging.md: glob patterns (a * matches / too), one a line,
# between the purge-keeps markers.
keeps=$(sed -n '/<!-- purge-keeps:begin -->/,/<!-- purge-keeps:end -->/p' \
    "$source_dir/docs/packaging.md" | grep '^/' || true)
[[ -n $keeps ]] || fail "docs/packaging.md has no purge-keeps list"
kept() {
    local path=$1 pattern
    while IFS= read -r pattern; do
        # shellcheck disable=SC2053
        [[ $path == $pattern ]] && return 0
    done <<<"$keeps"
    return 1
}
listing >"$work/after"
diff "$work/before" "$work/after" | grep '^[<>]' >"$work/changes" || true
unexplained=$work/unexplained
: >"$unexplained"
while IFS= read -r line; do
    path=${line##* }
    [[ $line == *" sha256 "* ]] && path=${line##* }
    path=${path#.}
    if kept "$path"; then
        echo "    kept by design: $line"
    else
        printf '%s\n' "$line" >>"$unexplained"
    fi
done <"$work/changes"
check "after purge the chroot is as before install, except what docs/packaging.md keeps" \
    sh -c "if [ -s '$unexplained' ]; then cat '$unexplained'; exit 1; fi"

echo "== VM Application commands (packaging/azure/vm-application.json)"
# The commands a VM Application version runs, from packaging/azure/vm-application.json (the
# version's publishingProfile settings and manageActions), run as the extension runs them: bash, in the version's download directory, which
# holds the package under packageFileName. A fresh copy of the chroot, without a network (no
# package lists either: apt-get must install from the .deb and the installed dependencies).
app_json=$source_dir/packaging/azure/vm-application.json
app_field() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["settings"]["packageFileName"] if sys.argv[2] == "file" else d["manageActions"][sys.argv[2]])' \
        "$app_json" "$1"
}
package_file=$(app_field file)
app_root=$work/vmapp
cp -a "$cache" "$app_root"
rm -f "$app_root/.complete"
app_dir=/var/lib/waagent/Microsoft.CPlat.Core.VMApplicationManagerLinux/dsvm-agent
run_action() {  # ACTION APPLICATION-VERSION DEB
    local dir=$app_dir/$2
    mkdir -p "$app_root$dir"
    cp "$3" "$app_root$dir/$package_file"
    unshare --net chroot "$app_root" /bin/bash -c "cd '$dir' && { $(app_field "$1"); }"
}
app_version() { chroot "$app_root" dpkg-query -W -f '${Status} ${Version}' dsvm-agent 2>/dev/null; }
check "VM Application install (offline, from the .deb)" run_action install 1.0.0 "$deb1"
check "... installed dsvm-agent $version1" test "$(app_version)" = "install ok installed $version1"
check "... and enabled its unit" \
    test -L "$app_root/etc/systemd/system/multi-user.target.wants/dsvm-agent.service"
echo '{"share": {"source": "//acct.file.core.windows.net/share"}}' >"$app_root/etc/dsvm-agent/pool.json"
install -m 0600 /dev/null "$app_root/etc/dsvm-agent/credentials/acct.cred"
check "VM Application update to a new application version" run_action update 1.0.1 "$deb2"
check "... installed $version2 over $version1" test "$(app_version)" = "install ok installed $version2"
check "VM Application update back to the older package (a rollback)" run_action update 1.0.2 "$deb1"
check "... installed $version1 again" test "$(app_version)" = "install ok installed $version1"
check "... the config and the key stayed through both" \
    test -f "$app_root/etc/dsvm-agent/pool.json" -a -f "$app_root/etc/dsvm-agent/credentials/acct.cred"
check "VM Application remove" run_action remove 1.0.2 "$deb1"
check "... removed the package, not its config" \
    test "$(app_version)" = "deinstall ok config-files $version1"
check "... kept pool.json and the key (apt-get remove)" \
    test -f "$app_root/etc/dsvm-agent/pool.json" -a -f "$app_root/etc/dsvm-agent/credentials/acct.cred"
check "VM Application remove again does nothing and succeeds" run_action remove 1.0.2 "$deb1"
chroot "$app_root" dpkg --unpack "$app_dir/1.0.2/$package_file" >/dev/null 2>&1 || true
check "a package left unpacked (a failed install) is in a half state" \
    test "$(chroot "$app_root" dpkg-query -W -f '${db:Status-Status}' dsvm-agent)" = unpacked
check "VM Application remove takes away a package left unpacked" run_action remove 1.0.2 "$deb1"
check "... it is gone" sh -c "case \$(chroot '$app_root' dpkg-query -W -f '\${db:Status-Status}' dsvm-agent 2>/dev/null) in ''|not-installed|config-files) ;; *) exit 1 ;; esac"

checks_summary
