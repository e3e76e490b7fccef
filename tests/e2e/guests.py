"""QEMU guests for the e2e tests: boot, drive through qemu-guest-agent, power off.

Each guest runs under software emulation (-accel tcg) with no network but a private link to the
other guest over host loopback (-netdev socket). The host talks to it through qemu-guest-agent
on a virtio-serial port (a unix socket in the run directory) and reads files from a read-only
9p share (the payload: the agent's .deb, the fake metadata service, configs).
"""

import base64
import json
import os
import signal
import socket
import subprocess
import time

# node name -> (link MAC, link address); the guest image's networkd files match these MACs.
NODES = {
    "node1": ("52:54:00:77:00:01", "10.77.0.1"),
    "node2": ("52:54:00:77:00:02", "10.77.0.2"),
}
GUEST_MEMORY_MIB = 1280


class GuestError(Exception):
    pass


class CommandResult:
    def __init__(self, command, exitcode, out, err, seconds):
        self.command = command
        self.exitcode = exitcode
        self.out = out
        self.err = err
        self.seconds = seconds

    @property
    def ok(self):
        return self.exitcode == 0

    def summary(self, limit=600):
        text = (self.out + self.err).strip()
        if len(text) > limit:
            text = "..." + text[-limit:]
        return "exit %s: %s" % (self.exitcode, text)


