#!/usr/bin/env python3
"""Each library is a namespace: every file of a library's folder declares its names in that
library's namespace and no other.

common/ is the project's vocabulary (Result, Root, Clock, Fd ...) and lives in `dsvm` itself;
every other library is `dsvm::<folder>` (linux/ is `dsvm::linux_platform`: `linux` is a macro in
GNU C++), so a name says where it is from: `mount::Mounter`, `config::PoolConfig`. Headers name
other libraries' types qualified; a .cpp file may import, inside its own namespace, the
namespaces of the libraries it includes (`using namespace dsvm::config;`), never in a header.
Nested namespaces (`dsvm::config::rules`) and anonymous ones are allowed.

Usage: check_namespaces.py SOURCE_DIR
Exit status 0 when every file keeps to it; 1 with one line per problem (path:line: what) when
one does not.
"""

import argparse
import os
import re
import sys

NAMESPACES = {
    "common": "dsvm",
    "mount": "dsvm::mount",
    "users": "dsvm::users",
    "config": "dsvm::config",
    "engine": "dsvm::engine",
    "extension": "dsvm::extension",
    "service": "dsvm::service",
    "cli": "dsvm::cli",
    "linux": "dsvm::linux_platform",
    "windows": "dsvm::windows_platform",
}
SOURCE_SUFFIXES = (".h", ".cpp")
# Files that hold main() and may declare nothing in a namespace of their own.
ENTRY_POINTS = {"main.cpp"}
# Namespaces opened at the start of a line: named, anonymous ("namespace {") or inline.
OPENING = re.compile(r"^(inline\s+)?namespace(?:\s+([A-Za-z_][\w:]*))?\s*\{")
EMPTY = re.compile(r"^(inline\s+)?namespace(?:\s+[A-Za-z_][\w:]*)?\s*\{\s*\}")
# Every namespace the tree opens is closed with clang-format's comment: "}  // namespace x".
CLOSING = re.compile(r"^\}\s*//\s*namespace\b")
USING_DIRECTIVE = re.compile(r"^\s*using\s+namespace\s+")


def owner(name):
    """The library namespace `name` is in: the longest one it equals or is nested in."""
    candidates = [ns for ns in NAMESPACES.values() if name == ns or name.startswith(ns + "::")]
    return max(candidates, key=len, default=None)


def problems_in(path, shown, expected):
    found = []
    opened = False
    stack = []  # the namespaces open at this line: names, "" for an anonymous one
    with open(path, encoding="utf-8", errors="replace") as source:
        for number, line in enumerate(source, 1):
            match = OPENING.match(line)
            if match:
                name = match.group(2) or ""
                ours = owner(name) == expected
                if name and not stack and not ours:
                    found.append(f"{shown}:{number}: namespace {name}, not {expected}")
                opened = opened or (ours and not stack)
                if not EMPTY.match(line):  # "namespace {}  // namespace" closes at once
                    stack.append(name)
            elif CLOSING.match(line) and stack:
                stack.pop()
            if USING_DIRECTIVE.match(line):
                inside = any(owner(n) == expected for n in stack if n)
                if path.endswith(".h"):
                    found.append(f"{shown}:{number}: a using-directive in a header")
                elif not inside:
                    found.append(
                        f"{shown}:{number}: a using-directive outside the file's namespace")
    if not opened and os.path.basename(path) not in ENTRY_POINTS:
        found.append(f"{shown}: declares nothing in {expected}")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("source_dir")
    arguments = parser.parse_args()

    problems = []
    checked = 0
    for folder, expected in NAMESPACES.items():
        top = os.path.join(arguments.source_dir, folder)
        if not os.path.isdir(top):
            problems.append(f"{folder}/: no such folder in {arguments.source_dir}")
            continue
        for directory, subdirectories, files in os.walk(top):
            subdirectories.sort()
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                path = os.path.join(directory, name)
                shown = os.path.relpath(path, arguments.source_dir)
                checked += 1
                problems.extend(problems_in(path, shown, expected))
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {checked} files", file=sys.stderr)
        return 1
    print(f"{checked} files, each in its library's namespace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
