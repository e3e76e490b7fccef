#!/usr/bin/env python3
"""The .deb built on Debian 12 installs and runs on Debian 12, Ubuntu 22.04 and Ubuntu 24.04.

Checked without those machines, from the binary and the package's control fields against the
archive data in tests/packaging/archives/ (its README says where every version comes from):

  sonames   every library the binary NEEDs is in all three releases (tests/packaging/archives/
            sonames), and Depends names the package that ships it in each of them;
  symbols   no versioned symbol the binary imports is newer than Ubuntu 22.04 (the oldest
            release) has, and every import is versioned: an unversioned one comes from a library
            whose ABI no symbol version pins, so no ceiling can be checked for it;
  depends   the Depends line resolves (dose-distcheck) against each release's package index,
            and no version floor in it is below what dpkg-shlibdeps finds the binary needs.

Usage: check_portable.py CHECK --deb DEB --archives DIR
The binary checked is the one in the .deb (/usr/sbin/dsvm-agent).
Exit status 0 when the check holds, 1 with one line per problem when it does not.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

RELEASES = ("bookworm", "jammy", "noble")

# The newest symbol version of each namespace that Ubuntu 22.04 (the oldest release) provides:
# glibc 2.35, libstdc++ and libgcc_s from GCC 12, util-linux 2.37, systemd 249, OpenSSL 3.0.2,
# libxcrypt 4.4.27, libcurl 7.81 built with OpenSSL. A namespace that is not listed is refused.
CEILINGS = {
    "GLIBC": "2.35",
    "GLIBCXX": "3.4.30",
    "CXXABI": "1.3.13",
    "GCC": "12.0.0",
    "MOUNT": "2.37",
    "LIBSYSTEMD": "249",
    "OPENSSL": "3.0.0",
    "XCRYPT": "4.4",
    "CURL_OPENSSL": "4",
}
# Unversioned weak references that every executable linked by GCC carries (transactional memory
# and profiling hooks); they are resolved to nothing when absent.
WEAK_UNVERSIONED = {"_ITM_deregisterTMCloneTable", "_ITM_registerTMCloneTable", "__gmon_start__"}


def run(*command, **kwargs):
    # The C locale: readelf's and objdump's words ("Shared library:") are parsed.
    environment = dict(os.environ, LC_ALL="C")
    return subprocess.run(command, check=True, capture_output=True, text=True, env=environment,
                          **kwargs).stdout


def version_key(text):
    return tuple(int(part) for part in text.split("."))


def needed_sonames(binary):
    output = run("readelf", "-d", "-W", binary)
    found = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", output)
    if not found:
        raise SystemExit(f"readelf found no NEEDED entry in {binary}: is it a dynamic executable?")
    return found


def depends_clauses(deb):
    """Depends as a list of clauses, each a list of (package, relation, version) alternatives."""
    text = run("dpkg-deb", "-f", deb, "Depends").strip()
    clauses = []
    for clause in text.split(","):
        alternatives = []
        for alternative in clause.split("|"):
            match = re.fullmatch(r"\s*([a-z0-9][a-z0-9+.-]*)(?::\w+)?\s*(?:\(\s*(<<|<=|=|>=|>>)\s*([^)\s]+)\s*\))?\s*",
                                 alternative)
            if not match:
                raise SystemExit(f"cannot parse Depends alternative {alternative!r} in {text!r}")
            alternatives.append(match.groups())
        clauses.append(alternatives)
    return text, clauses


def read_sonames(archives):
    table = {}
    with open(os.path.join(archives, "sonames"), encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 1 + len(RELEASES):
                raise SystemExit(f"archives/sonames: want a soname and {len(RELEASES)} packages: {line!r}")
            table[fields[0]] = dict(zip(RELEASES, fields[1:]))
    return table


def check_sonames(args):
    problems = []
    table = read_sonames(args.archives)
    depends_text, clauses = depends_clauses(args.deb)
    named = {alternative[0] for clause in clauses for alternative in clause}
    for soname in needed_sonames(args.binary):
        if soname not in table:
            problems.append(f"NEEDED {soname} is not a library all of {', '.join(RELEASES)} ship "
                            "(tests/packaging/archives/sonames): link it statically or header-only")
            continue
        for release, package in table[soname].items():
            if package not in named:
                problems.append(f"NEEDED {soname} comes from {package} on {release}, "
                                f"which Depends does not name: {depends_text}")
    return problems


def check_symbols(args):
    problems = []
    output = run("objdump", "-T", "-w", args.binary)
    for line in output.splitlines():
        if "*UND*" not in line:
            continue
        fields = line.split()
        symbol = fields[-1]
        # Version names such as GLIBC_2.34, CURL_OPENSSL_4 and, in newer libmount, MOUNT_2_38.
        match = re.search(r"\(([A-Z][A-Z_]*?)_([0-9][0-9._]*)\)", line)
        if not match:
            weak = len(fields) > 1 and fields[1] == "w"
            if not (weak and symbol in WEAK_UNVERSIONED):
                problems.append(f"{symbol} is imported without a symbol version: its library's ABI "
                                "is not pinned by any release")
            continue
        namespace, version = match.group(1), match.group(2).replace("_", ".")
        ceiling = CEILINGS.get(namespace)
        if ceiling is None:
            problems.append(f"{symbol}@{namespace}_{version}: no ceiling is known for {namespace}")
        elif version_key(version) > version_key(ceiling):
            problems.append(f"{symbol}@{namespace}_{version} is newer than Ubuntu 22.04 has "
                            f"({namespace}_{ceiling})")
    return problems


def shlibdeps(binary):
    """What dpkg-shlibdeps finds the binary needs, from this machine's shlibs and symbols files."""
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "debian"))
        with open(os.path.join(work, "debian", "control"), "w", encoding="utf-8") as control:
            control.write("Source: probe\n\nPackage: probe\nArchitecture: any\n")
        output = run("dpkg-shlibdeps", "-O", os.path.abspath(binary), cwd=work)
    line = next(l for l in output.splitlines() if l.startswith("shlibs:Depends="))
    found = {}
    for clause in line.split("=", 1)[1].split(","):
        match = re.fullmatch(r"\s*([a-z0-9][a-z0-9+.-]*)\s*(?:\(\s*>=\s*([^)\s]+)\s*\))?\s*", clause)
        if not match:
            raise SystemExit(f"cannot parse dpkg-shlibdeps output {line!r}")
        found[match.group(1)] = match.group(2)
    return found