class Guest:
    """One guest, known by its name and the run directory that holds its sockets and logs."""

    def __init__(self, name, run_dir):
        self.name = name
        self.run_dir = run_dir
        self.qga_path = os.path.join(run_dir, name + ".qga")
        self.qmp_path = os.path.join(run_dir, name + ".qmp")
        self.pid_path = os.path.join(run_dir, name + ".pid")
        self.serial_log = os.path.join(run_dir, name + ".serial.log")
        self.overlay = os.path.join(run_dir, name + ".qcow2")
        self.start_path = os.path.join(run_dir, name + ".start.json")

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, image_dir, payload_dir, link_port, listen, fresh=True):
        """Boots the guest: on a new overlay of the image when fresh, else on the overlay it
        already has (a power cycle)."""
        mac, _ = NODES[self.name]
        for path in (self.qga_path, self.qmp_path, self.pid_path):
            if os.path.exists(path):
                os.unlink(path)
        if fresh:
            if os.path.exists(self.overlay):
                os.unlink(self.overlay)
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-b",
                 os.path.join(image_dir, "base.img"), "-F", "raw", self.overlay],
                check=True)
        with open(self.start_path, "w") as f:
            json.dump({"image_dir": image_dir, "payload_dir": payload_dir,
                       "link_port": link_port, "listen": listen}, f)
        link = ("listen" if listen else "connect") + "=127.0.0.1:%d" % link_port
        argv = [
            "qemu-system-x86_64", "-accel", "tcg", "-machine", "q35",
            "-cpu", "max", "-smp", "1", "-m", str(GUEST_MEMORY_MIB),
            "-name", self.name, "-display", "none", "-daemonize", "-pidfile", self.pid_path,
            # A reboot ends QEMU and the harness starts it again (see reboot()).
            "-no-reboot",
            "-nic", "none",
            "-netdev", "socket,id=link," + link,
            "-device", "virtio-net-pci,netdev=link,mac=" + mac,
            "-drive", "file=%s,format=qcow2,if=virtio,cache=unsafe" % self.overlay,
            "-kernel", os.path.join(image_dir, "vmlinuz"),
            "-initrd", os.path.join(image_dir, "initrd.img"),
            "-append", "console=ttyS0 root=/dev/vda rw systemd.hostname=%s "
                       "systemd.show_status=auto loglevel=4" % self.name,
            "-chardev", "file,id=serial,path=" + self.serial_log + ",append=on",
            "-serial", "chardev:serial",
            "-chardev", "socket,id=qga,path=%s,server=on,wait=off" % self.qga_path,
            "-device", "virtio-serial-pci",
            "-device", "virtserialport,chardev=qga,name=org.qemu.guest_agent.0",
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path,
            "-virtfs", "local,path=%s,mount_tag=payload,security_model=none,readonly=on"
                       % payload_dir,
        ]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise GuestError("%s: qemu did not start: %s" % (self.name, result.stderr.strip()))

    def pid(self):
        try:
            with open(self.pid_path) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.pid()
        if pid is None:
            return False
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return b"qemu-system" in f.read()
        except OSError:
            return False

    def kill(self):
        """Ends this guest's qemu (only the process recorded in its own pid file)."""
        pid = self.pid()
        if pid is not None and self.running():
            os.kill(pid, signal.SIGTERM)
            for _ in range(50):
                if not self.running():
                    break
                time.sleep(0.1)
            if self.running():
                os.kill(pid, signal.SIGKILL)
        for path in (self.overlay,):
            if os.path.exists(path):
                os.unlink(path)

    def serial_tail(self, lines=40):
        try:
            with open(self.serial_log, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return "(no serial log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---- qemu-guest-agent ------------------------------------------------------------------

    def _qga(self, request, timeout=10):
        """One request on a fresh connection, synchronised with guest-sync-delimited so no
        stale reply from an earlier connection is taken for this one."""
        if not self.running():
            raise GuestError("%s is not running" % self.name)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(self.qga_path)
            token = int(time.time() * 1000) % 1000000007
            sock.sendall(b"\xff" + json.dumps(
                {"execute": "guest-sync-delimited", "arguments": {"id": token}}).encode())
            buffer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    raise GuestError("%s: guest agent closed the connection" % self.name)
                buffer += chunk
                if b"\xff" in buffer:
                    buffer = buffer[buffer.rindex(b"\xff") + 1:]
                    if b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        reply = json.loads(line)
                        if reply.get("return") == token:
                            break
            sock.sendall(json.dumps(request).encode() + b"\n")
            while b"\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise GuestError("%s: guest agent closed the connection" % self.name)
                buffer += chunk
            reply = json.loads(buffer.split(b"\n", 1)[0])
        except (OSError, ValueError) as error:
            raise GuestError("%s: guest agent: %s" % (self.name, error))
        finally:
            sock.close()
        if "error" in reply:
            raise GuestError("%s: guest agent: %s" % (self.name, reply["error"]))
        return reply.get("return")

    def wait_for_agent(self, timeout):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if not self.running():
                raise GuestError("%s: qemu exited during boot" % self.name)
            try:
                self._qga({"execute": "guest-ping"}, timeout=3)
                return
            except GuestError as error:
                last = error
                time.sleep(2)
        raise GuestError("%s: no guest agent after %d s (%s)" % (self.name, timeout, last))

    def run(self, command, stdin=None, timeout=120):
        """Runs `command` with /bin/sh -c as root in the guest; returns a CommandResult.
        The command is wrapped in timeout(1) so a hang in the guest ends there too."""
        started = time.time()
        arguments = {
            "path": "/usr/bin/timeout",
            "arg": ["-k", "5", str(int(timeout)), "/bin/sh", "-c", command],
            "capture-output": True,
        }
        if stdin is not None:
            data = stdin.encode() if isinstance(stdin, str) else stdin
            arguments["input-data"] = base64.b64encode(data).decode()
        pid = self._qga({"execute": "guest-exec", "arguments": arguments})["pid"]
        deadline = started + timeout + 30
        delay = 0.1
        while True:
            status = self._qga({"execute": "guest-exec-status", "arguments": {"pid": pid}})
            if status.get("exited"):
                break
            if time.time() > deadline:
                raise GuestError("%s: command did not end in %d s: %s"
                                 % (self.name, timeout, command))
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        out = base64.b64decode(status.get("out-data", "")).decode("utf-8", "replace")
        err = base64.b64decode(status.get("err-data", "")).decode("utf-8", "replace")
        code = status.get("exitcode")
        if code is None:
            code = 128 + status.get("signal", 0)
        return CommandResult(command, code, out, err, time.time() - started)

    def must(self, command, stdin=None, timeout=120):
        result = self.run(command, stdin=stdin, timeout=timeout)
        if not result.ok:
            raise GuestError("%s: `%s` failed, %s" % (self.name, command, result.summary()))
        return result.out

    def wait_until(self, command, timeout, interval=2):
        """Runs `command` until it succeeds; returns (result, seconds waited)."""
        started = time.time()
        while True:
            result = self.run(command, timeout=max(30, interval * 5))
            if result.ok or time.time() - started > timeout:
                return result, time.time() - started
            time.sleep(interval)

    def reboot(self, timeout=300):
        """Reboots the guest: systemd's full reboot inside, then a cold start of QEMU on the
        same disk (-no-reboot makes the guest's reset end QEMU). Warm resets under TCG showed
        minutes of soft lockups in the next boot's kernel; a power cycle boots like the first
        time. Returns the old boot ID, so the caller can tell the new boot from the old one."""
        boot_id = self.must("cat /proc/sys/kernel/random/boot_id").strip()
        self.must("systemd-run --no-block --on-active=1 /bin/systemctl reboot", timeout=20)
        deadline = time.time() + timeout
        while self.running():
            if time.time() > deadline:
                raise GuestError("%s: still shutting down after %d s" % (self.name, timeout))
            time.sleep(1)
        with open(self.start_path) as f:
            saved = json.load(f)
        self.start(saved["image_dir"], saved["payload_dir"], saved["link_port"], saved["listen"],
                   fresh=False)
        return boot_id
