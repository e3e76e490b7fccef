"""Scenario 11, waagent: the Azure guest agent (Debian's WALinuxAgent 2.7) runs the agent's VM
extension handler on node2, against fake_wireserver.py in the same guest. It runs last: its
uninstall step removes the dsvm-agent package from node2, as the handler's uninstall does.
tests/e2e/README.md has the protocol details."""

import json
import os
import re

from e2e import imds_document, mount_payload, smb_pool
from scenarios import AUTOFS_ROOT, CONVERGE_TIMEOUT, SMB_MOUNT, q, wait_link, wait_share

# The extension template's extensionPublisher and extensionType defaults
# (packaging/azure/dsvm-pool-extension.json).
HANDLER = "DsvmAgent.DsvmPool"
WIRE_ADDRESS = "168.63.129.16"
WIRE_DIR = "/run/dsvm-e2e/wire"
FAKE = "/mnt/payload/fake_wireserver.py"
# The guest agent checks for a new goal state every 6 s; an install under emulation (apt-get,
# the .deb, the first pass) takes a minute or two.
UPLOAD_TIMEOUT = 420


PREPARE = r"""
set -eu
systemctl stop walinuxagent.service 2>/dev/null || true
systemctl stop dsvm-fake-wireserver.service 2>/dev/null || true
# node2 as a new instance of an extension-deployed pool: no agent, no config, no keys.
case "$(dpkg-query -W -f '${db:Status-Status}' dsvm-agent 2>/dev/null)" in
  ''|not-installed|config-files) ;;
  *) DEBIAN_FRONTEND=noninteractive apt-get remove -y -q dsvm-agent >/dev/null ;;
esac
rm -f /etc/dsvm-agent/pool.json /etc/dsvm-agent/credentials/* /var/lib/dsvm-agent/extension.json
rm -rf /var/lib/waagent %(wire_dir)s /var/log/waagent.log
# 168.63.129.16 on a dummy interface, and a route to it in the main table, which is where the
# guest agent looks (/proc/net/route) before it would try DHCP. Local: nothing leaves the guest.
ip link show wire0 >/dev/null 2>&1 || ip link add wire0 type dummy
ip link set wire0 up
ip addr replace %(address)s/32 dev wire0
ip route replace %(address)s/32 dev wire0
install -m 0644 /mnt/payload/waagent.conf /etc/waagent.conf
install -D -m 0644 /mnt/payload/walinuxagent-e2e.conf \
  /etc/systemd/system/walinuxagent.service.d/e2e.conf
systemctl daemon-reload
install -d -m 0700 %(wire_dir)s
systemd-run --quiet --unit=dsvm-fake-wireserver --collect \
  python3 %(fake)s serve --dir %(wire_dir)s --zip %(zip)s --name %(name)s --version %(version)s
for i in $(seq 60); do
  if python3 -c 'import urllib.request; urllib.request.urlopen("http://%(address)s/?comp=versions", timeout=5)' 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "the fake wire server does not answer" >&2
journalctl --no-pager -n 20 -u dsvm-fake-wireserver.service >&2
exit 1
"""


def handler_status(document):
    """The handler's entry in an uploaded status, or None."""
    handlers = (document.get("aggregateStatus") or {}).get("handlerAggregateStatus") or []
    return next((h for h in handlers if h.get("handlerName") == HANDLER), None)


def settings_status(document):
    """(sequence number, the extension's status object) of the handler's entry, or (None, {})."""
    handler = handler_status(document) or {}
    runtime = handler.get("runtimeSettingsStatus") or {}
    return runtime.get("sequenceNumber"), (runtime.get("settingsStatus") or {}).get("status") or {}


def uploaded(guest):
    result = guest.run("cat %s/status.json" % WIRE_DIR)
    try:
        return json.loads(result.out)
    except ValueError:
        return {}


