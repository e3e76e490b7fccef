#!/usr/bin/env python3
"""dsvm-agent end to end in real Linux kernels under QEMU.

  e2e.py setup    --build-dir B --agent BIN --fake-imds BIN   image, .deb, boot both guests
  e2e.py scenario NAME --build-dir B                          one scenario (see scenarios.py)
  e2e.py cleanup  --build-dir B                               power the guests off
  e2e.py watchdog --build-dir B --idle SECONDS                (internal) kills forgotten guests

Everything lives in B/tests/e2e: run/ (overlays, sockets, serial logs, payload, state) and
reports/ (one JSON per step). See README.md in this folder.
"""

import argparse
import base64
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from guests import NODES, Guest, GuestError  # noqa: E402
from report import CheckFailed, Report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
BOOT_TIMEOUT = 420
INTERVAL = 10
SMB_SOURCE = "//dsvmstore.file.core.windows.net/dsvmshare"
NFS_SOURCE = "dsvmstore.file.core.windows.net:/srv/nfspool"


class Run:
    """The run directory: the guests, the storage key(s) and what setup learnt."""

    def __init__(self, build_dir):
        self.base = os.path.join(os.path.abspath(build_dir), "tests", "e2e")
        self.dir = os.path.join(self.base, "run")
        self.reports = os.path.join(self.base, "reports")
        self.payload = os.path.join(self.dir, "payload")
        self.state_path = os.path.join(self.dir, "state.json")
        self.heartbeat = os.path.join(self.dir, "heartbeat")
        self.guests = {name: Guest(name, self.dir) for name in NODES}

    def beat(self):
        with open(self.heartbeat, "w") as f:
            f.write("%d\n" % time.time())

    def state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except OSError:
            return {}

    def save_state(self, state):
        temporary = self.state_path + ".tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(state, f, indent=2)
        os.replace(temporary, self.state_path)

    def update_state(self, **changes):
        state = self.state()
        state.update(changes)
        self.save_state(state)
        return state


def new_storage_key():
    # The shape of an Azure storage account key: 64 random bytes in base64 (88 characters).
    return base64.b64encode(secrets.token_bytes(64)).decode()


def new_registry_key():
    # What `openssl rand -base64 32` gives: the pool's registry key, 44 characters.
    return base64.b64encode(secrets.token_bytes(32)).decode()


def imds_document(node, pool):
    user_data = json.dumps({"dsvmPool": pool})
    return json.dumps({
        "compute": {
            "name": "pool_%s" % node[-1],
            "vmId": "00000000-0000-4000-8000-00000000000%s" % node[-1],
            "vmScaleSetName": "pool",
            "osType": "Linux",
            "location": "westeurope",
            "resourceGroupName": "dsvm-e2e",
            "tags": "",
            "tagsList": [],
            "userData": base64.b64encode(user_data.encode()).decode(),
        },
        "network": {"interface": []},
    }, indent=1)


def smb_pool(access="per-user"):
    return {
        "share": {"source": SMB_SOURCE, "type": "smb", "smbAccess": access},
        "users": [{"name": "alice", "sudo": True}, {"name": "bob"}],
        "interval": INTERVAL,
    }


