#!/usr/bin/env bash
# The .deb and the VM extension handler package, checked from the outside in a few seconds:
# cpack builds the package into a temporary directory, then its file list and modes, control
# fields, size, lintian, the man page, the completion and the handler zip are checked. Every
# command and option `dsvm-agent --help` prints must have its place in the man page and the
# completion, so a command added without documentation fails here.
#
# Usage: check_deb.sh SOURCE_DIR BUILD_DIR DSVM_AGENT_BINARY
set -euo pipefail
source_dir=${1:?source dir}
build_dir=${2:?build dir}
binary=${3:?dsvm-agent binary}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

source "$(dirname "$0")/../support/checks.sh"

version=$("$binary" version | awk '{print $2}')
release=$(sed -n 's/^set(DSVM_DEB_RELEASE \([0-9]*\) .*/\1/p' "$source_dir/packaging/packaging.cmake")
arch=$(dpkg --print-architecture)
deb_name=dsvm-agent_${version}-${release}_${arch}.deb

echo "== cpack"
# cpack packages what is built; the man page and changelog are compressed at build time.
cmake --build "$build_dir" --target dsvm-agent packaging-docs >"$work/build.log" 2>&1 ||
    { cat "$work/build.log"; echo "FAIL: build"; exit 1; }
cpack -G DEB -B "$work/cpack" --config "$build_dir/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
    { cat "$work/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$work/cpack/$deb_name
[[ -f $deb ]] || { ls "$work/cpack"; echo "FAIL: cpack made no $deb_name"; exit 1; }

echo "== contents"
# Every path and mode the package may contain; anything else (or anything missing) fails.
expected_listing() {
    local dirs=(./lib/ ./lib/systemd/ ./lib/systemd/system/ ./usr/ ./usr/sbin/ ./usr/share/
                ./usr/share/bash-completion/ ./usr/share/bash-completion/completions/
                ./usr/share/doc/ ./usr/share/doc/dsvm-agent/ ./usr/share/doc/dsvm-agent/docs/
                ./usr/share/lintian/ ./usr/share/lintian/overrides/
                ./usr/share/man/ ./usr/share/man/man8/)
    local d f
    for d in "${dirs[@]}"; do echo "drwxr-xr-x root/root $d"; done
    echo "-rwxr-xr-x root/root ./usr/sbin/dsvm-agent"
    for f in ./lib/systemd/system/dsvm-agent.service \
             ./lib/systemd/system/dsvm-agent-metadata-guard.service \
             ./usr/share/man/man8/dsvm-agent.8.gz \
             ./usr/share/bash-completion/completions/dsvm-agent \
             ./usr/share/lintian/overrides/dsvm-agent \
             ./usr/share/doc/dsvm-agent/copyright ./usr/share/doc/dsvm-agent/changelog.Debian.gz \
             ./usr/share/doc/dsvm-agent/README.md; do
        echo "-rw-r--r-- root/root $f"
    done
    for f in "$source_dir"/docs/*.md "$source_dir"/docs/*.json; do
        [[ -e $f ]] && echo "-rw-r--r-- root/root ./usr/share/doc/dsvm-agent/docs/${f##*/}"
    done
}
expected_listing | sort >"$work/expected"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort >"$work/actual"
check "file list and modes of the .deb (- expected, + actual)" \
    diff -u "$work/expected" "$work/actual"

dpkg-deb -x "$deb" "$work/tree"
check "the unit is packaging/dsvm-agent.service, unchanged" \
    cmp "$source_dir/packaging/dsvm-agent.service" "$work/tree/lib/systemd/system/dsvm-agent.service"
check "the guard unit is packaging/dsvm-agent-metadata-guard.service, unchanged" \
    cmp "$source_dir/packaging/dsvm-agent-metadata-guard.service" \
        "$work/tree/lib/systemd/system/dsvm-agent-metadata-guard.service"
check "the binary is stripped" \
    sh -c "file -b '$work/tree/usr/sbin/dsvm-agent' | grep -q ', stripped'"
check "the man page is gzip -9n of packaging/dsvm-agent.8 (reproducible)" \
    sh -c "gzip -9n -c '$source_dir/packaging/dsvm-agent.8' | cmp - '$work/tree/usr/share/man/man8/dsvm-agent.8.gz'"
check "the completion is packaging/dsvm-agent.bash-completion" \
    cmp "$source_dir/packaging/dsvm-agent.bash-completion" \
    "$work/tree/usr/share/bash-completion/completions/dsvm-agent"
check "the copyright file is machine-readable and carries LICENSE's text" \
    sh -c "head -1 '$work/tree/usr/share/doc/dsvm-agent/copyright' | grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' &&
           grep -qx 'License: Expat' '$work/tree/usr/share/doc/dsvm-agent/copyright' &&
           grep -q '^ THE SOFTWARE IS PROVIDED \"AS IS\"' '$work/tree/usr/share/doc/dsvm-agent/copyright'"
