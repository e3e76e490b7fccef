"""The e2e scenarios. Each takes the Run and a Report, drives both guests, and records checks;
the first failed check ends it. They share one pair of guests and run in the order set in
CMakeLists.txt: smb, smb-shared, ssh, jupyterhub, key-rotation, secrets, reboot, storage-down, nfs,
storage-silent, and waagent (scenario_waagent.py), which must stay last."""

import base64
import copy
import hashlib
import hmac
import json
import re
import shlex
import time

from e2e import INTERVAL, NFS_SOURCE, imds_document, new_registry_key, new_storage_key
from e2e import nfs_pool, set_storage_password, smb_pool
from guests import NODES, GuestError

SMB_MOUNT = "/datamnt/dsvmshare"
NFS_MOUNT = "/datamnt/nfspool"
AUTOFS_ROOT = "/run/dsvm-agent/notebooks"
# One pass under emulation takes a few seconds; "within one interval" allows the interval with
# its 10 % jitter plus this much for the pass itself.
PASS_SLACK = 20
CONVERGE_TIMEOUT = 3 * INTERVAL + 60


def q(text):
    return shlex.quote(text)


def status_json(guest):
    result = guest.run("dsvm-agent status --json", timeout=60)
    try:
        return json.loads(result.out)
    except ValueError:
        return {"unparsable": result.summary()}


def uid_of(guest, user):
    result = guest.run("id -u %s" % q(user))
    return result.out.strip() if result.ok else None


def as_user(user, command):
    return "runuser -u %s -- sh -c %s" % (q(user), q(command))


def mount_id(guest, target):
    out = guest.run("awk -v t=%s '$5 == t { print $1 }' /proc/self/mountinfo" % q(target)).out
    ids = out.split()
    return ids[-1] if ids else None


def root_smb_connections(guest):
    """The kernel's IDs of the SMB connections whose session is uid 0 (the whole-share mount).
    Mount IDs are reused by the kernel, these never are: a new ID means a new mount."""
    text = guest.run("cat /proc/fs/cifs/DebugData").out
    blocks = re.split(r"^\d+\) ConnectionId: ", text, flags=re.M)[1:]
    return sorted(b.split()[0] for b in blocks if re.search(r"^\s*User: 0 ", b, flags=re.M))


def wait_share(report, guest, target, fstype, timeout=CONVERGE_TIMEOUT):
    result, waited = guest.wait_until(
        "findmnt -n -o FSTYPE,SOURCE --mountpoint %s | grep -q '^%s'" % (q(target), fstype),
        timeout)
    detail = result.summary() if not result.ok else "after %.0f s" % waited
    if not result.ok:
        detail += "; status: %s" % json.dumps(status_json(guest).get("share"))
    report.check("%s: %s mounted as %s" % (guest.name, target, fstype), result.ok, detail)


def wait_users(report, run, users, timeout=CONVERGE_TIMEOUT):
    uids = {}
    for name, guest in run.guests.items():
        command = " && ".join("id -u %s" % q(u) for u in users)
        result, waited = guest.wait_until(command, timeout)
        report.check("%s: users %s exist" % (name, ", ".join(users)), result.ok,
                     result.summary() if not result.ok else "after %.0f s" % waited)
        uids[name] = {u: uid_of(guest, u) for u in users}
    first, second = uids["node1"], uids["node2"]
    report.check("users have identical UIDs on both nodes", first == second,
                 "node1 %s, node2 %s" % (first, second))
    gids = {n: {u: g.run("id -g %s" % q(u)).out.strip() for u in users}
            for n, g in run.guests.items()}
    report.check("users have identical GIDs on both nodes", gids["node1"] == gids["node2"],
                 json.dumps(gids))
    return first


def wait_link(report, guest, user, expected, timeout=CONVERGE_TIMEOUT):
    link = "/home/%s/notebooks/remote" % user
    result, waited = guest.wait_until("test \"$(readlink %s)\" = %s" % (q(link), q(expected)),
                                      timeout)
    actual = guest.run("readlink %s || ls -ld %s" % (q(link), q(link))).out.strip()
    report.check("%s: ~%s/notebooks/remote -> %s" % (guest.name, user, expected), result.ok,
                 "is %r after %.0f s" % (actual, waited))


def write_as(report, guest, user, name, text):
    path = "/home/%s/notebooks/remote/%s" % (user, name)
    result = guest.run(as_user(user, "printf %%s %s > %s && cat %s" % (q(text), q(path), q(path))),
                       timeout=90)
    report.check("%s: %s writes %s through ~/notebooks/remote" % (guest.name, user, name),
                 result.ok and result.out == text, result.summary())


def read_as(report, guest, user, path, text, timeout=45):
    # Another client's new file can take an attribute-cache period to appear over SMB.
    result, waited = guest.wait_until(as_user(user, "cat %s" % q(path)), timeout, interval=3)
    report.check("%s: %s reads %s" % (guest.name, user, path),
                 result.ok and result.out == text, result.summary())


def denied(report, guest, user, command, what):
    result = guest.run(as_user(user, command), timeout=90)
    report.check("%s: %s cannot %s" % (guest.name, user, what), not result.ok,
                 result.summary())


def adduser_reaches_node2(report, run, user):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    result = node1.run("e2e-agent adduser %s" % q(user), timeout=180)
    report.check("node1: dsvm-agent adduser %s" % user, result.ok, result.summary())
    report.measure("adduser_seconds", round(result.seconds, 1))
    # The registry changed while adduser ran; node2 has until one interval after that.
    reached, waited = node2.wait_until("id -u %s" % q(user), 3 * INTERVAL + PASS_SLACK, interval=1)
    total = result.seconds + waited
    report.measure("%s_reached_node2_seconds" % user, round(total, 1))
    bound = result.seconds + INTERVAL * 1.1 + PASS_SLACK
    report.check("node2: %s exists within one interval of adduser (%.0f s)" % (user, bound),
                 reached.ok and total <= bound + 1,
                 "after %.0f s, %s" % (total, reached.summary()))
    report.check("%s has the same UID on both nodes" % user,
                 uid_of(node1, user) == uid_of(node2, user),
                 "%s vs %s" % (uid_of(node1, user), uid_of(node2, user)))


def switch_pool(run, pool):
    """Gives both nodes' metadata this pool and asks each agent for a pass now (SIGHUP)."""
    for guest in run.guests.values():
        document = imds_document(guest.name, pool)
        guest.must("cat > /etc/dsvm-e2e/imds.json.new && mv /etc/dsvm-e2e/imds.json.new "
                   "/etc/dsvm-e2e/imds.json && systemctl reload dsvm-agent.service",
                   stdin=document)


def reported(document):
    """What a pass reported as wrong: its problems, its message when it failed, failed actions."""
    lines = [p for p in document.get("problems") or [] if isinstance(p, str)]
    if document.get("result") == "failed" and document.get("message"):
        lines.append(document["message"])
    lines += [a.get("error") or "" for a in document.get("actions") or [] if not a.get("ok", True)]
    return lines


def wait_status(guest, predicate, timeout, interval=2):
    """Reads `status --json` until predicate(document) holds; returns (document, ok, seconds)."""
    started = time.time()
    while True:
        document = status_json(guest)
        if predicate(document):
            return document, True, time.time() - started
        if time.time() - started > timeout:
            return document, False, time.time() - started
        time.sleep(interval)


def brief(document):
    """The part of a status document a failed check shows."""
    return json.dumps({k: document.get(k) for k in
                       ("time", "result", "message", "problems", "warnings", "share")})[:1500]


def wait_mount_options(report, guest, target, wanted, timeout=CONVERGE_TIMEOUT):
    """Waits until the mount on `target` has every option in `wanted`."""
    command = ("o=,$(findmnt -n -o OPTIONS --mountpoint %s)," % q(target) +
               "".join(" && case $o in *,%s,*) ;; *) false ;; esac" % w for w in wanted))
    result, waited = guest.wait_until(command, timeout)
    options = guest.run("findmnt -n -o FSTYPE,OPTIONS --mountpoint %s" % q(target)).out.strip()
    report.check("%s: %s is mounted with %s" % (guest.name, target, ",".join(wanted)), result.ok,
                 "%s after %.0f s" % (options or "not mounted", waited))
    return waited


