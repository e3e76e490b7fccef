#!/usr/bin/env bash
# The metadata guard's unit passes `systemd-analyze verify` without a warning, loads the file
# the agent writes, and is ordered before anything a pool user could run at boot.
set -euo pipefail
unit=${1:?unit file}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$unit" "$work/dsvm-agent-metadata-guard.service"
if ! output=$(systemd-analyze verify "$work/dsvm-agent-metadata-guard.service" 2>&1); then
  echo "systemd-analyze verify failed:"; echo "$output"; exit 1
fi
if [[ -n $output ]]; then
  echo "systemd-analyze verify warned:"; echo "$output"; exit 1
fi
for setting in 'ExecStart=/usr/sbin/nft -f /var/lib/dsvm-agent/metadata-guard.nft' \
               'ConditionPathExists=/var/lib/dsvm-agent/metadata-guard.nft' \
               'DefaultDependencies=no' 'WantedBy=sysinit.target'; do
  grep -qx -- "$setting" "$unit" || { echo "missing: $setting"; exit 1; }
done
before=$(sed -n 's/^Before=//p' "$unit")
for target in network-pre.target cron.service systemd-user-sessions.service; do
  [[ " $before " == *" $target "* ]] || { echo "not ordered Before=$target"; exit 1; }
done
echo "1 passed, 0 failed"
