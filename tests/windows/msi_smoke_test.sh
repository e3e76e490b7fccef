#!/usr/bin/env bash
# The MSI smoke test (docs/windows.md, "Installing with the MSI"): builds the package around EXE
# with packaging/windows/build-msi.sh, as the `msi` target does, and in a throw-away wine prefix
# installs it, checks the service runs and the files are where the docs say, upgrades it to a
# higher version (and sees the lower one refused), uninstalls it (the data stays), then installs
# and uninstalls it with REMOVE_DATA=1 (the data goes).
#
# Everything runs in a network namespace of its own, with only a loopback device (down): the
# agent's daemon asks the metadata service at 169.254.169.254, and a test must never reach past
# loopback. The namespace holds for every process of the test whatever the exe does, and the
# package is the one shipped, with the service's arguments as they are. Making one needs root
# (as CI runs): otherwise the test is skipped (exit 77).
#
# Usage: msi_smoke_test.sh SOURCE_DIR EXE VERSION
set -euo pipefail
source_dir=${1:?source dir}
exe=${2:?exe}
version=${3:?version}

if [[ ${DSVM_MSI_SMOKE_NAMESPACE:-} != 1 ]]; then
  if ! unshare --net true 2>/dev/null; then
    echo "skipped: cannot make a network namespace (unshare --net needs root)"
    exit 77
  fi
  exec env DSVM_MSI_SMOKE_NAMESPACE=1 unshare --net bash "$0" "$@"
fi
# /proc/net/dev lists the devices of this process's namespace: only loopback may be there.
if awk -F: 'NR > 2 && $1 !~ /^ *lo$/ {found = 1} END {exit !found}' /proc/net/dev; then
  echo "FAIL: the test runs where it can reach past loopback"
  exit 1
fi

work=$(mktemp -d /tmp/dsvm-msi-smoke.XXXXXX)
export WINEPREFIX=$work/prefix WINEDEBUG=-all
# No Mono or Gecko: nothing here needs them, and wineboot would look for them.
export WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
  wineserver -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

source "$(dirname "$0")/../support/checks.sh"
# The MSI's paths in the prefix, as Windows names them and as this host sees them.
drive_c=$WINEPREFIX/drive_c
exe_installed="$drive_c/Program Files/dsvm-agent/dsvm-agent.exe"
data=$drive_c/ProgramData/dsvm-agent
msi_of() { echo "Z:${1//\//\\}"; }

service_state() { wine sc query dsvm-agent 2>&1 | tr -d '\r' | awk '$1 == "STATE" {print $4}'; }
service_running() { [[ $(service_state) == RUNNING ]]; }
service_absent() { ! wine sc query dsvm-agent >/dev/null 2>&1; }
# The pids of the agent's processes in this test's prefix: the Windows command line names the
# exe, and the environment this WINEPREFIX (another prefix's agent, of a concurrent run, is not
# this one's). From /proc: procps need not be installed.
agent_processes() {
  local process
  for process in /proc/[0-9]*; do
    if tr '\0' ' ' <"$process/cmdline" 2>/dev/null |
      grep -q 'Program Files.dsvm-agent.dsvm-agent.exe' &&
      tr '\0' '\n' <"$process/environ" 2>/dev/null | grep -qxF "WINEPREFIX=$WINEPREFIX"; then
      echo "${process#/proc/}"
    fi
  done
}
# Windows Installer's StopServices waits for the service to stop (the ServiceControl row's Wait
# column is 1). wine's sends the stop and goes on at once: RemoveFiles then finds the exe still
# running and leaves it (ERROR_ACCESS_DENIED). So, as Windows Installer would, the test stops the
# service and waits for its process to end before an upgrade or an uninstall. That the service
# stops at all, and soon, is checked here: 40 looks a quarter second apart (each asks the
# SCM, so about 20 s) are what the test allows the agent's exe.
stop_service_and_wait() {
  wine sc stop dsvm-agent >/dev/null 2>&1 || true
  local i
  for i in $(seq 1 40); do
    if [[ $(service_state) == STOPPED && -z $(agent_processes) ]]; then
      return 0
    fi
    sleep 0.25
  done
  echo "the service is $(service_state), its processes: $(agent_processes)"
  return 1
}
# The service's registry entry: its command line, start type and account.
service_value() {
  wine reg query 'HKLM\System\CurrentControlSet\Services\dsvm-agent' /v "$1" 2>/dev/null |
    tr -d '\r' | sed -n "s/^ *$1 \{1,\}REG_[A-Z_]* \{1,\}//p"
}
installed_versions() {
  wine reg query 'HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall' /s 2>/dev/null |
    tr -d '\r' | awk '$1 == "DisplayName" {name = $3} $1 == "DisplayVersion" && name == "dsvm-agent" {print $3}'
}
fails() { ! "$@" >/dev/null; }
# The last msiexec's log as text (wine writes it in ASCII, Windows in UTF-16).
msiexec_log() { tr -d '\0\r' <"$work/msiexec.log"; }
run_msiexec() {
  # run_msiexec ARGS...: quiet, with a verbose log shown on failure.
  if ! wine msiexec "$@" /qn /l*v "$(msi_of "$work/msiexec.log")" >/dev/null 2>&1; then
    msiexec_log | grep -iE 'error|return value 3' | head -20
    return 1
  fi
}

