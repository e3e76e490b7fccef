#!/usr/bin/env python3
"""The scale-set template (packaging/azure/dsvm-pool.json): valid JSON with the reference
template's parameters, every parameter and variable it uses declared, the storage key and the
pool registry keys securestrings that reach only the extension's protectedSettings, the image
chosen by one `image` parameter (the Ubuntu 22.04 Data Science VM by default), and public
settings that the agent itself accepts as a pool config.

usage: check_template.py TEMPLATE DSVM_AGENT_BINARY
"""
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


template_path, agent = sys.argv[1], sys.argv[2]
template = json.loads(Path(template_path).read_text())
params = template["parameters"]

# The reference template's parameters (REFERENCE.md §1), with its defaults and limits.
for name in ("vmSku", "vmssName", "instanceCount", "adminUsername", "adminPassword",
             "storageAccountName", "storageAccountKey", "shareName", "mountpointPath"):
    check(name in params, f"parameter {name} is missing")
check(params.get("shareName", {}).get("defaultValue") == "dsvmshare", "shareName default")
check(params.get("mountpointPath", {}).get("defaultValue") == "/datamnt/dsvmshare",
      "mountpointPath default")
check(params.get("instanceCount", {}).get("maxValue") == 100, "instanceCount maxValue 100")
# The secrets the extension takes in its protected settings, each a parameter of the same name.
protected_keys = ("storageAccountKey", "registryKey", "previousRegistryKey")
for secret in protected_keys + ("adminPassword",):
    check(secret in params, f"parameter {secret} is missing")
    check(params.get(secret, {}).get("type") == "securestring", f"{secret} is not a securestring")
# The registry key has no default: the pool needs one, and the admin must keep it.
registry_key = params.get("registryKey", {})
check("defaultValue" not in registry_key, "registryKey must be required (no defaultValue)")
description = registry_key.get("metadata", {}).get("description", "")
for text in ("openssl rand -base64 32", "keep", "previousRegistryKey"):
    check(text in description, f"registryKey's description does not mention '{text}'")
check(params.get("previousRegistryKey", {}).get("defaultValue") == "",
      "previousRegistryKey must default to empty (no previous key)")


# Every place a parameter is used.
def uses(node, path, name):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from uses(value, path + [key], name)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from uses(value, path + [str(index)], name)
    elif isinstance(node, str) and f"parameters('{name}')" in node:
        yield "/".join(path)


# Every parameter and variable the template uses is declared: Azure refuses a template that
# names one it lacks, and nothing here would notice otherwise.
template_text = json.dumps(template)
for kind, declared in (("parameters", params), ("variables", template.get("variables", {}))):
    for name in sorted(set(re.findall(kind + r"\('([^']+)'\)", template_text))):
        check(name in declared, f"{kind}('{name}') is used but not declared")

# The image: one parameter whose allowed values name complete image references, mapped through a
# variable; the Ubuntu 22.04 Data Science VM by default. A typo here is a failed deployment.
EXPECTED_IMAGES = {
    "dsvm-ubuntu-2204": {"publisher": "microsoft-dsvm", "offer": "ubuntu-2204",
                         "sku": "2204-gen2", "version": "latest"},
    "ubuntu-2404": {"publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server",
                    "version": "latest"},
    "debian-12": {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2",
                  "version": "latest"},
}
DEFAULT_IMAGE = "dsvm-ubuntu-2204"
for old in ("imagePublisher", "imageOffer", "imageSku"):
    check(old not in params, f"parameter {old} is replaced by 'image'")
image = params.get("image", {})
allowed = image.get("allowedValues", [])
check(image.get("type") == "string", "parameter image must be a string")
check(sorted(allowed) == sorted(EXPECTED_IMAGES),
      f"image's allowedValues must be exactly {sorted(EXPECTED_IMAGES)}; they are {allowed}")
check(image.get("defaultValue") == DEFAULT_IMAGE,
      f"image must default to {DEFAULT_IMAGE}; it defaults to {image.get('defaultValue')}")
scale_sets = [r for r in template["resources"]
              if r["type"] == "Microsoft.Compute/virtualMachineScaleSets"]
reference = (scale_sets[0]["properties"]["virtualMachineProfile"]["storageProfile"]
             .get("imageReference") if scale_sets else None)
mapping_use = re.fullmatch(r"\[variables\('([^']+)'\)\[parameters\('image'\)\]\]",
                           reference if isinstance(reference, str) else "")
check(mapping_use is not None,
      "the scale set's imageReference must be [variables('<map>')[parameters('image')]]; "
      f"it is {reference}")
