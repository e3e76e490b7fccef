#!/usr/bin/env python3
"""The layout checks themselves: each is run on a small tree made here, first clean (it must
pass), then with one planted fault at a time (it must fail and name the file and line).

Usage: test_layout_checks.py LAYOUT_DIR   (the folder holding the checks)
"""

import os
import subprocess
import sys
import tempfile

FOLDERS = ("common", "mount", "users", "config", "engine", "extension", "service", "cli", "linux",
           "windows")
NAMESPACES = {"common": "dsvm", "linux": "dsvm::linux_platform",
              "windows": "dsvm::windows_platform"}


def clean_tree(root):
    for folder in FOLDERS:
        os.makedirs(os.path.join(root, folder))
        namespace = NAMESPACES.get(folder, "dsvm::" + folder)
        with open(os.path.join(root, folder, "a.h"), "w") as header:
            header.write(f"#pragma once\n#include <string>\nnamespace {namespace} {{\n"
                         f"namespace {{}}  // namespace\n}}  // namespace {namespace}\n")
        with open(os.path.join(root, folder, "a.cpp"), "w") as source:
            source.write(f"#include \"{folder}/a.h\"\nnamespace {namespace} {{\n"
                         f"using namespace dsvm::mount;\nnamespace {{\n}}  // namespace\n"
                         f"}}  // namespace {namespace}\n")
    with open(os.path.join(root, "linux", "main.cpp"), "w") as main:
        main.write("int main() { return 0; }\n")


def run(check, root):
    done = subprocess.run([sys.executable, check, root], capture_output=True, text=True)
    return done.returncode, done.stdout


# (check, file, text, what the failure must name)
FAULTS = [
    ("check_namespaces.py", "engine/b.h",
     "#pragma once\nnamespace dsvm::cli {\n}  // namespace dsvm::cli\n",
     "engine/b.h:2: namespace dsvm::cli, not dsvm::engine"),
    ("check_namespaces.py", "engine/b.h",
     "#pragma once\nnamespace dsvm::engine {\nusing namespace dsvm::mount;\n"
     "}  // namespace dsvm::engine\n",
     "engine/b.h:3: a using-directive in a header"),
    ("check_namespaces.py", "engine/b.cpp",
     "namespace {\nusing namespace dsvm::mount;\n}  // namespace\n"
     "namespace dsvm::engine {\n}  // namespace dsvm::engine\n",
     "engine/b.cpp:2: a using-directive outside the file's namespace"),
    ("check_namespaces.py", "users/b.h", "#pragma once\n#include \"users/a.h\"\n",
     "users/b.h: declares nothing in dsvm::users"),
    ("check_namespaces.py", "common/b.h",
     "#pragma once\nnamespace dsvm::mount {\n}  // namespace dsvm::mount\n",
     "common/b.h:2: namespace dsvm::mount, not dsvm"),
    ("check_portable_includes.py", "engine/b.cpp",
     "#include <unistd.h>\nnamespace dsvm::engine {\n}  // namespace dsvm::engine\n",
     "engine/b.cpp:1: includes <unistd.h>"),
    ("check_portable_includes.py", "service/b.h", "#pragma once\n#include <sys/stat.h>\n",
     "service/b.h:2: includes <sys/stat.h>"),
    ("check_portable_includes.py", "cli/b.cpp",
     "#include <Windows.h>\nnamespace dsvm::cli {\n}  // namespace dsvm::cli\n",
     "cli/b.cpp:1: includes <Windows.h>"),
    ("check_portable_includes.py", "engine/c.cpp",
     '#include "users/accounts.h"\nnamespace dsvm::engine {\n}  // namespace dsvm::engine\n',
     'engine/c.cpp:1: includes "users/accounts.h", a Linux backend'),
]


def main():
    layout = sys.argv[1]
    failures = []
    for check in ("check_namespaces.py", "check_portable_includes.py"):
        with tempfile.TemporaryDirectory() as root:
            clean_tree(root)
            status, output = run(os.path.join(layout, check), root)
            if status != 0:
                failures.append(f"{check} refuses a clean tree:\n{output}")
    for check, name, text, expected in FAULTS:
        with tempfile.TemporaryDirectory() as root:
            clean_tree(root)
            with open(os.path.join(root, name), "w") as planted:
                planted.write(text)
            status, output = run(os.path.join(layout, check), root)
            if status != 1 or expected not in output:
                failures.append(f"{check} on {name}: status {status}, expected '{expected}' in:\n"
                                f"{output}")
    for failure in failures:
        print(failure)
    print(f"{len(FAULTS)} planted faults, {len(failures)} check failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