def wait_upload(guest, predicate, timeout=UPLOAD_TIMEOUT):
    """Waits until the latest status the guest agent uploaded satisfies predicate."""
    result, waited = guest.wait_until(
        "python3 -c %s" % q("import json, sys\n"
                            "d = json.load(open(%r))\n" % (WIRE_DIR + "/status.json") +
                            "sys.exit(0 if (%s) else 1)" % predicate), timeout, interval=3)
    return uploaded(guest), result.ok, waited


def settled(seq):
    """A wait_upload predicate: the handler's status is for settings `seq`, and final."""
    return ("any(h.get('handlerName') == %r and (h.get('runtimeSettingsStatus') or {})"
            ".get('sequenceNumber') == %d and h['runtimeSettingsStatus']['settingsStatus']"
            "['status']['status'] != 'transitioning' "
            "for h in d['aggregateStatus']['handlerAggregateStatus'])" % (HANDLER, seq))


def brief(document):
    handler = handler_status(document)
    return json.dumps(handler)[:1500] if handler else json.dumps(document)[:600]


def publish(guest, state, seq, public, protected):
    """The next goal state: the extension in `state` with sequence number `seq`. The protected
    settings reach the fake on stdin only, and it keeps only their ciphertext."""
    settings = {"publicSettings": public, "protectedSettings": protected}
    out = guest.must("python3 %s publish --dir %s --state %s --seq %d"
                     % (FAKE, WIRE_DIR, state, seq), stdin=json.dumps(settings))
    return json.loads(out.strip().splitlines()[-1])


def requests_log(guest):
    return guest.run("cat %s/requests.log" % WIRE_DIR).out


# What enable writes: pool.json and the key files with mode, owner and digest. The digests stay
# in the guest (a root-only file in /run); the report only says whether they changed.
FILE_FACTS = ("cd /etc/dsvm-agent && for f in pool.json credentials/*; do [ -e \"$f\" ] && "
              "echo \"$f $(stat -c '%a %U' \"$f\") $(sha256sum < \"$f\")\"; done")
FACTS_FILE = "/run/e2e-waagent-facts"


def save_file_facts(guest):
    return guest.run("umask 077; { %s; } > %s && test -s %s" % (FILE_FACTS, FACTS_FILE, FACTS_FILE))


def file_facts_unchanged(guest):
    return guest.run("{ %s; } | cmp - %s && cut -d' ' -f1-3 %s"
                     % (FILE_FACTS, FACTS_FILE, FACTS_FILE))


SECRET_SCAN = ("journalctl --no-pager -o verbose > /run/e2e-secrets/journal.txt; "
               "grep -r -l -a -F -f /run/e2e-secrets/keys /var/lib/waagent /var/log/waagent.log "
               "/var/log/azure %s /run/e2e-secrets/journal.txt; test $? -eq 1" % WIRE_DIR)


def no_key_in_clear(report, guest, keys, when):
    guest.must("install -d -m 0700 /run/e2e-secrets && umask 077 && "
               "cat > /run/e2e-secrets/keys", stdin="".join(k + "\n" for k in keys))
    try:
        scan = guest.run(SECRET_SCAN, timeout=180)
    finally:
        guest.run("rm -rf /run/e2e-secrets")
    report.check("node2: %s, no key in clear in /var/lib/waagent (settings, status, "
                 "certificates), waagent.log, the handler's log, the journal, or what the fake "
                 "wire server received and keeps" % when, scan.ok, scan.summary())


def extension_pool():
    pool = smb_pool()
    pool["users"].append({"name": "ivan"})
    return pool