def nfs_pool():
    return {
        "share": {"source": NFS_SOURCE, "type": "nfs"},
        "users": [{"name": "dave"}, {"name": "erin"}],
        "uidRange": [30000, 39999],
        "interval": INTERVAL,
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_deb(build_dir):
    """cpack -G DEB in the build dir; returns (the .deb's path or None, how or why not)."""
    config = os.path.join(build_dir, "CPackConfig.cmake")
    if not os.path.exists(config):
        return None, "no CPackConfig.cmake in the build dir"
    result = subprocess.run(["cpack", "-G", "DEB", "--config", config],
                            cwd=build_dir, capture_output=True, text=True)
    output = result.stdout + result.stderr
    debs = re.findall(r"package: (\S+\.deb) generated", output)
    if result.returncode != 0 or not debs or not os.path.exists(debs[-1]):
        tail = output.strip().splitlines()[-5:]
        return None, "cpack -G DEB failed: " + " | ".join(tail)
    return debs[-1], "cpack -G DEB: " + os.path.basename(debs[-1])


def build_handler_zip(build_dir):
    """The VM extension's handler package (target handler-zip); returns (its path or None, how
    or why not)."""
    result = subprocess.run(["cmake", "--build", build_dir, "--target", "handler-zip"],
                            capture_output=True, text=True)
    output = result.stdout + result.stderr
    version = None
    with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith("CMAKE_PROJECT_VERSION:"):
                version = line.split("=", 1)[1].strip()
    path = os.path.join(build_dir, "dsvm-agent-handler-%s.zip" % version)
    if result.returncode != 0 or not os.path.exists(path):
        tail = output.strip().splitlines()[-5:]
        return None, "cmake --build --target handler-zip failed: " + " | ".join(tail)
    return path, "handler-zip: " + os.path.basename(path)


def make_payload(run, agent, fake_imds, deb, handler_zip):
    if os.path.exists(run.payload):
        shutil.rmtree(run.payload)
    os.makedirs(run.payload)
    for name in ("install.sh", "dsvm-fake-imds.service", "dsvm-agent-e2e.conf",
                 "fake_wireserver.py", "fake_keyvault.py", "waagent.conf",
                 "walinuxagent-e2e.conf"):
        shutil.copy(os.path.join(HERE, "payload", name), run.payload)
    if handler_zip:
        shutil.copy(handler_zip, run.payload)
    shutil.copy(fake_imds, os.path.join(run.payload, "dsvm-fake-imds"))
    if deb:
        shutil.copy(deb, run.payload)
    else:
        shutil.copy(agent, os.path.join(run.payload, "dsvm-agent"))
        shutil.copy(os.path.join(SOURCE_DIR, "packaging", "dsvm-agent.service"), run.payload)
    for node in NODES:
        with open(os.path.join(run.payload, "imds-%s.json" % node), "w") as f:
            f.write(imds_document(node, smb_pool()))


def parallel(function, items):
    errors = {}

    def one(item):
        try:
            function(item)
        except Exception as error:  # reported below, for every item
            errors[item] = error

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise GuestError("; ".join("%s" % e for e in errors.values()))


def mount_payload(guest):
    guest.must("mkdir -p /mnt/payload && { mountpoint -q /mnt/payload || "
               "mount -t 9p -o trans=virtio,version=9p2000.L,ro payload /mnt/payload; }")


def set_storage_password(node1, key):
    # The key goes through stdin only, never argv.
    node1.must("smbpasswd -s -a dsvmstore >/dev/null", stdin="%s\n%s\n" % (key, key))


def setup(args):
    run = Run(args.build_dir)
    report = Report("00-setup", run.reports)
    os.makedirs(run.dir, exist_ok=True)
    run.beat()
    for guest in run.guests.values():  # guests of an earlier run that was never cleaned up
        guest.kill()
    try:
        started = time.time()
        image = subprocess.run([os.path.join(HERE, "build-image.sh")], capture_output=True,
                               text=True)
        report.check("guest image is built or cached", image.returncode == 0,
                     image.stderr.strip()[-800:] or image.stdout.strip())
        image_dir = image.stdout.strip().splitlines()[-1]
        report.measure("image_seconds", round(time.time() - started, 1))

        deb, how = build_deb(os.path.abspath(args.build_dir))
        report.measure("agent_install", how if deb else "binary and unit (%s)" % how)
        # Only the waagent scenario needs it, and says so when it is missing.
        handler_zip, how = build_handler_zip(os.path.abspath(args.build_dir))
        report.measure("handler_zip", how)
        make_payload(run, args.agent, args.fake_imds, deb, handler_zip)
        key = new_storage_key()
        registry_key = new_registry_key()
        # keys: the storage keys so far; registry_keys: the pool's registry key(s).
        run.save_state({"image": image_dir, "keys": [key], "registry_keys": [registry_key],
                        "deb": bool(deb)})

        for guest in run.guests.values():
            if os.path.exists(guest.serial_log):
                os.unlink(guest.serial_log)
        port = free_port()
        run.beat()
        started = time.time()
        run.guests["node1"].start(image_dir, run.payload, port, listen=True)
        run.guests["node2"].start(image_dir, run.payload, port, listen=False)
        subprocess.Popen([sys.executable, os.path.abspath(__file__), "watchdog",
                          "--build-dir", args.build_dir, "--idle", "1800"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        parallel(lambda g: g.wait_for_agent(BOOT_TIMEOUT), run.guests.values())
        parallel(lambda g: g.must("systemctl is-system-running --wait || true", timeout=300),
                 run.guests.values())
        report.measure("boot_seconds", round(time.time() - started, 1))
        report.check("both guests booted and answer", True)
        for name, guest in run.guests.items():
            address = NODES[name][1]
            result = guest.run("ip -4 -o addr show | grep -w %s" % address)
            report.check("%s has its link address %s" % (name, address), result.ok,
                         result.summary())
        ping = run.guests["node2"].run("ping -c 1 -W 5 10.77.0.1")
        report.check("node2 reaches node1 over the private link", ping.ok, ping.summary())
        route = run.guests["node2"].run("ip route get 1.1.1.1")
        report.check("no guest has a route off the private link", not route.ok, route.summary())

        node1 = run.guests["node1"]
        set_storage_password(node1, key)
        node1.must("exportfs -ra && systemctl enable --now smbd.service nfs-server.service")
        report.check("node1 serves SMB and NFS", True)

        def install(guest):
            mount_payload(guest)
            out = guest.must("sh /mnt/payload/install.sh %s" % guest.name, timeout=300)
            # The registry key before the storage key: no pass can mount the share (and so
            # apply the pool's users) before the instance holds the key the registry is signed
            # with. Both on stdin only.
            guest.must("dsvm-agent registry set-key --key-stdin", stdin=registry_key + "\n")
            guest.must("dsvm-agent credentials set dsvmstore --key-stdin", stdin=key + "\n")
            guest.must("systemctl enable dsvm-agent.service && systemctl restart dsvm-agent.service",
                       timeout=300)
            print("%s: %s" % (guest.name, out.strip().splitlines()[-1]), flush=True)

        parallel(install, run.guests.values())
        for name, guest in run.guests.items():
            active = guest.run("systemctl is-active dsvm-agent.service")
            report.check("%s: dsvm-agent.service is active" % name, active.ok, active.summary())
            held = guest.run("stat -c '%a %U' /etc/dsvm-agent/credentials/registry.key")
            report.check("%s: the registry key is stored root-only (600 root)" % name,
                         held.out.strip() == "600 root", held.summary())
        report.measure("setup_seconds", round(time.time() - report.started, 1))
        report.write()
        return 0
    except (CheckFailed, GuestError, subprocess.CalledProcessError, OSError) as error:
        return fail(run, report, error, kill=True)


def fail(run, report, error, kill=False):
    if not isinstance(error, CheckFailed):
        report.checks.append({"check": "harness", "ok": False, "detail": str(error)})
    report.write(error=str(error))
    print("\nFAILED %s: %s" % (report.name, error), file=sys.stderr)
    for name, guest in run.guests.items():
        print("\n--- %s serial log (tail), full log: %s ---\n%s"
              % (name, guest.serial_log, guest.serial_tail()), file=sys.stderr)
        if guest.running():
            try:
                journal = guest.run("journalctl -b --no-pager -n 40 -u dsvm-agent.service "
                                    "-u autofs.service -u dsvm-fake-imds.service", timeout=30)
                print("--- %s journal (tail) ---\n%s" % (name, journal.out), file=sys.stderr)
            except GuestError:
                pass
    if kill:
        for guest in run.guests.values():
            guest.kill()
    print("report: %s" % report.path, file=sys.stderr)
    return 1


def cleanup(args):
    run = Run(args.build_dir)
    report = Report("99-cleanup", run.reports)
    # The guests are throw-away (their overlays are deleted): pulling the plug is enough, and a
    # graceful poweroff would wait on node2's hard NFS mount of a node1 that is going away.
    for guest in run.guests.values():
        guest.kill()
    for guest in run.guests.values():
        report.check("%s is off" % guest.name, not guest.running())
        for path in (guest.pid_path, guest.qga_path, guest.qmp_path):
            if os.path.exists(path):
                os.unlink(path)
    report.write()
    return 0


def watchdog(args):
    """Kills the guests when a run is left behind (a killed ctest, a lost cleanup): once no
    step of the harness has started for `--idle` seconds."""
    run = Run(args.build_dir)
    while any(g.running() for g in run.guests.values()):
        try:
            idle = time.time() - os.stat(run.heartbeat).st_mtime
        except OSError:
            idle = args.idle + 1
        if idle > args.idle:
            for guest in run.guests.values():
                guest.kill()
            return 0
        time.sleep(10)
    return 0


def scenario(args):
    import scenarios

    run = Run(args.build_dir)
    function = scenarios.SCENARIOS.get(args.name)
    if function is None:
        print("e2e: unknown scenario %s; known: %s"
              % (args.name, ", ".join(sorted(scenarios.SCENARIOS))), file=sys.stderr)
        return 2
    report = Report(args.name, run.reports)
    run.beat()
    missing = [name for name, g in run.guests.items() if not g.running()]
    if missing:
        return fail(run, report, CheckFailed("guests running: %s is not (did setup pass?)"
                                             % ", ".join(missing)))
    try:
        function(run, report)
        report.write()
        print("scenario %s passed in %.0f s" % (args.name, time.time() - report.started))
        return 0
    except (CheckFailed, GuestError) as error:
        return fail(run, report, error)
    except Exception as error:
        traceback.print_exc()
        return fail(run, report, error)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--build-dir", required=True)
    p.add_argument("--agent", required=True)
    p.add_argument("--fake-imds", required=True)
    p = sub.add_parser("scenario")
    p.add_argument("name")
    p.add_argument("--build-dir", required=True)
    p = sub.add_parser("cleanup")
    p.add_argument("--build-dir", required=True)
    p = sub.add_parser("watchdog")
    p.add_argument("--build-dir", required=True)
    p.add_argument("--idle", type=int, required=True)
    args = parser.parse_args()
    if os.geteuid() != 0 or not shutil.which("qemu-system-x86_64"):
        # 77: ctest's SKIP_RETURN_CODE for the setup fixture.
        print("e2e: skipped: needs root (debootstrap, the image cache) and qemu-system-x86_64",
              file=sys.stderr)
        return 77 if args.command == "setup" else 1
    return {"setup": setup, "scenario": scenario, "cleanup": cleanup,
            "watchdog": watchdog}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
