#!/usr/bin/env python3
"""Checks the Windows VM extension handler package (docs/extension.md, "Windows").

Usage: check_windows_handler_zip.py ZIP | --self-test

The zip must hold HandlerManifest.json at its top, a one-element array whose handlerManifest
names the five commands; each command must be a file in the zip (the Windows guest agent runs it
from the handler directory), a .cmd script with Windows line ends that runs the installed
dsvm-agent.exe with `extension <operation>`; updateMode must be UpdateWithInstall (the new
version's install removes the old version's copied status, docs/extension.md); exactly one
dsvm-agent-<version>-x64.msi; and no key: no certificate or key file, and no text that looks like
a private key or a storage key setting. --self-test plants each fault in a good zip and expects
the check to find it.
"""
import io
import json
import re
import sys
import zipfile

OPERATIONS = ("install", "enable", "disable", "update", "uninstall")
KEY_FILE = re.compile(r"\.(pfx|p12|pem|key|prv|crt|cer)$", re.IGNORECASE)
KEY_TEXT = re.compile(
    rb"PRIVATE KEY|storageAccountKey|registryKey|AccountKey=|sig=[A-Za-z0-9%]{20,}")
MSI = re.compile(r"^dsvm-agent-[0-9]+\.[0-9]+\.[0-9]+-x64\.msi$")


def problems(data):
    """The problems of the zip in `data` (bytes), one sentence each."""
    found = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        return [f"not a zip: {error}"]
    names = archive.namelist()
    if "HandlerManifest.json" not in names:
        return ["no HandlerManifest.json at the top of the zip"]
    try:
        manifest = json.loads(archive.read("HandlerManifest.json"))
        handler = manifest[0]["handlerManifest"]
        if len(manifest) != 1:
            found.append("HandlerManifest.json must be a one-element array")
    except (ValueError, KeyError, IndexError, TypeError) as error:
        return [f"HandlerManifest.json is not a handler manifest: {error!r}"]
    if handler.get("updateMode") != "UpdateWithInstall":
        found.append(f"updateMode is {handler.get('updateMode')!r}, not 'UpdateWithInstall'")
    for operation in OPERATIONS:
        command = handler.get(f"{operation}Command")
        if not command:
            found.append(f"the manifest names no {operation}Command")
            continue
        script = command.split()[0]
        if script not in names:
            found.append(f"{operation}Command {command!r}: {script} is not in the zip")
            continue
        text = archive.read(script)
        if not script.endswith(".cmd"):
            found.append(f"{operation}Command {command!r} is not a .cmd script")
        if b"\n" in text.replace(b"\r\n", b""):
            found.append(f"{script} has a line end without CR (cmd.exe needs CRLF)")
        if b'cd /d "%~dp0"' not in text:
            found.append(f"{script} does not change to its own folder (cd /d \"%~dp0\"), where "
                         f"HandlerEnvironment.json is")
        if f"dsvm-agent.exe\" extension {operation}".encode() not in text:
            found.append(f"{script} does not run the installed dsvm-agent.exe extension {operation}")
    msis = [name for name in names if MSI.match(name)]
    if len(msis) != 1:
        found.append(f"the zip must hold one dsvm-agent-<version>-x64.msi, not {msis}")
    for name in names:
        if KEY_FILE.search(name):
            found.append(f"{name} looks like a certificate or key file")
        if not name.endswith(".msi") and KEY_TEXT.search(archive.read(name)):
            found.append(f"{name} holds text that looks like a key")
    return found


def zip_of(files):
    """A zip holding {name: bytes or text}."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


def rezip(data, change):
    """A copy of the zip in `data` with `change(files)` applied to its {name: bytes}."""
    source = zipfile.ZipFile(io.BytesIO(data))
    files = {name: source.read(name) for name in source.namelist()}
    change(files)
    return zip_of(files)


def good_zip():
    manifest = {"installCommand": "install.cmd", "enableCommand": "enable.cmd",
                "disableCommand": "disable.cmd", "updateCommand": "update.cmd",
                "uninstallCommand": "uninstall.cmd", "updateMode": "UpdateWithInstall"}
    files = {"HandlerManifest.json": json.dumps([{"version": 1.0, "handlerManifest": manifest}]),
             "dsvm-agent-0.1.0-x64.msi": b"\xd0\xcf\x11\xe0 not really an MSI"}
    for operation in OPERATIONS:
        files[f"{operation}.cmd"] = (
            f"@echo off\r\ncd /d \"%~dp0\"\r\n"
            f"\"%ProgramW6432%\\dsvm-agent\\dsvm-agent.exe\" extension {operation}"
            "\r\n").encode()
    return zip_of(files)


def set_manifest(files, **changes):
    manifest = json.loads(files["HandlerManifest.json"])
    manifest[0]["handlerManifest"].update(changes)
    files["HandlerManifest.json"] = json.dumps(manifest)


def self_test():
    good = good_zip()
    if problems(good):
        print(f"self-test: the good zip fails: {problems(good)}")
        return 1
    faults = {
        "no manifest": lambda f: f.pop("HandlerManifest.json"),
        "UpdateWithoutInstall": lambda f: set_manifest(f, updateMode="UpdateWithoutInstall"),
        "a command that is not in the zip": lambda f: f.pop("enable.cmd"),
        "a command the manifest lacks": lambda f: set_manifest(f, disableCommand=""),
        "LF line ends": lambda f: f.update({"update.cmd": f["update.cmd"].replace(b"\r\n", b"\n")}),
        "a script that runs another operation": lambda f: f.update(
            {"disable.cmd": f["enable.cmd"]}),
        "a script run in the guest agent's folder": lambda f: f.update(
            {"enable.cmd": f["enable.cmd"].replace(b'cd /d "%~dp0"\r\n', b"")}),
        "no MSI": lambda f: f.pop("dsvm-agent-0.1.0-x64.msi"),
        "a key file": lambda f: f.update({"vm.prv": b"..."}),
        "a private key in a script": lambda f: f.update(
            {"install.cmd": f["install.cmd"] + b"rem -----BEGIN PRIVATE KEY-----\r\n"}),
        "a storage key setting": lambda f: f.update(
            {"settings.json": b'{"storageAccountKey": "abc"}'}),
    }
    failed = 0
    for name, fault in faults.items():
        if not problems(rezip(good, fault)):
            print(f"self-test: the check misses: {name}")
            failed = 1
    return failed


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 2:
        print(__doc__)
        return 2
    with open(argv[1], "rb") as zip_file:
        found = problems(zip_file.read())
    for problem in found:
        print(f"{argv[1]}: {problem}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
