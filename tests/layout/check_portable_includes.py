#!/usr/bin/env python3
"""No file in config/, engine/, service/ or cli/ includes a POSIX, Linux or Windows header.

Nor one of the Linux backends' own headers (the account files, homes, the autofs map, fstab):
the engine and the command line reach those only through their ports (engine/share_backend.h,
engine/account_backend.h), whose Linux side is in linux/.

Those folders are the portable part of the agent: the system calls are behind the seams in
common/ and the backends (mount/, users/, the service host), and main() with its platform's
backends and process setup is in linux/ and windows/. CMake picks the platform's sources, so a
Windows build compiles these folders as they are.

Usage: check_portable_includes.py SOURCE_DIR
Exit status 0 when no file there includes a listed header; 1 with one line per include
(path:line: header) when one does. There are no exceptions: a call the portable code needs goes
behind a seam.
"""

import argparse
import os
import re
import sys

PORTABLE_DIRS = ("config", "engine", "service", "cli")
SOURCE_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".cxx")

# Headers of POSIX and of Linux (glibc, the kernel, the Linux libraries the backends use) that
# are not C or C++ standard ones. <errno.h>, <cerrno>, <string.h>, <stdio.h> ... are standard.
HEADERS = {
    "aio.h", "alloca.h", "byteswap.h", "crypt.h", "dirent.h", "dlfcn.h", "endian.h", "err.h",
    "error.h", "execinfo.h", "fcntl.h", "features.h", "fnmatch.h", "fstab.h", "ftw.h", "fts.h",
    "glob.h", "grp.h", "iconv.h", "ifaddrs.h", "langinfo.h", "libgen.h", "libmount.h",
    "malloc.h", "mntent.h", "mqueue.h", "netdb.h", "nl_types.h", "paths.h", "poll.h",
    "pthread.h", "pty.h", "pwd.h", "regex.h", "resolv.h", "sched.h", "search.h", "semaphore.h",
    "shadow.h", "signal.h", "spawn.h", "stdio_ext.h", "strings.h", "sysexits.h", "syslog.h",
    "termio.h", "termios.h", "ucontext.h", "ulimit.h", "unistd.h", "utime.h", "utmp.h",
    "utmpx.h", "wordexp.h",
}
# Windows' own headers: the Windows side of a seam is in windows/ or a *_win32.cpp file.
HEADERS |= {
    "windows.h", "winbase.h", "windef.h", "winnt.h", "winerror.h", "winternl.h", "ntstatus.h",
    "winhttp.h", "winsvc.h", "wincrypt.h", "bcrypt.h", "ncrypt.h", "lm.h", "lmaccess.h",
    "aclapi.h", "sddl.h", "accctrl.h", "shlobj.h", "winsock2.h", "ws2tcpip.h", "wbemidl.h",
    "objbase.h", "io.h", "direct.h", "conio.h", "winioctl.h", "userenv.h",
}
# Folders of such headers: <sys/stat.h>, <linux/fs.h>, <systemd/sd-daemon.h> ...
PREFIXES = (
    "sys/", "arpa/", "net/", "netinet/", "netpacket/", "linux/", "asm/", "bits/", "gnu/",
    "libmount/", "blkid/", "systemd/", "security/", "selinux/",
)

# The Linux backends' headers in this tree, which only linux/ and the backends themselves use.
BACKEND_HEADERS = {
    "users/accounts.h", "users/notebooks.h", "users/ssh_keys.h", "users/password.h",
    "users/account_plan.h", "mount/automount.h", "mount/fstab_file.h",
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def forbidden(header):
    # Windows' file names ignore case: <Windows.h> is <windows.h>.
    header = header.strip().lower()
    return header in HEADERS or header.startswith(PREFIXES)


def checked_files(source_dir):
    for folder in PORTABLE_DIRS:
        top = os.path.join(source_dir, folder)
        if not os.path.isdir(top):
            yield None, folder
            continue
        for directory, subdirectories, files in os.walk(top):
            subdirectories.sort()
            for name in sorted(files):
                if name.endswith(SOURCE_SUFFIXES):
                    path = os.path.join(directory, name)
                    yield path, os.path.relpath(path, source_dir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source_dir")
    arguments = parser.parse_args()

    problems = []
    checked = 0
    for path, shown in checked_files(arguments.source_dir):
        if path is None:
            problems.append(f"{shown}/: no such folder in {arguments.source_dir}")
            continue
        checked += 1
        with open(path, encoding="utf-8", errors="replace") as source:
            for number, line in enumerate(source, 1):
                match = INCLUDE.match(line)
                if match and match.group(1) == '"' and match.group(2).strip() in BACKEND_HEADERS:
                    problems.append(f"{shown}:{number}: includes \"{match.group(2).strip()}\", "
                                    "a Linux backend's header: go through the engine's ports "
                                    "(engine/share_backend.h, engine/account_backend.h)")
                elif match and forbidden(match.group(2)):
                    opening, header = match.group(1), match.group(2).strip()
                    closing = ">" if opening == "<" else '"'
                    problems.append(f"{shown}:{number}: includes {opening}{header}{closing}, "
                                    "a POSIX or Linux header: call it through common/ or a "
                                    "backend instead")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    if checked == 0:
        print(f"no source file found under {', '.join(PORTABLE_DIRS)} in {arguments.source_dir}")
        return 1
    print(f"{checked} files in {', '.join(PORTABLE_DIRS)} include no POSIX, Linux or Windows "
          "header, nor a Linux backend's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
