#!/bin/sh
# Runs inside a guest (as root, from the read-only payload share) to install what the test
# needs: the fake metadata service and its document, the agent (from the .deb when there is
# one) with the unit drop-in that points it at the fake service. Does not start the agent.
#   install.sh NODE
set -eu
node=$1
payload=$(dirname "$0")

install -D -m 0755 "$payload/dsvm-fake-imds" /usr/local/bin/dsvm-fake-imds
install -D -m 0644 "$payload/dsvm-fake-imds.service" /etc/systemd/system/dsvm-fake-imds.service
install -D -m 0644 "$payload/dsvm-agent-e2e.conf" /etc/systemd/system/dsvm-agent.service.d/e2e.conf
install -d -m 0755 /etc/dsvm-e2e
install -m 0644 "$payload/imds-$node.json" /etc/dsvm-e2e/imds.json
systemctl daemon-reload
systemctl enable --now dsvm-fake-imds.service

deb=$(ls "$payload"/*.deb 2>/dev/null | head -n1 || true)
if [ -n "$deb" ]; then
  # The package may start the agent itself; the drop-in above is already in place.
  DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"
  echo "installed: $(basename "$deb")"
else
  install -D -m 0755 "$payload/dsvm-agent" /usr/sbin/dsvm-agent
  install -D -m 0644 "$payload/dsvm-agent.service" /etc/systemd/system/dsvm-agent.service
  systemctl daemon-reload
  echo "installed: binary and unit (no .deb)"
fi

# The agent's CLI as the tests run it: pointed at the fake metadata service, like the unit.
cat > /usr/local/sbin/e2e-agent <<'WRAPPER'
#!/bin/sh
. /run/dsvm-e2e/imds.env
exec /usr/sbin/dsvm-agent --imds "$IMDS_URL" "$@"
WRAPPER
chmod 0755 /usr/local/sbin/e2e-agent