def version_at_least(version, floor):
    return subprocess.run(["dpkg", "--compare-versions", version, "ge", floor]).returncode == 0


def check_depends(args):
    problems = []
    depends_text, clauses = depends_clauses(args.deb)
    floors = {}
    for clause in clauses:
        for package, relation, version in clause:
            if relation == ">=":
                floors[package] = version
    for package, needed in shlibdeps(args.binary).items():
        if package not in floors and not any(package == a[0] for c in clauses for a in c):
            problems.append(f"dpkg-shlibdeps finds the binary needs {package}, "
                            f"which Depends does not name: {depends_text}")
        elif needed and package in floors and not version_at_least(floors[package], needed):
            problems.append(f"Depends allows {package} (>= {floors[package]}), but the binary "
                            f"needs {package} (>= {needed}) (dpkg-shlibdeps)")
        elif needed and package not in floors:
            problems.append(f"Depends names {package} without a floor; the binary needs >= {needed}")

    control = {field: run("dpkg-deb", "-f", args.deb, field).strip()
               for field in ("Package", "Version", "Architecture", "Depends")}
    stanza = "".join(f"{field}: {value}\n" for field, value in control.items())
    with tempfile.TemporaryDirectory() as work:
        probe = os.path.join(work, "dsvm-agent.packages")
        with open(probe, "w", encoding="utf-8") as out:
            out.write(stanza)
        for release in RELEASES:
            # The package in the foreground, the release's index as the background it must
            # resolve in; -e explains a failure, -f lists the broken package.
            result = subprocess.run(
                ["dose-distcheck", "--deb-native-arch=amd64", "-e", "-f", f"deb://{probe}",
                 "--bg", f"deb://{os.path.join(os.path.abspath(args.archives), release)}.packages"],
                capture_output=True, text=True)
            if result.returncode != 0:
                why = "; ".join(sorted(set(re.findall(r"unsat-dependency: ([^\n]+)", result.stdout)))) or (
                    result.stdout + result.stderr).strip().replace("\n", " ")[:400]
                problems.append(f"Depends does not resolve on {release}: {why}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("sonames", "symbols", "depends"))
    parser.add_argument("--deb", required=True)
    parser.add_argument("--archives", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tree:
        run("dpkg-deb", "-x", args.deb, tree)
        args.binary = os.path.join(tree, "usr", "sbin", "dsvm-agent")
        return report(args)


def report(args):
    problems = {"sonames": check_sonames, "symbols": check_symbols,
                "depends": check_depends}[args.check](args)
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    print(f"{args.check}: ok for {', '.join(RELEASES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
