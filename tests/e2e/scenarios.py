"""The e2e scenarios. Each takes the Run and a Report, drives both guests, and records checks;
the first failed check ends it. They share one pair of guests and run in the order set in
CMakeLists.txt: smb, key-rotation, secrets, reboot, storage-down, nfs."""

import json
import re
import shlex
import time

from e2e import INTERVAL, NFS_SOURCE, imds_document, new_storage_key, nfs_pool
from e2e import set_storage_password
from guests import GuestError

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
  if grep -l -a -F -f "$keys" "$@" 2>/dev/null | grep -v -x -e "$keys" -e /etc/dsvm-agent/credentials/dsvmstore.cred; then
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
check "/etc (except the credentials file)" $(find /etc -xdev -type f ! -path /etc/dsvm-agent/credentials/dsvmstore.cred)
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
echo "hits: $hits"
"""


def secrets_nowhere(run, report):
    keys = run.state()["keys"]
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
    for guest in run.guests.values():
        document = imds_document(guest.name, nfs_pool())
        guest.must("cat > /etc/dsvm-e2e/imds.json.new && mv /etc/dsvm-e2e/imds.json.new "
                   "/etc/dsvm-e2e/imds.json && systemctl reload dsvm-agent.service",
                   stdin=document)
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


SCENARIOS = {
    "smb": smb,
    "key-rotation": key_rotation,
    "secrets": secrets_nowhere,
    "reboot": reboot,
    "storage-down": storage_down,
    "nfs": nfs,
}
