"""Scenario 12, key-vault: node2 reads the storage key from a fake Key Vault (fake_keyvault.py,
TLS on 127.0.0.1 in node2, its certificate from a CA made here) with a token from the fake
metadata service's identity endpoint, mounts the SMB share with it, follows a rotation of the
secret, reports a missing secret while the share stays mounted, and lets only root reach
169.254.169.254 meanwhile (the metadata guard, for real, with nftables in the guest)."""

import hashlib
import json
import os
import subprocess
import tempfile
import time

from e2e import INTERVAL, imds_document, new_storage_key, set_storage_password, smb_pool
from e2e import mount_payload
from scenarios import (PASS_SLACK, SMB_MOUNT, as_user, q, reboot_node2, root_smb_connections,
                       status_json, wait_share)

VAULT = "pool-e2e-kv"
SECRET = "storage-key"
VAULT_DIR = "/etc/dsvm-e2e/vault"
TOKEN = "e2e-vault-token-" + os.urandom(12).hex()
DROP_IN = "/etc/systemd/system/dsvm-agent.service.d/zz-key-vault.conf"
CREDENTIALS = "/etc/dsvm-agent/credentials/dsvmstore.cred"
METADATA = "169.254.169.254"

# The agent, pointed at the fake vault and its CA (test-only options), as the e2e drop-in runs it.
AGENT_DROP_IN = """[Service]
ExecStart=
ExecStart=/usr/sbin/dsvm-agent --imds ${IMDS_URL} --imds-timeout 20 \
 --test-key-vault-url https://127.0.0.1:8443 --test-key-vault-ca /etc/dsvm-e2e/vault-ca.pem run
"""

START_VAULT = r"""
set -eu
install -d -m 0700 %(dir)s
systemctl stop e2e-fake-keyvault.service 2>/dev/null || true
systemd-run --quiet --unit=e2e-fake-keyvault --collect python3 /mnt/payload/fake_keyvault.py \
  --dir %(dir)s --token /etc/dsvm-e2e/vault-token --cert /etc/dsvm-e2e/vault-cert.pem \
  --key /etc/dsvm-e2e/vault-key.pem
for i in $(seq 30); do
  python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8443), 2)' 2>/dev/null && exit 0
  sleep 1
done
echo "the fake vault does not listen" >&2; exit 1
"""

# 169.254.169.254 on a dummy interface with a listener, to see who can reach it.
METADATA_ADDRESS = r"""
set -eu
ip link show md0 >/dev/null 2>&1 || ip link add md0 type dummy
ip link set md0 up
ip addr replace %(address)s/32 dev md0
systemctl stop e2e-metadata-listener.service 2>/dev/null || true
systemd-run --quiet --unit=e2e-metadata-listener --collect python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%(address)s", 80)); s.listen(64)
while True:
    c, _ = s.accept(); c.close()'
sleep 1
""" % {"address": METADATA}

CONNECT = ("python3 -c 'import socket; socket.create_connection((\"%s\", 80), 3)'" % METADATA)


def make_certificates(directory):
    """A CA and a certificate for 127.0.0.1 it signs, with openssl on the host."""
    def openssl(*args):
        subprocess.run(("openssl",) + args, cwd=directory, check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=dsvm-e2e vault CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "leaf.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\n")
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
    read = lambda name: open(os.path.join(directory, name)).read()  # noqa: E731
    return read("ca.pem"), read("leaf.pem"), read("leaf.key")


def vault_pool():
    pool = smb_pool()
    pool["keyVault"] = {"vault": VAULT, "secrets": {"storageAccountKey": SECRET}}
    return pool


def credentials_digest(key):
    return hashlib.sha256(("username=dsvmstore\npassword=%s\n" % key).encode()).hexdigest()


def new_key_everywhere_but_node2(run, key):
    """The share's password and node1's credentials: node2 must get the key from the vault."""
    node1 = run.guests["node1"]
    run.update_state(keys=run.state().get("keys", []) + [key])
    set_storage_password(node1, key)
    node1.must("dsvm-agent credentials set dsvmstore --key-stdin", stdin=key + "\n")