echo "== the package"
# A second package one patch version up, to upgrade to.
next_version=$(echo "$version" | awk -F. '{printf "%d.%d.%d", $1, $2, $3 + 1}')
bash "$source_dir/packaging/windows/build-msi.sh" "$exe" "$version" "$work/dsvm-agent.msi"
bash "$source_dir/packaging/windows/build-msi.sh" "$exe" "$next_version" "$work/next.msi"
# A table of the package as text (msiinfo writes CRLF lines).
table() { msiinfo export "$work/dsvm-agent.msi" "$1" | tr -d '\r'; }
check "msiinfo shows the service: LocalSystem, automatic start, the run command" \
  grep -qP '^AgentService\tdsvm-agent\tdsvm-agent\t16\t2\t1\t\t\tLocalSystem\t\t--imds-timeout 15 run\tAgentExe\t' \
  <(table ServiceInstall)
check "msiinfo shows the service started on install, stopped on both, removed on uninstall" \
  grep -qP '^AgentService\tdsvm-agent\t163\t\t1\tAgentExe$' \
  <(table ServiceControl)
check "msiinfo shows the data folders locked to SYSTEM and Administrators" \
  test "$(table MsiLockPermissionsEx |
    grep -cP '\tCreateFolder\tO:BAG:SYD:PAI\(A;OICI;FA;;;SY\)\(A;OICI;FA;;;BA\)\t$')" = 6
check "the old version is removed before anything of the new one is installed" \
  awk -F'\t' '{seq[$1] = $3} END {exit !(seq["InstallValidate"] < seq["RemoveExistingProducts"] &&
    seq["RemoveExistingProducts"] < seq["InstallInitialize"])}' \
  <(table InstallExecuteSequence)

echo "== a wine prefix"
wineboot --init >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log"; echo "FAIL: wineboot"; exit 1; }
# wineboot returns while the new prefix is still being set up; until that ends, a service that
# msiexec creates cannot be opened at once (StartServices fails with 1060, and the install is
# rolled back).
wineserver -w
# A persistent wineserver, as a machine stays up: otherwise wine ends every process a few seconds
# after the last command, and the next command starts the automatic services again, racing
# msiexec for the service it is about to change. Persistent for 5 minutes, not for ever: should
# the test be killed before its cleanup, the prefix's processes still end.
wineserver -p300

echo "== install"
check "msiexec /i installs the package" run_msiexec /i "$(msi_of "$work/dsvm-agent.msi")"
check "the service runs" service_running
check "its process is the installed exe, in this prefix" test -n "$(agent_processes)"
# wine writes the path without the quotes Windows Installer puts around it.
check "the service runs the installed exe with the run command" test \
  "$(service_value ImagePath | tr -d '"')" = 'C:\Program Files\dsvm-agent\dsvm-agent.exe --imds-timeout 15 run'
check "the service starts automatically" test "$(service_value Start)" = 0x2
check "the service runs as LocalSystem" test "$(service_value ObjectName)" = LocalSystem
check "the exe is in Program Files" test -f "$exe_installed"
check "the exe runs: version" test "$(wine "$exe_installed" version 2>/dev/null | tr -d '\r')" = \
  "dsvm-agent $version"
check "the config folder is in ProgramData" test -d "$data/etc/dsvm-agent"
check "the state folder is in ProgramData" test -d "$data/var/lib/dsvm-agent"
# What the agent would have written: it must survive an upgrade and an uninstall.
echo '{}' >"$data/etc/dsvm-agent/pool.json"
echo '{}' >"$data/var/lib/dsvm-agent/state.json"

echo "== upgrade"
check "the service stops (sc stop) and its process ends" stop_service_and_wait
check "msiexec /i of a higher version upgrades" run_msiexec /i "$(msi_of "$work/next.msi")"
check "only the higher version is installed" test "$(installed_versions)" = "$next_version"
check "the service runs after the upgrade" service_running
check "the upgrade keeps the config and the state" \
  test -f "$data/etc/dsvm-agent/pool.json" -a -f "$data/var/lib/dsvm-agent/state.json"
check "the lower version refuses to install over the higher one" \
  fails run_msiexec /i "$(msi_of "$work/dsvm-agent.msi")"
# wine logs neither the launch condition's message nor its name, only the property it tests.
check "... because it found the newer version" grep -q "WIX_DOWNGRADE_DETECTED = {" <(msiexec_log)
check "the higher version is still the one installed" test "$(installed_versions)" = "$next_version"

echo "== uninstall"
check "the service stops (sc stop) and its process ends" stop_service_and_wait
check "msiexec /x uninstalls" run_msiexec /x "$(msi_of "$work/next.msi")"
check "the service is gone" service_absent
check "the exe is gone" test ! -e "$exe_installed"
check "the config and the state stay" \
  test -f "$data/etc/dsvm-agent/pool.json" -a -f "$data/var/lib/dsvm-agent/state.json"

echo "== uninstall with REMOVE_DATA=1"
check "msiexec /i installs again over the kept data" run_msiexec /i "$(msi_of "$work/dsvm-agent.msi")"
check "the service runs again" service_running
check "the service stops (sc stop) and its process ends" stop_service_and_wait
check "msiexec /x REMOVE_DATA=1 uninstalls" run_msiexec /x "$(msi_of "$work/dsvm-agent.msi")" REMOVE_DATA=1
check "the service is gone" service_absent
check "the config and the state are gone" test ! -e "$data"

checks_summary