changelog_version=$(gzip -dc "$work/tree/usr/share/doc/dsvm-agent/changelog.Debian.gz" |
    sed -n '1s/^dsvm-agent (\([^)]*\)).*/\1/p')
check "the changelog's latest entry ($changelog_version) is this version ($version-$release)" \
    test "$changelog_version" = "$version-$release"

echo "== control"
field() { dpkg-deb -f "$deb" "$1"; }
depends=$(field Depends)
for package in cifs-utils nfs-common passwd sudo autofs nftables libc6 libmount1 libcurl4; do
    check "Depends names $package: $depends" \
        sh -c "printf '%s\n' '$depends' | tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -qx '$package'"
done
# One package for Debian 12, Ubuntu 22.04 and 24.04: spdlog and fmt are header-only (their
# sonames differ in each release), and Ubuntu 24.04's t64 names are alternatives.
check "Depends names no spdlog or fmt package: $depends" \
    sh -c "! printf '%s\n' '$depends' | grep -Eq '(^|[ ,|])lib(spdlog|fmt)'"
for alternative in 'libcurl4 (>= 7.81.0) | libcurl4t64' 'libssl3 (>= 3.0.2) | libssl3t64'; do
    check "Depends has the alternative '$alternative': $depends" \
        sh -c "printf '%s\n' '$depends' | grep -qF '$alternative'"
done
check "Section is admin" test "$(field Section)" = admin
check "Package is dsvm-agent" test "$(field Package)" = dsvm-agent
check "Version is $version-$release" test "$(field Version)" = "$version-$release"
check "the description has a long part" test "$(field Description | wc -l)" -ge 3
for script in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -tvf - "./$script" >"$work/$script.mode" 2>&1 || true
    check "$script is in the package, mode 0755" grep -q '^-rwxr-xr-x root/root' "$work/$script.mode"
    check "$script is plain sh with set -e" \
        sh -c "head -1 '$source_dir/packaging/deb/$script' | grep -qx '#!/bin/sh' &&
               grep -qx 'set -e' '$source_dir/packaging/deb/$script' &&
               sh -n '$source_dir/packaging/deb/$script'"
done
size=$(stat -c %s "$deb")
check "the .deb is under 3 MB ($size bytes)" test "$size" -lt $((3 * 1024 * 1024))

# postrm finds the agent's fstab entries by their marker: it must be the agent's own.
marker=$(sed -n '/k_fstab_marker =/,/;/p' "$source_dir/mount/fstab.h" | tr -d '\n' |
    sed 's/^[^"]*"//; s/";$//; s/"[[:space:]]*"//g')
check "postrm's fstab marker is k_fstab_marker ($marker)" \
    grep -qxF "marker='$marker'" "$source_dir/packaging/deb/postrm"

echo "== lintian"
lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || true
sed 's/^/    /' "$work/lintian.log"
check "lintian reports no errors" sh -c "! grep -q '^E:' '$work/lintian.log'"