def wait_credentials(report, node2, key, what, timeout):
    digest = credentials_digest(key)
    result, waited = node2.wait_until(
        "test \"$(sha256sum < %s | cut -d' ' -f1)\" = %s" % (CREDENTIALS, digest), timeout)
    report.check("node2: %s (%s)" % (what, "after %.0f s" % waited if result.ok else "not seen"),
                 result.ok, json.dumps(status_json(node2).get("sources")))


def wait_remount(report, node2, before, what, timeout):
    started = time.time()
    now = before
    while time.time() - started < timeout:
        now = root_smb_connections(node2)
        if now and not set(now) & set(before):
            break
        time.sleep(2)
    report.check("node2: %s (SMB connection %s -> %s)" % (what, ",".join(before), ",".join(now)),
                 bool(now) and not set(now) & set(before), "")
    probe = "%s/.e2e-key-vault" % SMB_MOUNT
    io = node2.run("echo vault > %s && cat %s && rm %s" % (probe, probe, probe))
    report.check("node2: I/O works on the share mounted with the vault's key",
                 io.ok and io.out.strip() == "vault", io.summary())


def key_vault(run, report):
    node2 = run.guests["node2"]
    wait_share(report, node2, SMB_MOUNT, "cifs")
    with tempfile.TemporaryDirectory() as directory:
        ca, certificate, private_key = make_certificates(directory)
    node2.must("install -d -m 0755 /etc/dsvm-e2e && cat > /etc/dsvm-e2e/vault-ca.pem", stdin=ca)
    node2.must("cat > /etc/dsvm-e2e/vault-cert.pem", stdin=certificate)
    node2.must("umask 077 && cat > /etc/dsvm-e2e/vault-key.pem", stdin=private_key)
    node2.must("umask 077 && cat > /etc/dsvm-e2e/vault-token", stdin=TOKEN + "\n")
    node2.must("umask 077 && cat > /etc/dsvm-e2e/identity-token.json",
               stdin=json.dumps({"access_token": TOKEN, "expires_in": "86399",
                                 "expires_on": str(int(time.time()) + 86399),
                                 "resource": "https://vault.azure.net", "token_type": "Bearer"}))
    node2.must(START_VAULT % {"dir": VAULT_DIR})
    node2.must(METADATA_ADDRESS)
    try:
        before_guard = node2.run(as_user("alice", CONNECT))
        report.check("node2: before keyVault, alice can reach %s" % METADATA, before_guard.ok,
                     before_guard.summary())

        # A key only the vault gives node2: the share's password changes, node2 forgets its key.
        key = new_storage_key()
        new_key_everywhere_but_node2(run, key)
        node2.must("umask 077 && cat > %s/%s" % (VAULT_DIR, SECRET), stdin=key)
        before = root_smb_connections(node2)
        node2.must("install -D -m 0644 /dev/stdin %s && rm -f %s && systemctl daemon-reload"
                   % (DROP_IN, CREDENTIALS), stdin=AGENT_DROP_IN)
        node2.must("cat > /etc/dsvm-e2e/imds.json.new && mv /etc/dsvm-e2e/imds.json.new "
                   "/etc/dsvm-e2e/imds.json && systemctl restart dsvm-agent.service",
                   stdin=imds_document("node2", vault_pool()), timeout=300)
        bound = 2 * INTERVAL + PASS_SLACK + 30
        wait_credentials(report, node2, key, "the vault's key is in the credentials file", bound)
        wait_remount(report, node2, before, "the share is mounted with the vault's key", bound)
        status = status_json(node2)
        sources = [s for s in status.get("sources") or [] if s.get("name") == "Key Vault " + VAULT]
        report.check("node2: status reports the vault as used",
                     len(sources) == 1 and sources[0].get("state") == "used", json.dumps(sources))

        guard = node2.run("nft list table ip dsvm_agent_metadata")
        report.check("node2: the metadata guard table is loaded",
                     guard.ok and "meta skuid != 0" in guard.out and "drop" in guard.out,
                     guard.summary())
        blocked = node2.run(as_user("alice", CONNECT))
        report.check("node2: alice can no longer reach %s (no identity token for her)" % METADATA,
                     not blocked.ok, blocked.summary())
        as_root = node2.run(CONNECT)
        report.check("node2: root still reaches %s" % METADATA, as_root.ok, as_root.summary())

        # Rotation: the secret changes in the vault; a reload (an admin's "reconcile now") reads it.
        rotated = new_storage_key()
        new_key_everywhere_but_node2(run, rotated)
        node2.must("umask 077 && cat > %s/%s.new && mv %s/%s.new %s/%s"
                   % (VAULT_DIR, SECRET, VAULT_DIR, SECRET, VAULT_DIR, SECRET), stdin=rotated)
        before = root_smb_connections(node2)
        node2.must("systemctl reload dsvm-agent.service")
        wait_credentials(report, node2, rotated, "the rotated secret is in the credentials file",
                         bound)
        wait_remount(report, node2, before, "the share is mounted again with the rotated key",
                     bound)

        # A secret gone from the vault: one clear line in status, the share stays mounted.
        node2.must("rm -f %s/%s && systemctl reload dsvm-agent.service" % (VAULT_DIR, SECRET))
        expected = "keyVault: vault %s has no secret %s (HTTP 404 SecretNotFound)" % (VAULT, SECRET)
        started = time.time()
        problems = []
        while time.time() - started < bound:
            problems = [p for p in status_json(node2).get("problems") or []
                        if isinstance(p, str) and p.startswith("keyVault: ")]
            if problems:
                break
            time.sleep(2)
        report.check("node2: a missing secret is one problem line in status",
                     len(problems) == 1 and problems[0].startswith(expected), json.dumps(problems))
        mounted = node2.run("findmnt -n -o FSTYPE --mountpoint %s" % q(SMB_MOUNT))
        report.check("node2: the share stays mounted with the last good key",
                     mounted.ok and mounted.out.strip() == "cifs", mounted.summary())

        # A reboot: the boot unit loads the guard before user sessions and the agent's first pass.
        reboot_node2(run, report)
        mount_payload(node2)
        order = node2.run("for u in dsvm-agent-metadata-guard systemd-user-sessions dsvm-agent; do "
                          "systemctl show -p ActiveEnterTimestampMonotonic --value $u.service; "
                          "done")
        stamps = [int(x) if x.isdigit() else 0 for x in order.out.split()]
        report.check("node2: after a reboot the guard was loaded before user sessions and the "
                     "agent (monotonic us: %s)" % order.out.split(),
                     len(stamps) == 3 and 0 < stamps[0] < stamps[1] and stamps[0] < stamps[2],
                     order.summary())
        node2.must(METADATA_ADDRESS)
        after_boot = node2.run(as_user("alice", CONNECT))
        report.check("node2: after the reboot alice still cannot reach %s" % METADATA,
                     not after_boot.ok, after_boot.summary())

        # The token goes in through stdin: qemu-ga logs every command line it runs.
        node2.must("umask 077 && cat > /run/e2e-token", stdin=TOKEN + "\n")
        found = node2.run("{ journalctl --no-pager -o cat | grep -c -F -f /run/e2e-token; "
                          "grep -r -l -F -f /run/e2e-token /etc/dsvm-agent /var/lib/dsvm-agent "
                          "/var/log; } 2>&1; rm -f /run/e2e-token")
        report.check("node2: the token is nowhere in the journal, /etc/dsvm-agent, "
                     "/var/lib/dsvm-agent or /var/log", found.out.strip() == "0", found.summary())
    finally:
        # node2 back to a pool without keyVault, its key set by hand: the guard goes too.
        node2.run("rm -rf %s %s /etc/dsvm-e2e/identity-token.json /etc/dsvm-e2e/vault-*; "
                  "systemctl stop e2e-fake-keyvault.service e2e-metadata-listener.service; "
                  "ip link del md0; systemctl daemon-reload" % (VAULT_DIR, DROP_IN))
        keys = run.state().get("keys") or []
        if keys:
            node2.run("dsvm-agent credentials set dsvmstore --key-stdin", stdin=keys[-1] + "\n")
        node2.run("cat > /etc/dsvm-e2e/imds.json.new && mv /etc/dsvm-e2e/imds.json.new "
                  "/etc/dsvm-e2e/imds.json && systemctl restart dsvm-agent.service",
                  stdin=imds_document("node2", smb_pool()), timeout=300)
    gone, _ = node2.wait_until("! nft list table ip dsvm_agent_metadata >/dev/null 2>&1",
                               2 * INTERVAL + PASS_SLACK)
    report.check("node2: without keyVault the metadata guard is gone", gone.ok, gone.summary())
    wait_share(report, node2, SMB_MOUNT, "cifs")
