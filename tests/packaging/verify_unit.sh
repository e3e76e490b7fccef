#!/usr/bin/env bash
# The systemd unit passes `systemd-analyze verify` (with ExecStart pointed at the built binary,
# since /usr/sbin/dsvm-agent exists only once the package is installed) and keeps the settings
# boot depends on. Any warning from systemd-analyze fails the test.
set -euo pipefail
unit=${1:?unit file}
binary=${2:?dsvm-agent binary}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sed "s|/usr/sbin/dsvm-agent|$binary|" "$unit" > "$work/dsvm-agent.service"
if ! output=$(systemd-analyze verify "$work/dsvm-agent.service" 2>&1); then
  echo "systemd-analyze verify failed:"; echo "$output"; exit 1
fi
if [[ -n $output ]]; then
  echo "systemd-analyze verify warned:"; echo "$output"; exit 1
fi
for setting in 'Type=notify' 'After=network-online.target' 'Wants=network-online.target' \
               'Restart=on-failure' 'Before=systemd-user-sessions.service'; do
  grep -qx -- "$setting" "$unit" || grep -q -- "^${setting%%=*}=.*${setting#*=}" "$unit" ||
    { echo "missing: $setting"; exit 1; }
done
# The watchdog restarts a stuck daemon (docs/operation.md, "The watchdog"): it must be on, and
# longer than a legitimate pass can take, or a slow but healthy pass would be killed.
watchdog=$(sed -n 's/^WatchdogSec=//p' "$unit")
if [[ -z $watchdog ]]; then
  echo "missing: WatchdogSec= (the daemon sends WATCHDOG=1; without it a hung agent is never restarted)"
  exit 1
fi
watchdog_us=$(systemd-analyze timespan "$watchdog" | sed -n 's/^ *μs: //p')
if [[ ! $watchdog_us =~ ^[0-9]+$ ]] || (( watchdog_us < 300000000 )); then
  echo "WatchdogSec=$watchdog is off or shorter than 5 minutes: a legitimate pass would be killed"
  exit 1
fi
for namespaced in PrivateTmp ProtectSystem ProtectHome ReadOnlyPaths PrivateDevices \
                  ProtectKernelModules TemporaryFileSystem; do
  if grep -q "^$namespaced=" "$unit"; then
    echo "$namespaced= gives the service its own mount namespace: its mounts would be invisible"
    exit 1
  fi
done
echo "1 passed, 0 failed"