# ---- 1. SMB pool, per-user notebook mounts --------------------------------------------------

def smb(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    for guest in run.guests.values():
        wait_share(report, guest, SMB_MOUNT, "cifs")
        options = guest.run("findmnt -n -o OPTIONS --mountpoint %s" % SMB_MOUNT).out
        report.check("%s: the share is root's alone (uid=0, dir_mode=0700)" % guest.name,
                     "uid=0" in options and "dir_mode=0700" in options, options.strip())
    uids = wait_users(report, run, ["alice", "bob"])
    for guest in run.guests.values():
        for user in ("alice", "bob"):
            wait_link(report, guest, user, "%s/%s" % (AUTOFS_ROOT, user))
        master = guest.run("cat /etc/auto.master.d/dsvm-agent.autofs && "
                           "stat -c %a /etc/dsvm-agent/notebooks.autofs")
        report.check("%s: autofs map for the notebooks is installed" % guest.name,
                     master.ok and AUTOFS_ROOT in master.out, master.summary())
        active = guest.run("systemctl is-active autofs.service")
        report.check("%s: autofs.service is active" % guest.name, active.ok, active.summary())

    write_as(report, node1, "alice", "from-node1.txt", "alice on node1")
    options = node1.run("findmnt -n -o FSTYPE,OPTIONS --mountpoint %s/alice" % AUTOFS_ROOT).out
    report.check("node1: alice's folder is an SMB mount with her uid",
                 options.startswith("cifs") and ("uid=%s," % uids["alice"]) in options,
                 options.strip())
    read_as(report, node2, "alice", "/home/alice/notebooks/remote/from-node1.txt", "alice on node1")
    write_as(report, node2, "alice", "from-node2.txt", "alice on node2")
    read_as(report, node1, "alice", "/home/alice/notebooks/remote/from-node2.txt", "alice on node2")

    adduser_reaches_node2(report, run, "carol")
    wait_link(report, node2, "carol", "%s/carol" % AUTOFS_ROOT)
    write_as(report, node2, "carol", "carol.txt", "carol's secret notebook")
    wait_link(report, node1, "carol", "%s/carol" % AUTOFS_ROOT)
    carol_file = "%s/carol/carol.txt" % AUTOFS_ROOT
    read_as(report, node1, "carol", carol_file, "carol's secret notebook")
    for guest in run.guests.values():
        read_as(report, guest, "carol", "/home/carol/notebooks/remote/carol.txt",
                "carol's secret notebook")
        denied(report, guest, "bob", "cat %s" % q(carol_file), "read carol's file via autofs")
        denied(report, guest, "bob", "ls %s/carol" % AUTOFS_ROOT, "list carol's folder")
        denied(report, guest, "bob", "cat /home/carol/notebooks/remote/carol.txt",
               "read carol's file via her link")
        denied(report, guest, "bob", "ls %s/notebooks/carol" % SMB_MOUNT,
               "list carol's folder on the whole-share mount")
        denied(report, guest, "bob", "echo x > %s/bob-was-here" % q(AUTOFS_ROOT + "/carol"),
               "write into carol's folder")


# ---- 7. SMB shared: a registry edited through the share gives nothing -----------------------

REGISTRY_DIR = SMB_MOUNT + "/.dsvm-agent"
REGISTRY = REGISTRY_DIR + "/registry.json"
REFUSED = "registry refused: pool registry "
# One line per fact, "name: value"; run as root on a node. Whatever carol did to the registry must
# leave every one of them as it was.
ACCOUNT_FACTS = r"""
echo "groups: $(id -nG carol 2>&1)"
echo "dsvm-sudo: $(getent group dsvm-sudo)"
if id -u mallory >/dev/null 2>&1; then echo "mallory: exists, $(id mallory)"; else echo "mallory: absent"; fi
echo "sudo -l carol: $(sudo -l -U carol 2>&1 | tr '\n' ' ')"
echo "sudo -l alice: $(sudo -l -U alice 2>&1 | tr '\n' ' ')"
echo "account files: $(cat /etc/passwd /etc/group /etc/shadow /etc/gshadow | sha256sum | cut -c1-16)"
echo "sudoers: $({ ls -l /etc/sudoers.d; cat /etc/sudoers.d/*; } 2>&1 | sha256sum | cut -c1-16)"
"""


def account_facts(guest):
    facts = {}
    for line in guest.must(ACCOUNT_FACTS, timeout=60).splitlines():
        if ": " in line:
            name, value = line.split(": ", 1)
            facts[name] = value.strip()
    return facts


def forged_body(original):
    """What carol wants the registry to say: sudo for herself, and a new sudo user, mallory.
    carol is the attacker because she is a pool user without sudo who exists through the
    registry alone (`adduser` in smb): alice's and bob's entries are also in the pool config,
    which sets their sudo on every pass, so a registry giving bob sudo would show nothing even
    if it were accepted; carol's would."""
    body = copy.deepcopy(original["registry"])
    body["generation"] = body.get("generation", 0) + 1
    carol = None
    for user in body["users"]:
        if user.get("name") == "carol":
            user["sudo"] = True
            carol = user
    uid = max([u.get("uid", 0) for u in body["users"]] + [body.get("nextUid", 0)]) + 1
    mallory = dict(carol or {}, name="mallory", uid=uid, gid=uid, sudo=True, deleted=False)
    body["users"] = sorted(body["users"] + [mallory], key=lambda u: u["name"])
    body["nextUid"] = uid + 1
    return body


def forgeries(original):
    """(what carol does, the file she writes, the refusal every instance must report)."""
    body = forged_body(original)
    edited = dict(original, registry=body)  # the pool's signature kept as it was
    unsigned = dict({"version": 1}, **body)  # the format of dsvm-agent 0.1, no signature
    # A registry key of carol's own: her signature is valid, but for a key no instance holds.
    key = new_registry_key()
    key_id = hashlib.sha256(b"dsvm-agent registry key id\0" + key.encode()).hexdigest()[:16]
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    mac = hmac.new(key.encode(), ("dsvm-agent registry 2\n" + canonical).encode(),
                   hashlib.sha256).hexdigest()
    own = {"version": 2, "keyId": key_id, "hmacSha256": mac, "registry": body}
    return [
        ("edits the signed registry", edited, "fails its signature check"),
        ("removes the signature", unsigned, "is not signed"),
        ("signs it with a key of her own", own,
         "is signed with registry key %s, which this instance does not hold" % key_id),
    ]


def wait_everywhere(run, predicate, since, timeout):
    """Reads both nodes' status in turn until predicate(document) holds on each, or until
    `timeout` seconds after `since`; returns {node: (last document, seconds from `since` until
    the predicate held, or None)}."""
    found = {name: ({}, None) for name in run.guests}
    while True:
        for name, guest in run.guests.items():
            if found[name][1] is None:
                document = status_json(guest)
                found[name] = (document, time.time() - since if predicate(document) else None)
        if all(seconds is not None for _, seconds in found.values()) or \
                time.time() - since > timeout:
            return found
        time.sleep(1)


def refused_everywhere(report, run, what, phrase, written_at, before):
    """Both nodes refuse the registry carol wrote, within a pass or two, and two passes in a row;
    nothing about accounts or sudo changed."""
    bound = 2 * INTERVAL * 1.1 + PASS_SLACK

    def refusing(document):
        return any(line.startswith(REFUSED) and REGISTRY in line and phrase in line
                   for line in reported(document))

    found = wait_everywhere(run, refusing, written_at, bound + 30)
    for name, guest in run.guests.items():
        document, seconds = found[name]
        report.measure("%s_refused_%s_seconds" % (name, what.split()[0]),
                       None if seconds is None else round(seconds, 1))
        report.check("%s: status refuses the registry (carol %s: \"%s\") within a pass or two "
                     "(%.0f s)" % (name, what, phrase[:40], bound),
                     seconds is not None and seconds <= bound,
                     "after %s s: %s" % (None if seconds is None else round(seconds),
                                         brief(document)))
    for name, guest in run.guests.items():
        text = guest.run("dsvm-agent status").out
        report.check("%s: dsvm-agent status shows the refusal" % name,
                     "registry refused" in text and phrase[:40] in text, text[-1500:])
        first = found[name][0].get("time")
        document, ok, _ = wait_status(
            guest, lambda d: d.get("time") != first, INTERVAL * 1.1 + PASS_SLACK)
        report.check("%s: the next pass refuses it again" % name, ok and refusing(document),
                     brief(document))
        facts = account_facts(guest)
        report.check("%s: carol is not in dsvm-sudo" % name,
                     "dsvm-sudo" not in facts.get("groups", "dsvm-sudo").split() and
                     "carol" not in re.split(r"[:,]", facts.get("dsvm-sudo", "")),
                     "id -nG carol: %s; %s" % (facts.get("groups"), facts.get("dsvm-sudo")))
        report.check("%s: sudo -l -U carol grants nothing" % name,
                     "is not allowed to run sudo" in facts.get("sudo -l carol", "") and
                     "may run" not in facts.get("sudo -l carol", "may run"),
                     facts.get("sudo -l carol"))
        report.check("%s: the user carol added (mallory) does not exist" % name,
                     facts.get("mallory") == "absent", facts.get("mallory"))
        changed = [k for k in ("account files", "sudoers", "groups", "dsvm-sudo")
                   if facts.get(k) != before[name].get(k)]
        report.check("%s: accounts, groups and sudoers are unchanged" % name, not changed,
                     "changed: %s" % ", ".join(changed) if changed else facts.get("account files"))


def smb_shared(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    for guest in run.guests.values():
        wait_share(report, guest, SMB_MOUNT, "cifs")
    denied(report, node2, "carol", "cat %s" % REGISTRY, "read the registry (per-user mode)")
    saved = node1.run("base64 -w0 %s" % REGISTRY)
    report.check("node1: the registry is saved as it is", saved.ok and saved.out, saved.summary())
    original_bytes = saved.out.strip()
    original = json.loads(base64.b64decode(original_bytes))
    report.check("the registry is signed (version 2) and has alice and carol",
                 original.get("version") == 2 and {"alice", "carol"} <=
                 {u.get("name") for u in original.get("registry", {}).get("users", [])},
                 json.dumps({k: original.get(k) for k in ("version", "keyId")}))
    restore = ("base64 -d > %s/.e2e-restore && mv -f %s/.e2e-restore %s"
               % (REGISTRY_DIR, REGISTRY_DIR, REGISTRY))
    try:
        switch_pool(run, smb_pool("shared"))
        report.check("both nodes' metadata now has smbAccess: shared", True)
        for guest in run.guests.values():
            waited = wait_mount_options(report, guest, SMB_MOUNT,
                                        ["dir_mode=0777", "file_mode=0777", "nosuid", "nodev"])
            report.measure("%s_remount_seconds" % guest.name, round(waited, 1))
            for user in ("alice", "bob", "carol"):
                wait_link(report, guest, user, "%s/notebooks/%s" % (SMB_MOUNT, user))
            document, ok, _ = wait_status(
                guest, lambda d: (d.get("share") or {}).get("smbAccess") == "shared" and
                (d.get("share") or {}).get("mounted") and not reported(d), CONVERGE_TIMEOUT)
            report.check("%s: status has the shared share mounted, insecure, and no problem"
                         % guest.name, ok and document["share"].get("insecure"), brief(document))
            text = guest.run("dsvm-agent status").out
            report.check("%s: dsvm-agent status says INSECURE" % guest.name, "INSECURE" in text,
                         text[-1500:])
        writable = node2.run(as_user("carol", "test -r %s && test -w %s && test -w %s"
                                     % (REGISTRY, REGISTRY, REGISTRY_DIR)))
        report.check("node2: carol can read and write the registry through the shared mount "
                     "(what the attack needs)", writable.ok, writable.summary())
        before = {name: account_facts(g) for name, g in run.guests.items()}
        for name, facts in before.items():
            report.check("%s: before: carol is not a sudoer, alice is, mallory does not exist"
                         % name, "is not allowed" in facts.get("sudo -l carol", "") and
                         "may run" in facts.get("sudo -l alice", "") and
                         facts.get("mallory") == "absent", json.dumps(facts))

        for what, document, phrase in forgeries(original):
            text = json.dumps(document, indent=2) + "\n"
            wrote = node2.run(as_user("carol", "cat > %s" % REGISTRY), stdin=text)
            written_at = time.time()
            report.check("node2: carol %s and writes it through the shared mount" % what,
                         wrote.ok, wrote.summary())
            digest = hashlib.sha256(text.encode()).hexdigest()
            landed, _ = node1.wait_until("sha256sum %s | grep -q ^%s" % (REGISTRY, digest), 20)
            report.check("node1: the share holds carol's registry", landed.ok, landed.summary())
            refused_everywhere(report, run, what, phrase, written_at, before)
    finally:
        # Best effort, whatever failed: the pool as the later scenarios expect it.
        node1.run(restore, stdin=original_bytes)
        switch_pool(run, smb_pool())

    for guest in run.guests.values():
        document, ok, waited = wait_status(
            guest, lambda d: not reported(d) and (d.get("share") or {}).get("smbAccess") ==
            "per-user" and (d.get("share") or {}).get("mounted"), CONVERGE_TIMEOUT)
        report.check("%s: the original registry (restored) is accepted again, per-user, no "
                     "problem" % guest.name, ok, brief(document))
        wait_mount_options(report, guest, SMB_MOUNT, ["uid=0", "dir_mode=0700", "nosuid", "nodev"])
        for user in ("alice", "bob", "carol"):
            wait_link(report, guest, user, "%s/%s" % (AUTOFS_ROOT, user))
        facts = account_facts(guest)
        report.check("%s: accounts are as before the attack" % guest.name,
                     facts.get("account files") == before[guest.name].get("account files"),
                     facts.get("account files"))
    read_as(report, node2, "alice", "/home/alice/notebooks/remote/from-node1.txt",
            "alice on node1")
    denied(report, node2, "carol", "cat %s" % REGISTRY, "read the registry (per-user again)")


# ---- 5. key rotation ------------------------------------------------------------------------

def key_rotation(run, report):
    node1 = run.guests["node1"]
    before = {}
    for guest in run.guests.values():
        wait_share(report, guest, SMB_MOUNT, "cifs")
        before[guest.name] = root_smb_connections(guest)
        report.check("%s: the share's SMB connection is known" % guest.name,
                     bool(before[guest.name]), before[guest.name])
        report.measure("%s_mount_id_before" % guest.name, mount_id(guest, SMB_MOUNT))
    key = new_storage_key()
    run.update_state(keys=run.state()["keys"] + [key])
    set_storage_password(node1, key)
    report.check("node1: the Samba password is the new key", True)
    for guest in run.guests.values():
        result = guest.run("dsvm-agent credentials set dsvmstore --key-stdin", stdin=key + "\n")
        report.check("%s: credentials set with the new key" % guest.name, result.ok,
                     result.summary())
    for guest in run.guests.values():
        old = before[guest.name]
        started = time.time()
        while True:
            now = root_smb_connections(guest)
            mounted = mount_id(guest, SMB_MOUNT)
            if (now and not set(now) & set(old) and mounted) or \
                    time.time() - started > 3 * INTERVAL + PASS_SLACK:
                break
            time.sleep(2)
        waited = time.time() - started
        report.measure("%s_remount_seconds" % guest.name, round(waited, 1))
        report.measure("%s_mount_id_after" % guest.name, mounted)
        report.check("%s: the share was mounted again (SMB connection %s -> %s)"
                     % (guest.name, ",".join(old), ",".join(now)),
                     now and not set(now) & set(old) and mounted, "after %.0f s" % waited)
        probe = "%s/.e2e-rotation-%s" % (SMB_MOUNT, guest.name)
        io = guest.run("echo rotated > %s && cat %s && rm %s" % (probe, probe, probe))
        report.check("%s: I/O works on the remounted share" % guest.name,
                     io.ok and io.out.strip() == "rotated", io.summary())
        # A new notebook mount must authenticate with the new key as well.
        guest.run("umount /run/dsvm-agent/notebooks/alice")
        user = guest.run(as_user("alice", "ls /home/alice/notebooks/remote/"), timeout=90)
        report.check("%s: alice's notebooks mount again with the new key" % guest.name,
                     user.ok and "from-node1.txt" in user.out, user.summary())


# ---- 6. the key is nowhere it should not be -------------------------------------------------

SECRET_SCAN = r"""
set -u
keys=/run/e2e-secrets/keys
hits=0
check() {  # NAME FILE...: a file list to grep for every key
  name=$1; shift
  if grep -l -a -F -f "$keys" "$@" 2>/dev/null | grep -v -x -e "$keys" -e /etc/dsvm-agent/credentials/dsvmstore.cred -e /etc/dsvm-agent/credentials/registry.key; then
    echo "KEY FOUND in $name"; hits=$((hits + 1))
  else
    echo "clean: $name"
  fi
}
out=/run/e2e-secrets
# ps listings taken while mounts happen (the share and an on-demand notebook mount)
( end=$(($(date +%s) + 25)); while [ "$(date +%s)" -lt "$end" ]; do ps -eww -o pid,args; done ) > $out/ps.txt &
sampler=$!
for round in 1 2 3; do
  e2e-agent unmount >/dev/null 2>&1; e2e-agent mount >/dev/null 2>&1
  umount /run/dsvm-agent/notebooks/alice 2>/dev/null; runuser -u alice -- ls /home/alice/notebooks/remote/ >/dev/null 2>&1
done
systemctl reload dsvm-agent.service
wait $sampler
helpers=$(awk '$2 ~ /mount\.(cifs|nfs4?)$/' $out/ps.txt | sort -u -k2)
echo "ps samples: $(grep -c . $out/ps.txt) lines, mount helper processes seen: $(echo "$helpers" | grep -c .)"
echo "$helpers" | head -n 3 | sed 's/^/helper: /'
check "ps listings" $out/ps.txt
journalctl --no-pager -o verbose > $out/journal.txt 2>&1; check "journalctl (all boots, verbose)" $out/journal.txt
dsvm-agent status > $out/status.txt 2>&1; check "dsvm-agent status" $out/status.txt
dsvm-agent status --json > $out/status.json 2>&1; check "dsvm-agent status --json" $out/status.json
e2e-agent users --json > $out/users.json 2>&1; check "dsvm-agent users --json" $out/users.json
systemctl cat dsvm-agent.service > $out/unit.txt 2>&1; check "systemctl cat dsvm-agent" $out/unit.txt
systemctl show '*' > $out/show.txt 2>&1; check "systemctl show (all units, environments)" $out/show.txt
check "/etc/fstab" /etc/fstab
check "/etc (except the credentials file and the registry key)" $(find /etc -xdev -type f ! -path /etc/dsvm-agent/credentials/dsvmstore.cred ! -path /etc/dsvm-agent/credentials/registry.key)
check "/var/log" $(find /var/log -xdev -type f)
check "/var/lib/dsvm-agent" $(find /var/lib/dsvm-agent -type f)
check "/run (except this scan)" $(find /run -xdev -type f ! -path '/run/e2e-secrets/*' 2>/dev/null)
check "/proc/*/environ and cmdline" /proc/[0-9]*/environ /proc/[0-9]*/cmdline
# The agent's own log (the whole journal also has qemu-ga's record of this script).
if { journalctl --no-pager -o cat -u dsvm-agent.service; journalctl --no-pager -o cat -t dsvm-agent; } |
    grep -q -F 169.254.169.254; then
  echo "169.254.169.254 in the agent's journal: it asked the real metadata address"; hits=$((hits + 1))
fi
mode=$(stat -c '%a %U' /etc/dsvm-agent/credentials/dsvmstore.cred)
echo "credentials file: $mode"
test "$mode" = "600 root" || { echo "credentials file mode is $mode, not 600 root"; hits=$((hits + 1)); }
mode=$(stat -c '%a %U' /etc/dsvm-agent/credentials/registry.key)
echo "registry key file: $mode"
test "$mode" = "600 root" || { echo "registry key file mode is $mode, not 600 root"; hits=$((hits + 1)); }
echo "hits: $hits"
"""


def secrets_nowhere(run, report):
    # The storage keys so far and the pool's registry key: secrets alike.
    keys = run.state()["keys"] + run.state().get("registry_keys", [])
    for guest in run.guests.values():
        wait_share(report, guest, SMB_MOUNT, "cifs")
        guest.must("install -d -m 0700 /run/e2e-secrets && umask 077 && cat > /run/e2e-secrets/keys",
                   stdin="\n".join(keys) + "\n")
        try:
            scan = guest.run(SECRET_SCAN, timeout=300)
        finally:
            guest.run("rm -rf /run/e2e-secrets")
        lines = scan.out.strip().splitlines()
        for line in lines:
            if line.startswith("clean: ") or line.startswith("KEY FOUND in "):
                where = line.split(": ", 1)[1] if line.startswith("clean") else line[13:]
                report.check("%s: no key in %s" % (guest.name, where), line.startswith("clean"))
        sampled = [line for line in lines if line.startswith("ps samples")]
        helpers = [line[8:] for line in lines if line.startswith("helper: ")]
        report.check("%s: ps caught a mount helper at work" % guest.name,
                     bool(sampled) and bool(helpers),
                     "%s; %s" % (sampled[0] if sampled else scan.summary(), " | ".join(helpers)))
        report.measure("%s_ps_sampling" % guest.name, sampled[0] if sampled else "")
        report.check("%s: the secret scan completed with no hits" % guest.name,
                     scan.ok and lines and lines[-1] == "hits: 0", scan.summary(1200))


# ---- 3. reboot node2 -------------------------------------------------------------------------

def reboot_node2(run, report, expect_share=True):
    """Reboots node2 and returns the seconds until systemd reported the boot finished."""
    node2 = run.guests["node2"]
    old = node2.reboot()
    started = time.time()
    deadline = started + 600
    while time.time() < deadline:
        try:
            boot_id = node2.run("cat /proc/sys/kernel/random/boot_id", timeout=10).out.strip()
            if boot_id and boot_id != old:
                break
        except GuestError:
            pass
        time.sleep(2)
    else:
        report.check("node2 came back from the reboot", False, "no new boot in 600 s")
    state = node2.run("systemctl is-system-running --wait", timeout=600)
    seconds = round(time.time() - started, 1)
    report.check("node2 finished booting (%s)" % state.out.strip(),
                 state.out.strip() in ("running", "degraded"), state.summary())
    return seconds


def reboot(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    uids_before = {u: uid_of(node1, u) for u in ("alice", "bob", "carol")}
    seconds = reboot_node2(run, report)
    report.measure("node2_boot_seconds", seconds)
    run.update_state(boot_seconds=seconds)
    wait_share(report, node2, SMB_MOUNT, "cifs")
    uids_after = {u: uid_of(node2, u) for u in ("alice", "bob", "carol")}
    report.check("node2: users are back with the pool's UIDs", uids_after == uids_before,
                 "node1 %s, node2 %s" % (uids_before, uids_after))
    for user in ("alice", "carol"):
        wait_link(report, node2, user, "%s/%s" % (AUTOFS_ROOT, user))
    read_as(report, node2, "alice", "/home/alice/notebooks/remote/from-node1.txt", "alice on node1")
    read_as(report, node2, "carol", "/home/carol/notebooks/remote/carol.txt",
            "carol's secret notebook")
    denied(report, node2, "bob", "cat %s/carol/carol.txt" % AUTOFS_ROOT,
           "read carol's file after the reboot")
    restarts = node2.run("systemctl show -P NRestarts dsvm-agent.service").out.strip()
    report.check("node2: the agent started once, by its unit", restarts == "0", restarts)


# ---- 4. storage down at boot -----------------------------------------------------------------

def storage_down(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    normal = run.state().get("boot_seconds")
    bound = (normal + 90) if normal else 360
    node1.must("systemctl stop smbd.service nfs-server.service")
    try:
        seconds = reboot_node2(run, report)
        report.measure("node2_boot_seconds_storage_down", seconds)
        report.measure("boot_bound_seconds", bound)
        report.check("node2 boot with the storage down took at most %.0f s" % bound,
                     seconds <= bound, "%.0f s (normal boot %s s)" % (seconds, normal))
        sessions = node2.run("systemctl is-active systemd-user-sessions.service")
        report.check("node2: logins are allowed (systemd-user-sessions active)", sessions.ok,
                     sessions.summary())
        login = node2.run("runuser -l alice -c 'echo $HOME'", timeout=60)
        report.check("node2: alice can log in", login.ok and "/home/alice" in login.out,
                     login.summary())
        mounted = node2.run("findmnt -n --mountpoint %s" % SMB_MOUNT)
        report.check("node2: the share is not mounted while storage is down", not mounted.ok,
                     mounted.out.strip())
        # The daemon's passes since boot have tried to mount; the last one says why it failed.
        status, waited = node2.wait_until(
            "dsvm-agent status --json | grep -q '\"mounted\": *false'", 60)
        document = status_json(node2)
        failed = [a for a in document.get("actions", [])
                  if not a.get("ok") and SMB_MOUNT in a.get("action", "")]
        report.check("node2: status --json has the share unmounted and its failed mount",
                     status.ok and bool(failed) and bool(failed[0].get("error")),
                     json.dumps({"share": document.get("share"),
                                 "actions": document.get("actions"),
                                 "problems": document.get("problems")})[:1500])
        text = node2.run("dsvm-agent status").out
        error = failed[0]["error"]
        report.check("node2: dsvm-agent status shows the share error",
                     "FAILED" in text and error[:60] in text, text[:1500])
        pid_before = node2.run("systemctl show -P MainPID dsvm-agent.service").out.strip()
    finally:
        node1.must("systemctl start smbd.service nfs-server.service")
    wait_share(report, node2, SMB_MOUNT, "cifs", timeout=3 * INTERVAL + PASS_SLACK + 30)
    pid_after = node2.run("systemctl show -P MainPID dsvm-agent.service").out.strip()
    report.check("node2: the agent mounted it without a restart (same MainPID)",
                 pid_before == pid_after and pid_after != "0", "%s -> %s" % (pid_before, pid_after))
    read_as(report, node2, "alice", "/home/alice/notebooks/remote/from-node1.txt", "alice on node1",
            timeout=90)
    wait_share(report, node1, SMB_MOUNT, "cifs")


# ---- 2. NFS pool -----------------------------------------------------------------------------

def nfs(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    switch_pool(run, nfs_pool())
    report.check("both nodes' metadata now has the NFS pool (%s)" % NFS_SOURCE, True)
    for guest in run.guests.values():
        wait_share(report, guest, NFS_MOUNT, "nfs4")
        options = guest.run("findmnt -n -o OPTIONS --mountpoint %s" % NFS_MOUNT).out
        report.check("%s: NFS 4.1 with sec=sys" % guest.name,
                     "vers=4.1" in options and "sec=sys" in options, options.strip())
    uids = wait_users(report, run, ["dave", "erin"])
    for guest in run.guests.values():
        for user in ("dave", "erin"):
            wait_link(report, guest, user, "%s/notebooks/%s" % (NFS_MOUNT, user))
        for user in ("dave", "erin"):
            owner = guest.run("stat -c '%%u:%%g %%a' %s/notebooks/%s" % (NFS_MOUNT, user)).out.strip()
            expected = "%s:%s 700" % (uids[user], uids[user])
            report.check("%s: notebooks/%s is %s" % (guest.name, user, expected),
                         owner == expected, owner)
        meta = guest.run("stat -c '%%u:%%g %%a' %s/.dsvm-agent" % NFS_MOUNT).out.strip()
        report.check("%s: .dsvm-agent on the share is root's, 0700" % guest.name,
                     meta == "0:0 700", meta)

    write_as(report, node2, "dave", "dave.txt", "dave on node2")
    owner = node1.run("stat -c '%%u:%%g %%a' %s/notebooks/dave/dave.txt" % NFS_MOUNT).out.strip()
    report.check("node1 sees dave's file owned by dave's UID", owner.startswith(
        "%s:%s " % (uids["dave"], uids["dave"])), owner)
    read_as(report, node1, "dave", "/home/dave/notebooks/remote/dave.txt", "dave on node2")
    for guest in run.guests.values():
        denied(report, guest, "erin", "cat %s/notebooks/dave/dave.txt" % NFS_MOUNT,
               "read dave's file")
        denied(report, guest, "erin", "ls %s/.dsvm-agent" % NFS_MOUNT, "list the registry dir")

    adduser_reaches_node2(report, run, "frank")
    wait_link(report, node2, "frank", "%s/notebooks/frank" % NFS_MOUNT)
    write_as(report, node2, "frank", "frank.txt", "frank on node2")
    owner = node1.run("stat -c '%%u %%a' %s/notebooks/frank" % NFS_MOUNT).out.strip()
    report.check("node1: notebooks/frank is frank's (%s), 0700" % uid_of(node1, "frank"),
                 owner == "%s 700" % uid_of(node1, "frank"), owner)
    read_as(report, node1, "frank", "/home/frank/notebooks/remote/frank.txt", "frank on node2")
    for guest in run.guests.values():
        denied(report, guest, "dave", "cat %s/notebooks/frank/frank.txt" % NFS_MOUNT,
               "read frank's file")


# ---- 8. the storage server stops answering --------------------------------------------------

SILENT_WATCHDOG = 90  # WatchdogSec for node2's agent during this step (the unit has 10 min)
WATCHDOG_DROPIN = "/run/systemd/system/dsvm-agent.service.d/e2e-watchdog.conf"
STATUS_PROMPT = 5.0  # seconds `dsvm-agent status` may take, on an emulated CPU
RECOVERY_TIMEOUT = 420  # NFS over TCP reconnects with a backoff that grows with the silence
PROBE = "/run/e2e-probe.rc"
SILENT_FILE = NFS_MOUNT + "/e2e-while-silent.txt"
SILENT_TEXT = "written on node1 while node2 waits"
# `dsvm-agent status` timed inside the guest: the milliseconds on the first line, then its output.
TIMED_STATUS = ("s=$(date +%s%N); dsvm-agent status {args} > /run/e2e-status.out 2>&1; "
                "e=$(date +%s%N); echo $(( (e - s) / 1000000 )); cat /run/e2e-status.out")


def link_device(guest):
    address = NODES[guest.name][1]
    return guest.must("ip -o -4 addr show to %s/32 | awk '{ print $2; exit }'" % address).strip()


def silence(device):
    """node1 stops answering: every IPv4 packet it sends on the link is dropped (netem, 100 %
    loss). ARP still goes out, so node2 sees a server that is there and says nothing, as a
    storage account behind a router would, rather than a host that vanished from the link."""
    return ("tc qdisc replace dev {d} root handle 1: prio && "
            "tc qdisc replace dev {d} parent 1:3 handle 30: netem loss 100% && "
            "tc filter add dev {d} parent 1: protocol ip prio 1 u32 match u32 0 0 flowid 1:3"
            ).format(d=device)


def not_responding(document):
    return [line for line in reported(document) if NFS_MOUNT + " not responding" in line]


def timed_status(guest, args=""):
    result = guest.run(TIMED_STATUS.format(args=args), timeout=60)
    lines = result.out.split("\n", 1)
    try:
        seconds = int(lines[0]) / 1000.0
    except ValueError:
        seconds = None
    return seconds, lines[1] if len(lines) > 1 else result.summary()


def agent_process(guest):
    return (guest.run("systemctl show -P MainPID dsvm-agent.service").out.strip(),
            guest.run("systemctl show -P NRestarts dsvm-agent.service").out.strip())


def tighten_watchdog(report, node2):
    """A tighter watchdog than the unit's 10 minutes, so that "not killed by the watchdog"
    means something within this step: no pass may run for 90 s while the server is silent.
    Returns the agent's (MainPID, NRestarts) after the restart that takes it."""
    node2.must("mkdir -p %s && printf '[Service]\\nWatchdogSec=%ds\\n' > %s && "
               "systemctl daemon-reload && systemctl restart dsvm-agent.service"
               % (WATCHDOG_DROPIN.rsplit("/", 1)[0], SILENT_WATCHDOG, WATCHDOG_DROPIN),
               timeout=300)
    tightened = node2.run("systemctl show -P WatchdogUSec dsvm-agent.service").out.strip()
    report.check("node2: the agent runs with WatchdogSec=%ds for this step" % SILENT_WATCHDOG,
                 tightened == "1min 30s", tightened)
    document, ok, _ = wait_status(
        node2, lambda d: (d.get("share") or {}).get("mounted") and not not_responding(d),
        CONVERGE_TIMEOUT)
    report.check("node2: a pass with the share mounted before the silence", ok, brief(document))
    seconds, _ = timed_status(node2)
    report.measure("status_seconds_before", seconds)
    # What the passes report before the silence (nothing, on a healthy pool): after it, the
    # passes must be back to exactly that.
    report.measure("problems_before", reported(document))
    process = agent_process(node2)
    report.measure("main_pid", process[0])
    return process, set(reported(document))


def while_silent(run, report, device, process):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    node2.must("rm -f %s" % PROBE)
    since = node2.must("date +%s").strip()
    node1.must(silence(device))
    silent_at = time.time()
    qdisc = node1.run("tc qdisc show dev %s" % device).out
    report.check("node1: netem drops the IPv4 packets it sends on %s" % device,
                 "loss 100%" in qdisc, qdisc.strip())
    # A lookup of a name the client never saw must ask the server: it should not return.
    node2.must("setsid sh -c 'timeout -k 3 10 stat %s/.e2e-probe-$$ >/dev/null 2>&1; "
               "echo $? > %s' </dev/null >/dev/null 2>&1 &" % (NFS_MOUNT, PROBE))
    ping = node2.run("ping -c 2 -W 2 10.77.0.1")
    report.check("node2: node1 no longer answers ping", not ping.ok, ping.summary())
    connect = node2.run("timeout 8 bash -c 'exec 3<>/dev/tcp/10.77.0.1/2049'; echo exit=$?",
                        timeout=30)
    report.check("node2: a TCP connect to node1's NFS port times out (dropped, not refused)",
                 "exit=124" in connect.out, connect.summary())

    # The daemon finds out, and says so ...
    document, ok, _ = wait_status(node2, lambda d: bool(not_responding(d)), 240)
    report.measure("not_responding_reported_after_seconds", round(time.time() - silent_at, 1))
    report.check("node2: status names the share as not responding", ok, brief(document))
    seen = {document.get("time"): not_responding(document)}
    stuck = node2.run("cat %s" % PROBE).out.strip()
    report.check("node2: the share really is silent (a lookup on it did not return)",
                 stuck in ("", "124", "137"), "probe exit %r" % stuck)
    # ... and keeps passing, every interval, while the server says nothing.
    deadline = time.time() + 4 * (INTERVAL * 1.1 + PASS_SLACK)
    while len(seen) < 4 and time.time() < deadline:
        time.sleep(2)
        document = status_json(node2)
        if document.get("time") and document.get("time") not in seen:
            seen[document["time"]] = not_responding(document)
    # The loop itself: its log line for every pass since the silence began.
    journal = node2.run("journalctl -u dsvm-agent.service -o cat --no-pager --since @%s | "
                        "grep '^pass '" % since).out.strip().splitlines()
    report.measure("journal_passes_while_silent", journal)
    report.check("node2: the daemon kept passing while the server is silent (at least 4 passes "
                 "in the journal)", len(journal) >= 4, "\n".join(journal))
    report.check("node2: its last 3 passes say the share is not responding",
                 all(NFS_MOUNT + " not responding" in line for line in journal[-3:]),
                 "\n".join(journal))
    # What `status` shows: status.json, written by every pass.
    report.measure("status_while_silent", seen)
    report.check("node2: status.json follows: its time advanced with every pass (4 passes)",
                 len(seen) >= 4, "status times: %s" % ", ".join(sorted(seen)))
    report.check("node2: every one of those statuses says the share is not responding",
                 all(seen.values()), json.dumps(seen)[:1500])
    for args in ("", "--json"):
        seconds, text = timed_status(node2, args)
        report.measure("status%s_seconds_while_silent" % args.replace("--", "_"), seconds)
        report.check("node2: dsvm-agent status %s answers in at most %.0f s and names the share "
                     "as not responding" % (args, STATUS_PROMPT),
                     seconds is not None and seconds <= STATUS_PROMPT and
                     NFS_MOUNT + " not responding" in text, "%s s: %s" % (seconds, text[-1200:]))
    now = agent_process(node2)
    report.check("node2: the same agent process throughout (MainPID %s, not restarted)"
                 % process[0], now == process and process[0] != "0",
                 "MainPID, NRestarts: %s -> %s" % (process, now))
    # node1 (the server, which mounts itself over loopback) is not affected.
    document = status_json(node1)
    report.check("node1: its own status has no share problem", not not_responding(document),
                 brief(document))
    written = node1.run("printf %%s %s > %s && cat %s"
                        % (q(SILENT_TEXT), SILENT_FILE, SILENT_FILE))
    report.check("node1: writes %s on the share while node2 waits" % SILENT_FILE,
                 written.ok and written.out == SILENT_TEXT, written.summary())
    report.measure("silence_seconds", round(time.time() - silent_at, 1))


def recovered(run, report, process, baseline, uids, back_at):
    node2 = run.guests["node2"]
    # The stuck access returns once the server answers; the next pass is a normal one: it
    # reports what passes reported before the silence (nothing, on a healthy pool), no more.
    document, ok, _ = wait_status(
        node2, lambda d: (d.get("share") or {}).get("mounted") and
        set(reported(d)) <= baseline, RECOVERY_TIMEOUT, interval=3)
    report.measure("recovered_after_seconds", round(time.time() - back_at, 1))
    report.check("node2: a normal pass once the server answers again (no problem but those "
                 "before the silence: %d)" % len(baseline), ok, brief(document))
    now = agent_process(node2)
    report.check("node2: recovered by the same agent process (MainPID %s)" % process[0],
                 now == process, "MainPID, NRestarts: %s -> %s" % (process, now))
    after = {u: uid_of(node2, u) for u in uids}
    report.check("node2: users are still there with their UIDs", after == uids,
                 "%s -> %s" % (uids, after))
    read, _ = node2.wait_until("cat %s" % SILENT_FILE, 120, interval=3)
    report.check("node2: reads %s, written on node1 during the silence, through the share"
                 % SILENT_FILE, read.ok and read.out == SILENT_TEXT, read.summary())
    kernel = node2.run("journalctl -k --no-pager -o cat | grep -i 'nfs: server' | tail -n 4")
    report.measure("node2_kernel_nfs", kernel.out.strip().splitlines())


def storage_silent(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    wait_share(report, node2, NFS_MOUNT, "nfs4")
    wait_mount_options(report, node2, NFS_MOUNT, ["hard", "nosuid", "nodev"])
    uids = {u: uid_of(node2, u) for u in ("dave", "erin", "frank")}
    report.check("node2: the NFS pool's users exist (dave, erin at least)",
                 uids["dave"] and uids["erin"], json.dumps(uids))
    uids = {u: uid for u, uid in uids.items() if uid}
    shipped = node2.run("systemctl show -P WatchdogUSec dsvm-agent.service").out.strip()
    report.check("node2: the unit has WatchdogSec=10min", shipped == "10min", shipped)
    device = link_device(node1)
    report.check("node1: the link's device is known", bool(device), device)
    try:
        process, baseline = tighten_watchdog(report, node2)
        try:
            while_silent(run, report, device, process)
        finally:
            # Whatever failed: node1 answers again.
            unsilenced = node1.run("tc qdisc del dev %s root" % device)
            back_at = time.time()
        qdisc = node1.run("tc qdisc show dev %s" % device).out
        report.check("node1: the drop is removed", "netem" not in qdisc,
                     "%s; %s" % (unsilenced.summary(), qdisc.strip()))
        recovered(run, report, process, baseline, uids, back_at)
    finally:
        # The unit's own watchdog again (a running service keeps the one it started with).
        node2.run("rm -f %s %s /run/e2e-status.out; systemctl daemon-reload && "
                  "systemctl restart dsvm-agent.service" % (WATCHDOG_DROPIN, PROBE), timeout=300)
        node1.run("rm -f %s" % SILENT_FILE)

# ---- 9. SSH and sudo: the real sshd and sudo use what the agent made -----------------------

SSH_DIR = "/root/e2e-ssh"
SSH_OPTIONS = ("-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
               "-o ConnectTimeout=10 -o LogLevel=ERROR -o IdentitiesOnly=yes")


def ssh_command(key, user, command):
    """From node1: log in to node2 as user with the private key, and run command there."""
    return "ssh -i %s %s %s@%s %s" % (q("%s/%s" % (SSH_DIR, key)), SSH_OPTIONS, q(user),
                                      NODES["node2"][1], q(command))


def logs_in(report, run, key, user, timeout, what):
    """Waits until `ssh` as user with key succeeds; checks it answers with user's own name."""
    result, waited = run.guests["node1"].wait_until(ssh_command(key, user, "id -un"), timeout,
                                                    interval=3)
    report.check("node2: %s logs in over SSH %s" % (user, what),
                 result.ok and result.out.strip() == user, result.summary())
    return waited


def locked_out(report, run, key, user, timeout, what):
    """Waits until `ssh` as user with key is refused; checks sshd refused the key itself."""
    result, waited = run.guests["node1"].wait_until(
        "if %s 2>/tmp/e2e-ssh.err; then exit 1; fi; cat /tmp/e2e-ssh.err >&2"
        % ssh_command(key, user, "true"), timeout, interval=3)
    report.check("node2: %s cannot log in over SSH %s" % (user, what),
                 result.ok and "Permission denied" in result.err, result.summary())
    return waited


def ssh_sudo(run, key, user):
    return run.guests["node1"].run(ssh_command(key, user, "sudo -n id -u"), timeout=60)


def ssh(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    bound = 3 * INTERVAL + PASS_SLACK
    node1.must("rm -rf %s && mkdir -m 0700 %s" % (SSH_DIR, SSH_DIR))
    keys = {}
    for name in ("alice", "heidi", "stranger"):
        node1.must("ssh-keygen -q -t ed25519 -N '' -C %s@e2e -f %s/%s" % (name, SSH_DIR, name))
        keys[name] = node1.must("cat %s/%s.pub" % (SSH_DIR, name)).strip()
    active = node2.run("systemctl is-active ssh.service")
    report.check("node2: sshd runs", active.ok, active.summary())

    try:
        # alice (sudo: true) with a key from the pool config, the default sudoAuthentication.
        pool = smb_pool()
        pool["users"][0]["sshKeys"] = [keys["alice"]]
        switch_pool(run, pool)
        waited = logs_in(report, run, "alice", "alice", bound, "with the key from the pool config")
        report.measure("config_key_login_seconds", round(waited, 1))
        locked_out(report, run, "stranger", "alice", 30, "with a key nobody gave her")
        asked = ssh_sudo(run, "alice", "alice")
        report.check("node2: sudo asks alice (a key, no password) for a password by default",
                     not asked.ok and "password is required" in asked.err, asked.summary())
        rights = node2.run("sudo -l -U alice")
        report.check("node2: sudo -l -U alice lists (ALL : ALL) ALL, without NOPASSWD",
                     rights.ok and "(ALL : ALL) ALL" in rights.out and "NOPASSWD" not in rights.out,
                     rights.summary())

        # heidi, added on node1 with a key: node2 lets him in within one interval.
        added = node1.run("e2e-agent adduser heidi --ssh-key -", stdin=keys["heidi"] + "\n",
                          timeout=180)
        report.check("node1: dsvm-agent adduser heidi --ssh-key -", added.ok, added.summary())
        waited = logs_in(report, run, "heidi", "heidi", bound, "with the key given to adduser")
        report.measure("adduser_key_login_seconds", round(added.seconds + waited, 1))
        no_sudo = ssh_sudo(run, "heidi", "heidi")
        report.check("node2: heidi (no sudo) gets no root",
                     no_sudo.exitcode == 1 and "password is required" in no_sudo.err,
                     no_sudo.summary())
        rights = node2.run("sudo -l -U heidi")
        report.check("node2: sudo -l -U heidi says he may not run sudo",
                     "not allowed to run sudo" in rights.out + rights.err, rights.summary())

        # The pool says no password for sudo: alice's key alone is root.
        pool["sudoAuthentication"] = "none"
        switch_pool(run, pool)
        result, waited = node1.wait_until(ssh_command("alice", "alice", "sudo -n id -u"), bound,
                                          interval=3)
        report.check("node2: with sudoAuthentication none, alice runs sudo without a password",
                     result.ok and result.out.strip() == "0", result.summary())
        no_sudo = ssh_sudo(run, "heidi", "heidi")
        rights = node2.run("sudo -l -U heidi")
        report.check("node2: heidi still gets no root",
                     no_sudo.exitcode == 1 and "password is required" in no_sudo.err
                     and "not allowed to run sudo" in rights.out + rights.err,
                     no_sudo.summary() + " | " + rights.summary())

        # alice's key leaves the config: the next pass takes it away.
        switch_pool(run, smb_pool())
        waited = locked_out(report, run, "alice", "alice", bound,
                            "once her key is removed from the pool config")
        report.measure("removed_key_refused_seconds", round(waited, 1))
        dropin = node2.run("cat /etc/sudoers.d/dsvm-agent")
        report.check("node2: the drop-in asks for passwords again",
                     dropin.ok and "NOPASSWD" not in dropin.out, dropin.summary())
        asked = node2.run(as_user("alice", "sudo -n true"))
        report.check("node2: sudo asks alice for a password again",
                     asked.exitcode == 1 and "password is required" in asked.err, asked.summary())

        # heidi deleted on node1: node2 refuses his key on its next pass.
        removed = node1.run("e2e-agent deluser heidi", timeout=180)
        report.check("node1: dsvm-agent deluser heidi", removed.ok, removed.summary())
        waited = locked_out(report, run, "heidi", "heidi", bound, "once deleted")
        report.measure("deleted_user_refused_seconds", round(removed.seconds + waited, 1))
    finally:
        switch_pool(run, smb_pool())


# ---- 10. JupyterHub: a pool user logs in with the password the agent set ------------------

HUB_CONFIG = """
c.JupyterHub.bind_url = 'http://127.0.0.1:8000'
c.JupyterHub.redirect_to_server = False
c.JupyterHub.cookie_secret_file = '/var/lib/jupyterhub/jupyterhub_cookie_secret'
c.JupyterHub.db_url = 'sqlite:////var/lib/jupyterhub/jupyterhub.sqlite'
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:8001'
c.PAMAuthenticator.open_sessions = False
c.Spawner.environment = {'JUPYTERHUB_SINGLEUSER_APP': 'notebook.notebookapp.NotebookApp'}
c.Spawner.notebook_dir = '~'
c.Spawner.default_url = '/tree'
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 600
"""
# The distribution's unit with this config; its order after dsvm-agent comes from
# dsvm-agent.service's own Before=jupyterhub.service, as on a Data Science VM.
HUB_DROPIN = """[Unit]
Requires=e2e-hub-proxy.service
After=e2e-hub-proxy.service

[Service]
EnvironmentFile=/etc/jupyterhub/e2e_proxy_env
ExecStart=
ExecStart=/usr/bin/python3 -m jupyterhub.app -f /etc/jupyterhub/e2e_config.py
"""
# The hub's proxy as its own unit: a hub that starts the proxy itself gives Node.js 11 s to
# listen, which an emulated guest on a loaded host does not always meet. The scenario waits for
# the proxy's API before it starts the hub.
HUB_PROXY_UNIT = """[Unit]
Description=configurable-http-proxy for the e2e JupyterHub

[Service]
EnvironmentFile=/etc/jupyterhub/e2e_proxy_env
ExecStart=/usr/bin/env configurable-http-proxy --ip 127.0.0.1 --port 8000 --api-ip 127.0.0.1 \\
  --api-port 8001 --error-target http://127.0.0.1:8081/hub/error
"""
HUB_CLIENT = None


def hub(guest, *args, timeout=420):
    """Runs hub_client.main(*args) in the guest; returns its JSON answer (or the failure)."""
    global HUB_CLIENT
    if HUB_CLIENT is None:
        import os
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hub_client.py")) as f:
            HUB_CLIENT = f.read()
    script = HUB_CLIENT + "\nmain(*%r)\n" % (args,)
    result = guest.run("python3 -", stdin=script, timeout=timeout)
    try:
        return json.loads(result.out.strip().splitlines()[-1]), result
    except (ValueError, IndexError):
        return {}, result


def set_password(report, node1, user, password):
    result = node1.run("e2e-agent adduser %s --password-stdin" % q(user), stdin=password + "\n",
                       timeout=180)
    report.check("node1: dsvm-agent adduser %s --password-stdin" % user, result.ok,
                 result.summary())


def jupyterhub(run, report):
    node1, node2 = run.guests["node1"], run.guests["node2"]
    bound = 3 * INTERVAL + PASS_SLACK
    passwords = {"alice": "alice-hub-%d" % time.time(), "bob": "bob-hub-%d" % time.time(),
                 "grace": "grace-hub-%d" % time.time()}
    try:
        node2.must("cat > /etc/jupyterhub/e2e_config.py", stdin=HUB_CONFIG)
        # The proxy's API token, for the proxy and the hub (CONFIGPROXY_AUTH_TOKEN), root's only.
        node2.must("umask 077 && printf 'CONFIGPROXY_AUTH_TOKEN=%s\\n' "
                   "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n') "
                   "> /etc/jupyterhub/e2e_proxy_env")
        node2.must("cat > /etc/systemd/system/e2e-hub-proxy.service", stdin=HUB_PROXY_UNIT)
        node2.must("mkdir -p /etc/systemd/system/jupyterhub.service.d && "
                   "cat > /etc/systemd/system/jupyterhub.service.d/e2e.conf", stdin=HUB_DROPIN)
        after = node2.run("systemctl daemon-reload && systemctl show -p After jupyterhub.service")
        report.check("node2: jupyterhub.service is ordered after dsvm-agent.service",
                     "dsvm-agent.service" in after.out, after.summary())
        proxy = node2.run("systemctl start e2e-hub-proxy.service", timeout=120)
        proxy_up, _ = node2.wait_until("python3 -c \"import socket; "
                                       "socket.create_connection(('127.0.0.1', 8001), 2)\"",
                                       180, interval=3)
        report.check("node2: the hub's proxy listens on 127.0.0.1:8001", proxy.ok and proxy_up.ok,
                     proxy.summary() + " | " + proxy_up.summary() + " | " + node2.run(
                         "journalctl -u e2e-hub-proxy.service -n 20 --no-pager").out[-800:])
        started = node2.run("systemctl start jupyterhub.service", timeout=300)
        report.check("node2: jupyterhub.service starts", started.ok, started.summary())
        up, waited = node2.wait_until("python3 -c \"import urllib.request; "
                                      "urllib.request.urlopen('http://127.0.0.1:8000/hub/login')\"",
                                      300, interval=5)
        report.check("node2: JupyterHub answers on 127.0.0.1:8000", up.ok,
                     up.summary() + " | " + node2.run(
                         "journalctl -u jupyterhub.service -n 20 --no-pager").out[-800:])
        report.measure("hub_up_seconds", round(waited, 1))

        # Passwords set on node1 reach node2's /etc/shadow within one interval.
        for user in ("alice", "bob", "grace"):
            set_password(report, node1, user, passwords[user])
        reached, waited = node2.wait_until("id -u grace && grep -q '^bob:[$]' /etc/shadow && "
                                           "grep -q '^alice:[$]' /etc/shadow", bound, interval=2)
        report.check("node2: the passwords set on node1 are in its /etc/shadow", reached.ok,
                     reached.summary())

        wrong, _ = hub(node2, "login", "alice", passwords["alice"] + "x")
        report.check("node2: JupyterHub refuses alice with a wrong password",
                     wrong.get("login", {}).get("logged_in") is False
                     and wrong.get("login", {}).get("invalid") is True, json.dumps(wrong))

        saved, result = hub(node2, "save", "alice", passwords["alice"],
                            "notebooks/remote/hub.ipynb", "alice's notebook, saved by JupyterHub")
        report.check("node2: alice logs in through the JupyterHub login form",
                     saved.get("login", {}).get("logged_in") is True,
                     json.dumps(saved) or result.summary())
        report.check("node2: alice's single-user server starts",
                     saved.get("server_seconds") is not None,
                     json.dumps(saved) + " | " + node2.run(
                         "journalctl -u jupyterhub.service -n 30 --no-pager").out[-1500:])
        report.measure("server_start_seconds", saved.get("server_seconds"))
        report.check("node2: the contents API saves notebooks/remote/hub.ipynb",
                     saved.get("put", {}).get("status") == 201, json.dumps(saved))
        report.check("node2: the contents API reads it back",
                     saved.get("read_back") == "alice's notebook, saved by JupyterHub",
                     json.dumps(saved))
        mount = node2.run("findmnt -n -o FSTYPE,OPTIONS --mountpoint %s/alice" % AUTOFS_ROOT)
        uid = uid_of(node2, "alice")
        report.check("node2: the save went through alice's own on-demand SMB mount",
                     mount.out.startswith("cifs") and ("uid=%s," % uid) in mount.out,
                     mount.summary())

        path = "/home/alice/notebooks/remote/hub.ipynb"
        read, _ = node1.wait_until(as_user("alice", "cat %s" % q(path)), 60, interval=3)
        report.check("node1: alice reads the notebook JupyterHub saved on node2",
                     read.ok and "alice's notebook, saved by JupyterHub" in read.out,
                     read.summary())
        owner = node1.run(as_user("alice", "stat -c %%u:%%U %s" % q(path)))
        report.check("node1: alice's mount presents the notebook as hers (uid %s)"
                     % uid_of(node1, "alice"),
                     owner.ok and owner.out.strip() == "%s:alice" % uid_of(node1, "alice"),
                     owner.summary())
        on_server = node1.run("test -s /srv/dsvmshare/notebooks/alice/hub.ipynb")
        report.check("node1 (storage): the file is in alice's folder on the share", on_server.ok,
                     on_server.summary())

        # bob's own server runs as bob, who cannot read alice's folder by any path.
        denied(report, node2, "bob", "cat %s" % q(path), "read alice's notebook (as his server)")
        denied(report, node2, "bob", "cat %s/alice/hub.ipynb" % AUTOFS_ROOT,
               "read alice's notebook through her SMB mount")
        other, _ = hub(node2, "read_other", "bob", passwords["bob"], "alice",
                       "notebooks/remote/hub.ipynb")
        report.check("node2: bob logs in", other.get("login", {}).get("logged_in") is True,
                     json.dumps(other))
        report.check("node2: bob's browser gets nothing of alice's notebook from her server",
                     other.get("files", {}).get("status") == 403
                     and other.get("api", {}).get("status") == 403
                     and not other["files"].get("leaked") and not other["api"].get("leaked"),
                     json.dumps(other))

        # grace logs in, is deleted on node1, and is refused on node2 after its next pass.
        before, _ = hub(node2, "login", "grace", passwords["grace"])
        report.check("node2: grace logs in before she is deleted",
                     before.get("login", {}).get("logged_in") is True, json.dumps(before))
        removed = node1.run("e2e-agent deluser grace", timeout=180)
        report.check("node1: dsvm-agent deluser grace", removed.ok, removed.summary())
        locked, _ = node2.wait_until("grep -q '^grace:!' /etc/shadow", bound, interval=2)
        report.check("node2: grace is locked", locked.ok, locked.summary())
        after_delete, _ = hub(node2, "login", "grace", passwords["grace"])
        report.check("node2: JupyterHub refuses grace once she is deleted",
                     after_delete.get("login", {}).get("logged_in") is False
                     and after_delete.get("login", {}).get("invalid") is True,
                     json.dumps(after_delete))
    finally:
        node2.run("systemctl stop jupyterhub.service e2e-hub-proxy.service; pkill -u alice; "
                  "pkill -u bob; pkill -u grace; rm -rf /etc/systemd/system/jupyterhub.service.d "
                  "/etc/systemd/system/e2e-hub-proxy.service /etc/jupyterhub/e2e_proxy_env; "
                  "systemctl daemon-reload; systemctl reset-failed jupyterhub.service "
                  "e2e-hub-proxy.service", timeout=120)


from scenario_key_vault import key_vault  # noqa: E402 (it uses this module's helpers)
from scenario_waagent import waagent  # noqa: E402 (it uses this module's helpers)

SCENARIOS = {
    "smb": smb,
    "smb-shared": smb_shared,
    "ssh": ssh,
    "jupyterhub": jupyterhub,
    "key-rotation": key_rotation,
    "key-vault": key_vault,
    "secrets": secrets_nowhere,
    "reboot": reboot,
    "storage-down": storage_down,
    "nfs": nfs,
    "storage-silent": storage_silent,
    "waagent": waagent,
}