if mapping_use:
    mapping = template.get("variables", {}).get(mapping_use.group(1), {})
    check(isinstance(mapping, dict) and sorted(mapping) == sorted(allowed),
          f"variables('{mapping_use.group(1)}') must map exactly the allowed images {allowed}; "
          f"it maps {sorted(mapping) if isinstance(mapping, dict) else mapping}")
    for value in allowed:
        ref = mapping.get(value) if isinstance(mapping, dict) else None
        complete = (isinstance(ref, dict)
                    and sorted(ref) == ["offer", "publisher", "sku", "version"]
                    and all(isinstance(v, str) and v and not v.startswith("[")
                            for v in ref.values()))
        check(complete, f"image {value} must map to a complete literal image reference "
              f"(publisher, offer, sku, version); it maps to {ref}")
        check(ref == EXPECTED_IMAGES.get(value),
              f"image {value} must map to {EXPECTED_IMAGES.get(value)}; it maps to {ref}")
    default_ref = mapping.get(image.get("defaultValue")) if isinstance(mapping, dict) else None
    check(default_ref == EXPECTED_IMAGES[DEFAULT_IMAGE],
          f"the default image must be the Ubuntu 22.04 Data Science VM "
          f"{EXPECTED_IMAGES[DEFAULT_IMAGE]}; it is {default_ref}")

# Each key is used once: as the value of its own field in the extension's protectedSettings.
for secret in protected_keys:
    key_uses = list(uses(template["resources"], ["resources"], secret)) + \
        list(uses(template.get("variables", {}), ["variables"], secret)) + \
        list(uses(template.get("outputs", {}), ["outputs"], secret))
    check(len(key_uses) == 1 and key_uses[0].endswith(f"/protectedSettings/{secret}"),
          f"{secret} must be used once, in protectedSettings.{secret}; used at {key_uses}")

vmss = [r for r in template["resources"]
        if r["type"] == "Microsoft.Compute/virtualMachineScaleSets"]
check(len(vmss) == 1, "exactly one scale set")
extensions = vmss[0]["properties"]["virtualMachineProfile"]["extensionProfile"]["extensions"]
check(len(extensions) == 1, "exactly one extension (no CustomScript)")
settings = extensions[0]["properties"]["settings"]
# The agent refuses protected settings with any other key.
protected = extensions[0]["properties"].get("protectedSettings", {})
check(isinstance(protected, dict) and set(protected) == set(protected_keys),
      f"protectedSettings must hold exactly {', '.join(protected_keys)}; it holds {protected}")

# The public settings, evaluated for sample parameters, must be a pool config the agent accepts.
sample = {"storageAccountName": "dslabfiles", "shareName": "dsvmshare",
          "mountpointPath": "/datamnt/dsvmshare", "smbAccess": "per-user",
          "sudoAuthentication": "password",
          "poolUsers": [{"name": "alice", "sudo": True}, {"name": "bob"}]}


def evaluate(node):
    if isinstance(node, dict):
        return {key: evaluate(value) for key, value in node.items()}
    if isinstance(node, list):
        return [evaluate(value) for value in node]
    if isinstance(node, str) and node.startswith("[") and node.endswith("]"):
        expression = node[1:-1]
        match = re.fullmatch(r"parameters\('(\w+)'\)", expression)
        if match:
            return sample.get(match.group(1), f"<{match.group(1)}>")
        match = re.fullmatch(r"variables\('(\w+)'\)", expression)
        if match:
            return evaluate(template["variables"][match.group(1)])
        match = re.fullmatch(r"concat\((.*)\)", expression)
        if match:
            out = ""
            for part in (p.strip() for p in match.group(1).split(",")):
                out += part.strip("'") if part.startswith("'") else evaluate(f"[{part}]")
            return out
        raise SystemExit(f"check_template: cannot evaluate {node}")
    return node


config = evaluate(settings)
for secret in protected_keys:
    check(secret not in json.dumps(config), f"the key name {secret} appears in public settings")
with tempfile.TemporaryDirectory() as root:
    (Path(root) / "etc/dsvm-agent").mkdir(parents=True)
    (Path(root) / "etc/dsvm-agent/pool.json").write_text(json.dumps(config))
    result = subprocess.run([agent, "--root", root, "--imds", "off", "reconcile", "--dry-run"],
                            capture_output=True, text=True)
    # Exit 2 is an invalid config; 1 (no credentials in this empty root) is expected.
    check(result.returncode != 2,
          f"the agent refuses the template's pool config: {result.stdout}{result.stderr}")
    check(result.returncode in (0, 1) and "dslabfiles" in result.stdout + result.stderr,
          f"the dry run did not plan for the template's share: {result.stdout}{result.stderr}")

for failure in failures:
    print(f"FAIL: {failure}")
print(f"{'FAILED' if failures else 'passed'}: template checks, {len(failures)} failed")
sys.exit(1 if failures else 0)
