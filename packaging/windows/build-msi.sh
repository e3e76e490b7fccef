#!/usr/bin/env bash
# Builds the Windows installer (docs/windows.md, "Installing with the MSI") from dsvm-agent.wxs
# beside this script: wixl (msitools 0.101) writes the package, then msibuild adds what wixl
# cannot express. The `msi` target of the Windows build runs it on dsvm-agent.exe; the MSI
# smoke test (tests/windows/msi_smoke_test.sh) runs it too, so what it tests is built the same way.
#
# Usage: build-msi.sh EXE VERSION OUTPUT.msi
set -euo pipefail

if (($# != 3)); then
  echo "usage: build-msi.sh EXE VERSION OUTPUT.msi" >&2
  exit 2
fi
exe=$1
version=$2
output=$3
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
package=$work/package.msi

# wixl finds files only by a path relative to where it runs.
cp "$exe" "$work/dsvm-agent.exe"
# wixl exits 0 after some mistakes (an attribute or child it does not know is dropped, a custom
# action it cannot write is left out), with a warning: any message at all fails the build.
if ! (cd "$work" && wixl -a x64 -D ExePath=dsvm-agent.exe -D Version="$version" -o package.msi \
  "$here/dsvm-agent.wxs") 2>"$work/wixl.log" || [[ -s $work/wixl.log ]]; then
  cat "$work/wixl.log" >&2
  echo "build-msi: wixl could not build the package from $here/dsvm-agent.wxs" >&2
  exit 1
fi

# wixl 0.101 has no Permission or PermissionEx element. MsiLockPermissionsEx (Windows Installer 5)
# gives each folder the install makes an access list as it is made: owner Administrators,
# protected (nothing inherited from ProgramData, whose Users may create files), full control for
# SYSTEM and Administrators only, inherited by whatever the agent makes inside.
sddl='O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)'
{
  printf 'MsiLockPermissionsEx\tLockObject\tTable\tSDDL\tCondition\n'
  printf 's72\ts72\ts32\ts0\tS255\n'
  printf 'MsiLockPermissionsEx\tMsiLockPermissionsEx\n'
  for folder in DATADIR DATAETC CONFIGDIR DATAVAR DATAVARLIB STATEDIR; do
    printf 'Lock%s\t%s\tCreateFolder\t%s\t\n' "$folder" "$folder" "$sddl"
  done
} >"$work/MsiLockPermissionsEx.idt"
msibuild "$package" -i "$work/MsiLockPermissionsEx.idt"

# wixl 0.101 writes Execute="commit" as an immediate action, so the .wxs says "deferred" and the
# type is set here: 50 (run the program a property names) + 0x400 (in the script) + 0x200
# (commit: only once the uninstall has succeeded) + 0x800 (as LocalSystem, not the user).
msibuild "$package" -q "UPDATE \`CustomAction\` SET \`Type\` = 3634 WHERE \`Action\` = 'RemoveData'"
if ! msiinfo export "$package" CustomAction | grep -q $'^RemoveData\t3634\t'; then
  echo "build-msi: the custom action RemoveData is not in the package as a commit action" >&2
  exit 1
fi

mv "$package" "$output"