def waagent(run, report):
    node2 = run.guests["node2"]  # node1 serves the share
    state = run.state()
    storage_key, registry_key = state["keys"][-1], state["registry_keys"][-1]
    zips = sorted(f for f in os.listdir(run.payload)
                  if f.startswith("dsvm-agent-handler-") and f.endswith(".zip"))
    report.check("the handler zip is in the payload (setup builds it)", bool(zips),
                 "payload: %s" % ", ".join(sorted(os.listdir(run.payload))))
    version = zips[-1][len("dsvm-agent-handler-"):-len(".zip")]
    handler_dir = "/var/lib/waagent/%s-%s" % (HANDLER, version)
    protected = {"storageAccountKey": storage_key, "registryKey": registry_key}
    pool = extension_pool()

    # node2's metadata no longer holds a pool: its only config will be the extension's.
    document = json.loads(imds_document("node2", None))
    document["compute"]["userData"] = ""
    node2.must("cat > /etc/dsvm-e2e/imds.json.new && mv /etc/dsvm-e2e/imds.json.new "
               "/etc/dsvm-e2e/imds.json", stdin=json.dumps(document))
    try:
        mount_payload(node2)  # gone if node2 rebooted since setup (reboot, storage-down)
        prepared = node2.run(PREPARE % {"wire_dir": WIRE_DIR, "address": WIRE_ADDRESS,
                                        "fake": FAKE, "zip": q("/mnt/payload/" + zips[-1]),
                                        "name": HANDLER, "version": version}, timeout=300)
        report.check("node2: no dsvm-agent, no config or keys; the fake wire server answers on "
                     "%s (a dummy interface)" % WIRE_ADDRESS, prepared.ok, prepared.summary())
        fresh = node2.run("! id -u ivan && ! id -u judy")
        report.check("node2: ivan and judy, whom only the extension's settings name, do not exist "
                     "yet (the scenario runs once per pair of guests)", fresh.ok, fresh.summary())
        given = publish(node2, "enabled", 0, pool, protected)
        thumbprint = given["thumbprint"]
        started = node2.run("systemctl start walinuxagent.service && "
                            "systemctl is-active walinuxagent.service")
        report.check("node2: walinuxagent.service (waagent -daemon) runs", started.ok,
                     started.summary())

        # ---- install and enable, sequence number 0 ------------------------------------------
        latest, ok, waited = wait_upload(node2, settled(0))
        report.measure("first_status_seconds", round(waited, 1))
        log = requests_log(node2)
        report.check("node2: the guest agent found the wire server on %s and took the goal state"
                     % WIRE_ADDRESS,
                     "80 GET /?comp=versions -> 200 WALinuxAgent/" in log
                     and "80 GET /machine/?comp=goalstate -> 200 WALinuxAgent/" in log,
                     log[-800:])
        report.check("node2: the guest agent reported the VM ready (no provisioning of its own)",
                     "<State>Ready</State>" in node2.run("cat %s/health.log" % WIRE_DIR).out,
                     node2.run("tail -c 600 %s/health.log" % WIRE_DIR).out)
        # The agent writes them with its umask and makes them 0400 only when its extension
        # process starts; what keeps the key root's is /var/lib/waagent itself (0700).
        certificate = node2.run("stat -c '%%a %%U %%n' /var/lib/waagent /var/lib/waagent/%s.crt "
                                "/var/lib/waagent/%s.prv" % (thumbprint, thumbprint))
        lines = certificate.out.splitlines()
        report.check("node2: the guest agent holds the extension's certificate and key "
                     "(%s.crt/.prv, root's, in the 0700 /var/lib/waagent), from the Certificates "
                     "it asked for" % thumbprint,
                     certificate.ok and len(lines) == 3 and lines[0].startswith("700 root ")
                     and all(re.match(r"[0-7]+ root ", line) for line in lines),
                     certificate.summary())
        report.check("node2: it downloaded the handler's manifest and zip",
                     "80 GET /dsvm/manifest.xml -> 200" in log
                     and ("80 GET /dsvm/%s -> 200" % zips[-1]) in log, log[-800:])
        report.check("node2: it uploaded the status through the HostGAPlugin (PUT :32526/status)",
                     "32526 PUT /status -> 201" in log, log[-800:])
        report.check("node2: the uploaded status has the handler, sequence number 0",
                     ok, brief(latest))
        seq, status = settings_status(latest)
        handler = handler_status(latest)
        report.check("node2: the uploaded status says Enable succeeded (handler Ready, code 0)",
                     status.get("status") == "success" and status.get("operation") == "Enable"
                     and status.get("code") == 0 and handler.get("status") == "Ready"
                     and handler.get("handlerVersion") == version, brief(latest))
        message = (status.get("formattedMessage") or {}).get("message", "")
        report.check("node2: its message says what enable did",
                     "pool config written to /etc/dsvm-agent/pool.json" in message
                     and "storage key for 'dsvmstore'" in message, message)
        files = node2.run("ls %s && cat %s/HandlerEnvironment.json && ls %s/config %s/status"
                          % (q(handler_dir), q(handler_dir), q(handler_dir), q(handler_dir)))
        report.check("node2: the handler directory %s has HandlerEnvironment.json, "
                     "config/0.settings and status/0.status" % handler_dir,
                     files.ok and "0.settings" in files.out and "0.status" in files.out,
                     files.summary())
        installed = node2.run("dpkg-query -W -f '${Status} ${Version}' dsvm-agent")
        report.check("node2: the handler's install.sh installed the dsvm-agent package",
                     installed.ok and "install ok installed" in installed.out, installed.summary())

        # The pool is applied by the service enable started.
        active = node2.run("systemctl is-enabled dsvm-agent.service && "
                           "systemctl is-active dsvm-agent.service")
        report.check("node2: dsvm-agent.service is enabled and active", active.ok,
                     active.summary())
        written = node2.run("cat /etc/dsvm-agent/pool.json")
        try:
            same = json.loads(written.out) == pool
        except ValueError:
            same = False
        report.check("node2: pool.json holds the public settings", same, written.summary())
        keys = node2.run("stat -c '%a %U %n' /etc/dsvm-agent/credentials/dsvmstore.cred "
                         "/etc/dsvm-agent/credentials/registry.key")
        report.check("node2: the storage key and the registry key are stored root-only",
                     keys.ok and keys.out.count("600 root") == 2, keys.summary())
        wait_share(report, node2, SMB_MOUNT, "cifs")
        result, waited = node2.wait_until("id -u alice && id -u bob && id -u ivan",
                                          CONVERGE_TIMEOUT)
        report.check("node2: the pool's users exist, ivan (the extension's settings only) too",
                     result.ok, result.summary())
        wait_link(report, node2, "ivan", "%s/ivan" % AUTOFS_ROOT)
        registry_uid = node2.run(
            "python3 -c %s" % q("import json; r = json.load(open(%r))['registry']; "
                                "print(next(u['uid'] for u in r['users'] if u['name'] == 'ivan'))"
                                % (SMB_MOUNT + "/.dsvm-agent/registry.json")))
        report.check("node2: ivan has the UID the pool registry on the share gives him",
                     registry_uid.ok and node2.run("id -u ivan").out.strip() ==
                     registry_uid.out.strip(), registry_uid.summary())
        saved = save_file_facts(node2)
        report.check("node2: pool.json and the key files recorded (digests kept in the guest)",
                     saved.ok, saved.summary())

        # ---- a handler that exits non-zero: sequence number 1 breaks a rule ------------------
        publish(node2, "enabled", 1, pool, {"storageAccountKey": storage_key,
                                            "registryKey": "too-short"})
        latest, ok, waited = wait_upload(node2, settled(1))
        seq, status = settings_status(latest)
        message = (status.get("formattedMessage") or {}).get("message", "")
        report.check("node2: settings 1 (a registry key too short): the uploaded status is an "
                     "error with exit status 2 that names the rule",
                     ok and status.get("status") == "error" and status.get("code") == 2
                     and "registryKey" in message and "too-short" not in message, brief(latest))
        report.check("node2: the guest agent reports the handler NotReady after the failed enable",
                     (handler_status(latest) or {}).get("status") == "NotReady", brief(latest))
        unchanged = file_facts_unchanged(node2)
        report.check("node2: nothing changed (pool.json and the key files: content, mode, owner)",
                     unchanged.ok, unchanged.summary())

        # ---- a new sequence number with good settings ----------------------------------------
        pool["users"].append({"name": "judy"})
        publish(node2, "enabled", 2, pool, protected)
        latest, ok, waited = wait_upload(node2, settled(2))
        report.measure("sequence_2_status_seconds", round(waited, 1))
        seq, status = settings_status(latest)
        report.check("node2: settings 2 applied: the uploaded status says success, handler Ready",
                     ok and status.get("status") == "success"
                     and (handler_status(latest) or {}).get("status") == "Ready", brief(latest))
        result, waited = node2.wait_until("id -u judy", CONVERGE_TIMEOUT)
        report.check("node2: judy (added in settings 2) exists", result.ok,
                     "after %.0f s, %s" % (waited, result.summary()))

        no_key_in_clear(report, node2, [storage_key, registry_key], "after settings 2")

        # ---- disable --------------------------------------------------------------------------
        publish(node2, "disabled", 2, pool, protected)
        latest, ok, waited = wait_upload(
            node2, "any(h.get('handlerName') == %r and h.get('status') == 'NotReady' and "
                   "h['runtimeSettingsStatus']['settingsStatus']['status']['operation'] == "
                   "'Disable' for h in d['aggregateStatus']['handlerAggregateStatus'])" % HANDLER)
        seq, status = settings_status(latest)
        report.check("node2: disabled: the uploaded status says Disable succeeded, handler "
                     "NotReady", ok and status.get("status") == "success", brief(latest))
        stopped = node2.run("systemctl is-enabled dsvm-agent.service; "
                            "systemctl is-active dsvm-agent.service")
        report.check("node2: dsvm-agent.service is stopped and disabled",
                     stopped.out.split() == ["disabled", "inactive"], stopped.summary())
        kept = node2.run("test -f /etc/dsvm-agent/pool.json && "
                         "test -f /etc/dsvm-agent/credentials/dsvmstore.cred && "
                         "test -f /etc/dsvm-agent/credentials/registry.key")
        report.check("node2: pool.json and the keys stay for the next enable", kept.ok,
                     kept.summary())

        # ---- uninstall ------------------------------------------------------------------------
        publish(node2, "uninstall", 2, pool, protected)
        latest, ok, waited = wait_upload(
            node2, "not any(h.get('handlerName') == %r "
                   "for h in d['aggregateStatus']['handlerAggregateStatus'])" % HANDLER)
        report.check("node2: uninstalled: the handler is gone from the uploaded status", ok,
                     brief(latest))
        gone = node2.run("test ! -e %s && ! dpkg-query -W -f '${Status}' dsvm-agent 2>/dev/null "
                         "| grep -q ' installed$' && test ! -e /etc/dsvm-agent/pool.json && "
                         "test ! -e /etc/dsvm-agent/credentials/dsvmstore.cred && "
                         "test ! -e /etc/dsvm-agent/credentials/registry.key" % q(handler_dir))
        report.check("node2: the handler directory, the package, pool.json and both keys are "
                     "gone", gone.ok, gone.summary() + " | " +
                     node2.run("ls -la /etc/dsvm-agent /etc/dsvm-agent/credentials").summary())
        stays = node2.run("id -u ivan && id -u judy && test -d /home/ivan && "
                          "findmnt -n -o FSTYPE --mountpoint %s" % SMB_MOUNT)
        report.check("node2: the pool's users, their homes and the share stay "
                     "(docs/extension.md)", stays.ok and "cifs" in stays.out, stays.summary())
        no_key_in_clear(report, node2, [storage_key, registry_key], "after the uninstall")
        report.measure("status_uploads", node2.run("ls %s/status | wc -l" % WIRE_DIR).out.strip())
    finally:
        node2.run("systemctl stop walinuxagent.service dsvm-fake-wireserver.service; rm -f %s"
                  % FACTS_FILE, timeout=60)