echo "== man page"
check "man renders packaging/dsvm-agent.8 without a warning" \
    sh -c "out=\$(man --warnings -E UTF-8 -l -Tutf8 -Z '$source_dir/packaging/dsvm-agent.8' 2>&1 >/dev/null);
           [ -z \"\$out\" ] || { printf '%s\n' \"\$out\"; exit 1; }"

# Section headers of the man page's COMMANDS, with \- made plain: "adduser NAME [--sudo] ...".
man_source=$(sed 's/\\-/-/g' "$source_dir/packaging/dsvm-agent.8")
sections=$(printf '%s\n' "$man_source" | sed -n 's/^\.SS *//p' | tr -d '"')
completion=$(cat "$source_dir/packaging/dsvm-agent.bash-completion")

# The commands and options a --help text lists (CLI11's layout).
commands_in() { awk '/^Subcommands:/ {on = 1; next} /^$/ {on = 0} on {print $1}'; }
options_in() {
    awk '/^Options:/ {on = 1; next} /^[^ ]/ {on = 0} on' |
        grep -oE '^ +(-[a-z],)?--[a-z][a-z0-9-]*' | grep -oE -- '--[a-z][a-z0-9-]*' |
        grep -vx -- '--help' || true
}
# A man section for "parent leaf" is one whose first word is parent and whose second word is
# leaf or a |-separated list holding it ("extension install|enable|...").
has_section() {
    local parent=$1 leaf=${2:-}
    printf '%s\n' "$sections" | awk -v p="$parent" -v l="$leaf" '
        $1 != p { next }
        l == "" { found = 1 }
        { n = split($2, alts, "|"); for (i = 1; i <= n; i++) if (alts[i] == l) found = 1 }
        END { exit found ? 0 : 1 }'
}
check_options() {
    local where=$1 help=$2 option
    for option in $(printf '%s\n' "$help" | options_in); do
        check "man page documents '$where $option'" grep -qe "$option" <<<"$man_source"
        check "completion offers '$where $option'" grep -qe "$option\b" <<<"$completion"
    done
}

top_help=$("$binary" --help)
check_options "dsvm-agent" "$top_help"
commands=$(printf '%s\n' "$top_help" | commands_in)
check "dsvm-agent --help lists commands" test -n "$commands"
for command in $commands; do
    check "man page has a section for '$command'" has_section "$command"
    check "completion offers '$command'" grep -qw -e "$command" <<<"$completion"
    command_help=$("$binary" "$command" --help 2>&1 || true)
    check_options "$command" "$command_help"
    for sub in $(printf '%s\n' "$command_help" | commands_in); do
        check "man page has a section for '$command $sub'" has_section "$command" "$sub"
        check "completion offers '$command $sub'" grep -qw -e "$sub" <<<"$completion"
        check_options "$command $sub" "$("$binary" "$command" "$sub" --help 2>&1 || true)"
    done
done

echo "== handler zip"
cmake --build "$build_dir" --target handler-zip >"$work/zip.log" 2>&1 ||
    { cat "$work/zip.log"; fail "cmake --build --target handler-zip"; }
zip_file=$build_dir/dsvm-agent-handler-$version.zip
if [[ -f $zip_file ]]; then
    unzip -Z1 "$zip_file" | sort >"$work/zip.actual"
    printf '%s\n' HandlerManifest.json install.sh enable.sh disable.sh update.sh uninstall.sh \
        "$deb_name" | sort >"$work/zip.expected"
    check "handler zip contents (- expected, + actual)" \
        diff -u "$work/zip.expected" "$work/zip.actual"
    mkdir "$work/handler"
    unzip -q "$zip_file" -d "$work/handler"
    check "HandlerManifest.json parses and names a script in the zip for every command" \
        python3 - "$work/handler" <<'EOF'
import json, os, sys
handler = sys.argv[1]
with open(os.path.join(handler, "HandlerManifest.json")) as f:
    manifest = json.load(f)
assert isinstance(manifest, list) and len(manifest) == 1, "a list of one object"
entry = manifest[0]
assert entry.get("version") == 1.0, "version 1.0"
m = entry["handlerManifest"]
for key in ("installCommand", "enableCommand", "disableCommand", "uninstallCommand",
            "updateCommand"):
    command = m[key]
    assert not command.startswith("/"), f"{key}: the guest agent joins it to the handler dir"
    path = os.path.join(handler, command.split()[0])
    assert os.path.isfile(path), f"{key}: {command} is not in the zip"
assert m.get("reportHeartbeat") is False, "reportHeartbeat false"
# The new version's install is what upgrades the package and clears the old version's copied
# status for the settings (docs/extension.md, Updates).
assert m.get("updateMode") == "UpdateWithInstall", "updateMode UpdateWithInstall"
EOF
    unzip -Z "$zip_file" | awk '/\.sh$/ {print $1, $NF}' >"$work/zip.modes"
    check "handler scripts are executable in the zip" \
        sh -c "test \$(grep -c '^-rwxr-xr-x' '$work/zip.modes') -eq 5"
    for operation in enable disable update uninstall; do
        check "$operation.sh runs 'dsvm-agent extension $operation'" \
            grep -q "/usr/sbin/dsvm-agent extension $operation\$" "$work/handler/$operation.sh"
    done
    check "install.sh installs the .deb with apt-get, then runs 'extension install'" \
        sh -c "sh -n '$work/handler/install.sh' &&
               grep -q 'apt-get .*install -y' '$work/handler/install.sh' &&
               grep -q '^exec /usr/sbin/dsvm-agent extension install\$' '$work/handler/install.sh'"
    check "uninstall.sh removes the package after the extension's uninstall" \
        sh -c "grep -n '^ */usr/sbin/dsvm-agent extension uninstall' '$work/handler/uninstall.sh' | cut -d: -f1 > '$work/a';
               grep -n '^[^#]*remove -y dsvm-agent' '$work/handler/uninstall.sh' | cut -d: -f1 > '$work/b';
               test -s '$work/a' && test -s '$work/b' && test \$(cat '$work/a') -lt \$(cat '$work/b')"
    check "the zip's .deb is a valid package of this version" \
        test "$(dpkg-deb -f "$work/handler/$deb_name" Version)" = "$version-$release"
else
    fail "no $zip_file"
fi

checks_summary
