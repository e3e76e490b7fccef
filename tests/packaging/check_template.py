#!/usr/bin/env python3
"""The scale-set templates in packaging/azure/, checked without Azure.

usage: check_template.py vm-application TEMPLATE VM_APPLICATION_JSON DSVM_AGENT_BINARY
       check_template.py extension TEMPLATE DSVM_AGENT_BINARY
       check_template.py windows TEMPLATE DSVM_AGENT_EXE

Every kind: valid JSON with the reference template's parameters, every parameter and variable
it uses declared, the image chosen by one `image` parameter (the Ubuntu 22.04 Data Science VM by
default; for windows, the Windows Server 2022 Data Science VM), and a pool config for the
instances that the agent itself accepts (`dsvm-agent --root <tmp> --imds off reconcile --dry-run`
on it as pool.json exits with another status than 2; for windows, dsvm-agent.exe under wine). The template's expressions are evaluated for sample parameters by the small
evaluator below, which knows the ARM functions the templates use.

vm-application (packaging/azure/dsvm-pool.json, the default): no key anywhere — the only
securestring parameters are adminPassword and packageUrl, each used only where it belongs, no
other parameter is named like a secret unless it names something (keyVaultName,
storageKeySecretName), and no extension or protectedSettings; the scale set has a
system-assigned identity, which one role assignment makes Key Vault Secrets User on the vault
named by keyVaultName; a gallery, a Linux VM application and a version of it whose package is
packageUrl and whose manageActions and settings are exactly those of
packaging/azure/vm-application.json (the commands the chroot test runs); the scale set's
applicationProfile installs that version; its userData decodes to {"dsvmPool": ...} with the
keyVault block naming the secrets.

extension (packaging/azure/dsvm-pool-extension.json): the storage key and the pool registry
keys are securestrings that reach only the extension's protectedSettings, and the public
settings are the pool config.

windows (packaging/azure/dsvm-pool-windows.json): the extension's checks, and the Windows
instance's own: a windowsConfiguration and no linuxConfiguration, no mountpointPath, smbAccess
or sudoAuthentication parameter (Windows has no mount point, no per-user mapping and no sudoers:
docs/windows.md), a public config with "smbAccess": "shared", and a second extension, Microsoft's
CustomScriptExtension, that installs and starts OpenSSH Server with a command that names no
parameter and has no protected settings (pool users on Windows log in with their keys).
"""
import base64
import binascii
import json
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
    return condition


USAGE = __doc__.split("\n\n")[1]
ARGUMENT_COUNTS = {"vm-application": 5, "extension": 4, "windows": 4}
if len(sys.argv) < 2 or sys.argv[1] not in ARGUMENT_COUNTS or \
        len(sys.argv) != ARGUMENT_COUNTS[sys.argv[1]]:
    sys.exit(USAGE)
kind = sys.argv[1]
template_path = sys.argv[2]
agent = sys.argv[-1]
template = json.loads(Path(template_path).read_text())
params = template["parameters"]
variables = template.get("variables", {})
resources = template["resources"]

# The deployment the expressions are evaluated in.
SUBSCRIPTION = "00000000-0000-0000-0000-0000000000c0"
RESOURCE_GROUP = "dslab-rg"
LOCATION = "westeurope"
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


# ---------------------------------------------------------------------------------------------
# A small evaluator of ARM template expressions: literals, function calls, `.property` and
# `[index]`. Values are Python values; resourceId() and friends give the ids Azure would.

class Unevaluable(Exception):
    pass


TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+)|(?P<name>[A-Za-z_]\w*)"
                   r"|(?P<punct>[(),.\[\]]))")


def tokenize(expression):
    tokens, position = [], 0
    while position < len(expression):
        if expression[position:].strip() == "":
            break
        match = TOKEN.match(expression, position)
        if not match:
            raise Unevaluable(f"cannot read '{expression[position:]}' in [{expression}]")
        position = match.end()
        kind_, text = match.lastgroup, match.group(match.lastgroup)
        if kind_ == "string":
            tokens.append(("value", text[1:-1].replace("''", "'")))
        elif kind_ == "number":
            tokens.append(("value", int(text)))
        else:
            tokens.append((kind_, text))
    return tokens


class Parser:
    """expression := primary ( '.' name | '[' expression ']' )*
       primary    := literal | name '(' [expression (',' expression)*] ')'"""

    def __init__(self, tokens, source):
        self.tokens, self.at, self.source = tokens, 0, source

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None)

    def take(self, text=None):
        token = self.peek()
        if token == (None, None) or (text is not None and token[1] != text):
            raise Unevaluable(f"expected {text or 'more'} in [{self.source}]")
        self.at += 1
        return token

    def expression(self):
        kind_, text = self.take()
        if kind_ == "value":
            node = ("value", text)
        elif kind_ == "name" and text in ("true", "false") and self.peek()[1] != "(":
            node = ("value", text == "true")
        elif kind_ == "name":
            self.take("(")
            args = []
            if self.peek()[1] != ")":
                args.append(self.expression())
                while self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expression())
            self.take(")")
            node = ("call", text, args)
        else:
            raise Unevaluable(f"unexpected '{text}' in [{self.source}]")
        while self.peek()[1] in (".", "["):
            if self.take()[1] == ".":
                node = ("index", node, ("value", self.take()[1]))
            else:
                node = ("index", node, self.expression())
                self.take("]")
        return node


def parse(expression):
    parser = Parser(tokenize(expression), expression)
    node = parser.expression()
    if parser.peek() != (None, None):
        raise Unevaluable(f"unexpected '{parser.peek()[1]}' in [{expression}]")
    return node


def resource_id(resource_type, *names, scope=None):
    namespace, *types = resource_type.split("/")
    if len(types) != len(names):
        raise Unevaluable(f"resourceId('{resource_type}') takes {len(types)} names, "
                          f"not {len(names)}")
    path = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    prefix = scope if scope is not None else \
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    return f"{prefix}/providers/{namespace}/{path}"


def principal_of(resource):
    return f"<principalId of {resource}>"


class Evaluator:
    def __init__(self, sample):
        self.sample = sample

    def parameter(self, name):
        if name not in params:
            raise Unevaluable(f"parameters('{name}') is not declared")
        if name in self.sample:
            return self.sample[name]
        if "defaultValue" in params[name]:
            return self.value(params[name]["defaultValue"])
        raise Unevaluable(f"parameter {name} has neither a sample value nor a default")

    def value(self, node):
        """A JSON value of the template with every expression in it evaluated."""
        if isinstance(node, dict):
            return {key: self.value(child) for key, child in node.items()}
        if isinstance(node, list):
            return [self.value(child) for child in node]
        if isinstance(node, str) and node.startswith("[") and node.endswith("]"):
            if node.startswith("[["):
                return node[1:]
            return self.eval(parse(node[1:-1]))
        return node

    def eval(self, node):
        if node[0] == "value":
            return node[1]
        if node[0] == "index":
            base, key = self.eval(node[1]), self.eval(node[2])
            try:
                return base[key]
            except (KeyError, IndexError, TypeError):
                raise Unevaluable(f"no [{key!r}] in {base!r}") from None
        name, args = node[1], [self.eval(arg) for arg in node[2]]
        function = getattr(self, "f_" + name.lower(), None)
        if function is None:
            raise Unevaluable(f"the evaluator does not know {name}()")
        return function(*args)

    def f_parameters(self, name):
        return self.parameter(name)

    def f_variables(self, name):
        if name not in variables:
            raise Unevaluable(f"variables('{name}') is not declared")
        return self.value(variables[name])

    def f_concat(self, *parts):
        if parts and all(isinstance(p, list) for p in parts):
            return [item for part in parts for item in part]
        return "".join(p if isinstance(p, str) else json.dumps(p) for p in parts)

    def f_string(self, value):
        return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))

    def f_base64(self, text):
        return base64.b64encode(text.encode()).decode()

    def f_createobject(self, *pairs):
        return {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}

    def f_union(self, *objects):
        merged = {}
        for obj in objects:
            merged.update(obj)
        return merged

    def f_if(self, condition, when_true, when_false):
        return when_true if condition else when_false

    def f_empty(self, value):
        return value is None or len(value) == 0

    def f_not(self, value):
        return not value

    def f_equals(self, a, b):
        return a == b

    def f_replace(self, text, old, new):
        return text.replace(old, new)

    def f_take(self, value, count):
        return value[:max(count, 0)]

    def f_tolower(self, text):
        return text.lower()

    def f_format(self, pattern, *args):
        return re.sub(r"\{(\d+)\}", lambda m: str(args[int(m.group(1))]), pattern)

    def f_resourcegroup(self):
        return {"name": RESOURCE_GROUP, "location": LOCATION,
                "id": f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"}

    def f_subscription(self):
        return {"subscriptionId": SUBSCRIPTION, "id": f"/subscriptions/{SUBSCRIPTION}"}

    def f_resourceid(self, resource_type, *names):
        return resource_id(resource_type, *names)

    def f_subscriptionresourceid(self, resource_type, *names):
        return resource_id(resource_type, *names, scope=f"/subscriptions/{SUBSCRIPTION}")

    def f_guid(self, *parts):
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "\n".join(parts)))

    def f_reference(self, resource, api_version=None, full=None):
        # Only the full form ('full') has the resource's identity; the short form is its
        # properties, where .identity does not exist.
        if full == "full":
            return {"identity": {"principalId": principal_of(resource), "type": "SystemAssigned"},
                    "properties": {}}
        return {}


def evaluate(node, sample):
    try:
        return Evaluator(sample).value(node)
    except Unevaluable as error:
        failures.append(f"cannot evaluate {json.dumps(node)[:200]}: {error}")
        return None


# Every place a parameter is used, as paths into the template.
def uses(node, path, name):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from uses(value, path + [key], name)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from uses(value, path + [str(index)], name)
    elif isinstance(node, str) and f"parameters('{name}')" in node:
        yield "/".join(path)


def all_uses(name):
    return list(uses(resources, ["resources"], name)) + \
        list(uses(variables, ["variables"], name)) + \
        list(uses(template.get("outputs", {}), ["outputs"], name))


def keys_anywhere(node, wanted):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == wanted:
                yield value
            yield from keys_anywhere(value, wanted)
    elif isinstance(node, list):
        for value in node:
            yield from keys_anywhere(value, wanted)


def of_type(resource_type):
    return [r for r in resources if r.get("type") == resource_type]


def run_agent(config, label):
    """The agent must accept `config` as pool.json: exit 2 is an invalid config; 1 (no
    credentials, no metadata in this empty root) is expected."""
    with tempfile.TemporaryDirectory() as root:
        (Path(root) / "etc/dsvm-agent").mkdir(parents=True)
        (Path(root) / "etc/dsvm-agent/pool.json").write_text(json.dumps(config))
        command = [agent, "--root", root]
        if agent.endswith(".exe"):
            # wine's Z: drive is this host's /.
            command = ["wine", agent, "--root", "Z:" + root.replace("/", "\\")]
        result = subprocess.run(command + ["--imds", "off", "reconcile", "--dry-run"],
                                capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        check(result.returncode != 2,
              f"the agent refuses the template's pool config ({label}): {output}")
        check(result.returncode in (0, 1) and "dslabfiles" in output,
              f"the dry run did not plan for the template's share ({label}): {output}")


# ---------------------------------------------------------------------------------------------
# Every kind.

# The reference template's parameters (docs/design.md, "What it is and what it replaces"), with its defaults and limits.
# A Windows instance has no mount point: the share is a global mapping (docs/windows.md).
for name in ("vmSku", "vmssName", "instanceCount", "adminUsername", "adminPassword",
             "storageAccountName", "shareName"):
    check(name in params, f"parameter {name} is missing")
check(params.get("shareName", {}).get("defaultValue") == "dsvmshare", "shareName default")
if kind == "windows":
    for name in ("mountpointPath", "smbAccess", "sudoAuthentication"):
        check(name not in params, f"parameter {name} has no meaning on Windows (docs/windows.md)")
else:
    check(params.get("mountpointPath", {}).get("defaultValue") == "/datamnt/dsvmshare",
          "mountpointPath default")
check(params.get("instanceCount", {}).get("maxValue") == 100, "instanceCount maxValue 100")
check(params.get("adminPassword", {}).get("type") == "securestring",
      "adminPassword is not a securestring")

# Every parameter and variable the template uses is declared: Azure refuses a template that
# names one it lacks, and nothing here would notice otherwise.
template_text = json.dumps(template)
for kind_name, declared in (("parameters", params), ("variables", variables)):
    for name in sorted(set(re.findall(kind_name + r"\('([^']+)'\)", template_text))):
        check(name in declared, f"{kind_name}('{name}') is used but not declared")

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
DEFAULT_IMAGE_NAME = "the Ubuntu 22.04 Data Science VM"
if kind == "windows":
    EXPECTED_IMAGES = {
        "dsvm-win-2022": {"publisher": "microsoft-dsvm", "offer": "dsvm-win-2022",
                          "sku": "winserver-2022", "version": "latest"},
        "windows-server-2022": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                "sku": "2022-datacenter-azure-edition", "version": "latest"},
    }
    DEFAULT_IMAGE = "dsvm-win-2022"
    DEFAULT_IMAGE_NAME = "the Windows Server 2022 Data Science VM"
for old in ("imagePublisher", "imageOffer", "imageSku"):
    check(old not in params, f"parameter {old} is replaced by 'image'")
image = params.get("image", {})
allowed = image.get("allowedValues", [])
check(image.get("type") == "string", "parameter image must be a string")
check(sorted(allowed) == sorted(EXPECTED_IMAGES),
      f"image's allowedValues must be exactly {sorted(EXPECTED_IMAGES)}; they are {allowed}")
check(image.get("defaultValue") == DEFAULT_IMAGE,
      f"image must default to {DEFAULT_IMAGE}; it defaults to {image.get('defaultValue')}")
scale_sets = of_type("Microsoft.Compute/virtualMachineScaleSets")
if not check(len(scale_sets) == 1, f"exactly one scale set; there are {len(scale_sets)}"):
    scale_sets = [{"properties": {"virtualMachineProfile": {"storageProfile": {}}}}]
vmss = scale_sets[0]
profile = vmss.get("properties", {}).get("virtualMachineProfile", {})
reference = profile.get("storageProfile", {}).get("imageReference")
mapping_use = re.fullmatch(r"\[variables\('([^']+)'\)\[parameters\('image'\)\]\]",
                           reference if isinstance(reference, str) else "")
check(mapping_use is not None,
      "the scale set's imageReference must be [variables('<map>')[parameters('image')]]; "
      f"it is {reference}")
if mapping_use:
    mapping = variables.get(mapping_use.group(1), {})
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
          f"the default image must be {DEFAULT_IMAGE_NAME} "
          f"{EXPECTED_IMAGES[DEFAULT_IMAGE]}; it is {default_ref}")

POOL_USERS = [{"name": "alice", "sudo": True}, {"name": "bob"}]


# ---------------------------------------------------------------------------------------------
def check_extension_template():
    check("storageAccountKey" in params, "parameter storageAccountKey is missing")
    # The secrets the extension takes in its protected settings, each a parameter of that name.
    protected_keys = ("storageAccountKey", "registryKey", "previousRegistryKey")
    for secret in protected_keys:
        check(secret in params, f"parameter {secret} is missing")
        check(params.get(secret, {}).get("type") == "securestring",
              f"{secret} is not a securestring")
    # The registry key has no default: the pool needs one, and the admin must keep it.
    registry_key = params.get("registryKey", {})
    check("defaultValue" not in registry_key, "registryKey must be required (no defaultValue)")
    description = registry_key.get("metadata", {}).get("description", "")
    for text in ("openssl rand -base64 32", "keep", "previousRegistryKey"):
        check(text in description, f"registryKey's description does not mention '{text}'")
    check(params.get("previousRegistryKey", {}).get("defaultValue") == "",
          "previousRegistryKey must default to empty (no previous key)")

    # Each key is used once: as the value of its own field in the extension's protectedSettings.
    for secret in protected_keys:
        key_uses = all_uses(secret)
        check(len(key_uses) == 1 and key_uses[0].endswith(f"/protectedSettings/{secret}"),
              f"{secret} must be used once, in protectedSettings.{secret}; used at {key_uses}")

    extensions = profile.get("extensionProfile", {}).get("extensions", [])
    agents = [e for e in extensions
              if e.get("properties", {}).get("type") == "[parameters('extensionType')]"]
    others = [e for e in extensions if e not in agents]
    if not check(len(agents) == 1, "exactly one dsvm-agent extension"):
        return
    if kind == "windows":
        check_openssh_extension(others)
    else:
        check(not others, "exactly one extension (no CustomScript)")
    settings = agents[0]["properties"]["settings"]
    # The agent refuses protected settings with any other key.
    protected = agents[0]["properties"].get("protectedSettings", {})
    check(isinstance(protected, dict) and set(protected) == set(protected_keys),
          f"protectedSettings must hold exactly {', '.join(protected_keys)}; it holds {protected}")

    # The public settings, evaluated for sample parameters, must be a pool config the agent
    # accepts.
    sample = {"vmssName": "dslab", "storageAccountName": "dslabfiles", "poolUsers": POOL_USERS}
    config = evaluate(settings, sample)
    if config is None:
        return
    for secret in protected_keys:
        check(secret not in json.dumps(config), f"the key name {secret} appears in public settings")
    if kind == "windows":
        check(config.get("share", {}).get("smbAccess") == "shared",
              f"share.smbAccess must be \"shared\" on Windows (no per-user mapping); the public "
              f"settings have {config.get('share', {}).get('smbAccess')}")
        check("mountPoint" not in config.get("share", {}),
              "share.mountPoint has no meaning on Windows: the share is a global mapping")
    run_agent(config, "the extension's public settings")


def check_openssh_extension(others):
    """Windows: a Windows OS profile, and Microsoft's CustomScriptExtension installs and starts
    OpenSSH Server, and knows nothing secret."""
    os_profile = profile.get("osProfile", {})
    check("windowsConfiguration" in os_profile and "linuxConfiguration" not in os_profile,
          "the Windows scale set needs osProfile.windowsConfiguration and no linuxConfiguration")
    # A Windows computer name has at most 15 characters, and the scale set adds 6 to the prefix.
    longest = "d" * params.get("vmssName", {}).get("maxLength", 64)
    prefix = evaluate(os_profile.get("computerNamePrefix"), {"vmssName": longest})
    check(isinstance(prefix, str) and 1 <= len(prefix) <= 9,
          f"computerNamePrefix must have 1 to 9 characters on Windows, for every vmssName; for "
          f"a vmssName of {len(longest)} characters it is {prefix!r}")
    if not check(len(others) == 1, f"besides dsvm-agent, exactly one extension (OpenSSH Server); "
                 f"there are {len(others)}"):
        return
    properties = others[0].get("properties", {})
    check((properties.get("publisher"), properties.get("type")) ==
          ("Microsoft.Compute", "CustomScriptExtension"),
          f"the second extension must be Microsoft.Compute's CustomScriptExtension; it is "
          f"{properties.get('publisher')} {properties.get('type')}")
    check("protectedSettings" not in properties,
          "the OpenSSH Server extension must have no protected settings: it needs no secret")
    # The settings as written, with each variable they name written out (one level deep is all
    # this template uses): no parameter may appear.
    written = json.dumps(properties.get("settings", {}))
    for name in re.findall(r"variables\('([^']+)'\)", written):
        written += json.dumps(variables.get(name))
    check("parameters(" not in written,
          "the OpenSSH Server command must name no parameter (nothing from the deployment "
          "reaches its command line)")
    command = evaluate(properties.get("settings", {}).get("commandToExecute"), {})
    for step in ("Add-WindowsCapability -Online -Name OpenSSH.Server",
                 "Set-Service -Name sshd -StartupType Automatic", "Start-Service -Name sshd"):
        check(isinstance(command, str) and step in command,
              f"the OpenSSH Server command must run '{step}'; it is {command}")


# ---------------------------------------------------------------------------------------------
def check_vm_application_template(app_definition):
    sample = {
        "vmssName": "dslab", "adminUsername": "labadmin",
        "adminPassword": "sample-admin-password-Zq8v", "storageAccountName": "dslabfiles",
        "poolUsers": POOL_USERS, "keyVaultName": "dslab-kv", "appVersion": "0.1.0",
        "packageUrl": "https://dslabfiles.blob.core.windows.net/packages/dsvm-agent_0.1.0-1_"
                      "amd64.deb?sv=2022-11-02&sr=b&sp=r&se=2030-01-01T00%3A00%3A00Z&sig=c2FtcGxl",
    }
    secure_samples = {name: sample[name] for name in ("adminPassword", "packageUrl")}

    # -- No key: the deployment carries no secret but the admin's password and the package URL
    # (whose SAS is a read-only grant on a package that is not secret), and every parameter
    # named like a secret names something instead (a vault, a vault's secret).
    secure = sorted(n for n, p in params.items()
                    if p.get("type", "").lower() in ("securestring", "secureobject"))
    check(secure == ["adminPassword", "packageUrl"],
          f"the only securestring parameters must be adminPassword and packageUrl; they are "
          f"{secure}")
    secret_named = re.compile(r"key|password|passwd|secret|token|credential|sas|signature", re.I)
    for name, parameter in params.items():
        if name == "adminPassword" or not secret_named.search(name):
            continue
        check(name.endswith("Name") and parameter.get("type") == "string",
              f"parameter {name} is named like a secret: only adminPassword may be one here, and "
              f"a parameter that names a vault or a vault's secret ends in 'Name' and is a string")
    for value in keys_anywhere(template, "protectedSettings"):
        check(False, f"protectedSettings in the template ({json.dumps(value)[:80]}): keys come "
              f"from Key Vault here, not from the deployment")
    check(not profile.get("extensionProfile", {}).get("extensions"),
          "the scale set has extensions: the VM Application delivers the agent, and the keys "
          "come from Key Vault")
    allowed_uses = {
        "adminPassword": [
            r"resources/\d+/properties/virtualMachineProfile/osProfile/adminPassword"],
        "packageUrl": [r"resources/\d+/condition",
                       r"resources/\d+/properties/publishingProfile/source/mediaLink"],
    }
    for name, patterns in allowed_uses.items():
        found = all_uses(name)
        check(found and all(any(re.fullmatch(p, use) for p in patterns) for use in found),
              f"{name} may be used only at {patterns}; it is used at {found}")

    # -- The scale set's identity: system-assigned, the one the role assignment names.
    check(vmss.get("identity") == {"type": "SystemAssigned"},
          f"the scale set's identity must be {{\"type\": \"SystemAssigned\"}}; it is "
          f"{vmss.get('identity')}")
    vmss_name = evaluate(vmss.get("name", ""), sample)
    vmss_id = resource_id("Microsoft.Compute/virtualMachineScaleSets", str(vmss_name))

    # -- The role assignment: Key Vault Secrets User on the vault, for the scale set's identity.
    assignments = of_type("Microsoft.Authorization/roleAssignments")
    if check(len(assignments) == 1,
             f"exactly one role assignment; there are {len(assignments)}"):
        assignment = assignments[0]
        properties = assignment.get("properties", {})
        role = evaluate(properties.get("roleDefinitionId"), sample)
        expected_role = resource_id("Microsoft.Authorization/roleDefinitions",
                                    KEY_VAULT_SECRETS_USER,
                                    scope=f"/subscriptions/{SUBSCRIPTION}")
        check(role == expected_role,
              f"the role must be Key Vault Secrets User, subscriptionResourceId("
              f"'Microsoft.Authorization/roleDefinitions', '{KEY_VAULT_SECRETS_USER}'); it "
              f"evaluates to {role}")
        scope = evaluate(assignment.get("scope"), sample)
        vault_id = resource_id("Microsoft.KeyVault/vaults", sample["keyVaultName"])
        check(scope in (vault_id, f"Microsoft.KeyVault/vaults/{sample['keyVaultName']}"),
              f"the role assignment's scope must be the vault keyVaultName names, in this "
              f"resource group ({vault_id}); it evaluates to {scope}")
        principal = evaluate(properties.get("principalId"), sample)
        check(principal == principal_of(vmss_id),
              f"the principalId must be the scale set's system-assigned identity, "
              f"reference(<the scale set's id>, <apiVersion>, 'full').identity.principalId; it "
              f"evaluates to {principal}")
        check(properties.get("principalType") == "ServicePrincipal",
              f"principalType must be ServicePrincipal (a managed identity; it also spares the "
              f"assignment a directory lookup the new identity may not pass yet); it is "
              f"{properties.get('principalType')}")
        name = assignment.get("name", "")
        check(isinstance(name, str) and name.startswith("[guid(") and
              not re.search(r"newGuid|utcNow", name, re.I),
              f"the role assignment's name must be a deterministic guid(...), so that a redeploy "
              f"finds the same assignment; it is {name}")
        depends = [evaluate(d, sample) for d in assignment.get("dependsOn", [])]
        check(vmss_id in depends, f"the role assignment must depend on the scale set; it depends "
              f"on {depends}")

    # -- The VM Application: a gallery, a Linux application and a version whose package is
    # packageUrl and whose commands are exactly vm-application.json's.
    galleries = of_type("Microsoft.Compute/galleries")
    applications = of_type("Microsoft.Compute/galleries/applications")
    versions = of_type("Microsoft.Compute/galleries/applications/versions")
    check(len(galleries) == 1 and len(applications) == 1 and len(versions) == 1,
          f"exactly one gallery, one application and one application version; there are "
          f"{len(galleries)}, {len(applications)} and {len(versions)}")
    version_id = None
    for resource in galleries + applications + versions:
        check(resource.get("apiVersion", "") >= "2022-03-03",
              f"{resource.get('type')} needs apiVersion 2022-03-03 or later (settings."
              f"packageFileName); it has {resource.get('apiVersion')}")
    if galleries and applications and versions:
        gallery_name = evaluate(galleries[0].get("name"), sample)
        application_name = evaluate(applications[0].get("name"), sample)
        version_name = evaluate(versions[0].get("name"), sample)
        check(isinstance(application_name, str) and isinstance(version_name, str) and
              application_name.split("/")[0] == gallery_name and
              version_name.rsplit("/", 1)[0] == application_name,
              f"the version {version_name} must belong to the application {application_name} "
              f"of the gallery {gallery_name}")
        check(applications[0].get("properties", {}).get("supportedOSType") == "Linux",
              "the application's supportedOSType must be Linux")
        publishing = versions[0].get("properties", {}).get("publishingProfile", {})
        check(publishing.get("manageActions") == app_definition.get("manageActions"),
              "the version's manageActions must be exactly those of "
              "packaging/azure/vm-application.json (the commands the chroot test runs); they "
              f"differ: {json.dumps(publishing.get('manageActions'))[:300]}")
        check(publishing.get("settings") == app_definition.get("settings") and
              publishing.get("settings", {}).get("packageFileName") ==
              app_definition.get("settings", {}).get("packageFileName"),
              f"the version's settings must be those of packaging/azure/vm-application.json "
              f"({app_definition.get('settings')}); they are {publishing.get('settings')}")
        check(publishing.get("source", {}).get("mediaLink") == "[parameters('packageUrl')]",
              f"the version's package must be parameters('packageUrl'); it is "
              f"{publishing.get('source')}")
        regions = evaluate(publishing.get("targetRegions", []), sample) or []
        check([r.get("name") for r in regions] == [LOCATION],
              f"the version must be replicated to the deployment's location only; its "
              f"targetRegions are {regions}")
        if isinstance(version_name, str):
            version_id = resource_id("Microsoft.Compute/galleries/applications/versions",
                                     *version_name.split("/"))

    # -- The scale set installs that version.
    gallery_apps = profile.get("applicationProfile", {}).get("galleryApplications", [])
    if check(len(gallery_apps) == 1,
             f"the scale set's applicationProfile must install exactly one gallery application; "
             f"it has {len(gallery_apps)}") and version_id:
        entry = gallery_apps[0]
        reference_id = evaluate(entry.get("packageReferenceId"), sample)
        check(reference_id == version_id,
              f"the scale set's packageReferenceId must be the template's application version "
              f"{version_id}; it evaluates to {reference_id}")
        check(entry.get("treatFailureAsDeploymentFailure") is True,
              "treatFailureAsDeploymentFailure must be true: an instance whose install failed "
              "has no agent, and the deployment must say so")
        depends = [evaluate(d, sample) for d in vmss.get("dependsOn", [])]
        check(version_id in depends,
              f"the scale set must depend on the application version (its reference is a plain "
              f"id, which orders nothing); it depends on {depends}")

    # -- userData: {"dsvmPool": <pool config>} with the keyVault block, and no secret in it.
    def pool_config_for(extra):
        user_data = evaluate(profile.get("userData"), {**sample, **extra})
        if not check(isinstance(user_data, str), f"userData does not evaluate to a string: "
                     f"{profile.get('userData')}"):
            return None
        try:
            decoded = base64.b64decode(user_data, validate=True).decode()
            document = json.loads(decoded)
        except (binascii.Error, UnicodeDecodeError, ValueError) as error:
            check(False, f"userData is not base64 of JSON: {error}")
            return None
        check(isinstance(document, dict) and list(document) == ["dsvmPool"],
              f"userData must be {{\"dsvmPool\": ...}}; its keys are "
              f"{list(document) if isinstance(document, dict) else document}")
        for name, secret in secure_samples.items():
            check(secret not in decoded, f"userData carries {name}")
        return document.get("dsvmPool") if isinstance(document, dict) else None

    expected_vault = {"vault": "dslab-kv", "refreshInterval": 3600,
                      "secrets": {"storageAccountKey": "storage-key",
                                  "registryKey": "pool-registry-key"}}
    config = pool_config_for({})
    if config is not None:
        check(config.get("keyVault") == expected_vault,
              f"dsvmPool.keyVault must be {expected_vault} for the default secret names; it is "
              f"{config.get('keyVault')}")
        check(config.get("share", {}).get("source") == "//dslabfiles.file.core.windows.net/"
              "dsvmshare", f"dsvmPool.share.source is {config.get('share', {}).get('source')}")
        run_agent(config, "userData")
    rotating = pool_config_for({"registryKeySecretName": "pool-registry-key-2",
                                "previousRegistryKeySecretName": "pool-registry-key"})
    if rotating is not None:
        secrets = rotating.get("keyVault", {}).get("secrets")
        expected = {"storageAccountKey": "storage-key", "registryKey": "pool-registry-key-2",
                    "previousRegistryKey": "pool-registry-key"}
        check(secrets == expected,
              f"during a registry key rotation dsvmPool.keyVault.secrets must be {expected}; it "
              f"is {secrets}")
        run_agent(rotating, "userData during a registry key rotation")


if kind in ("extension", "windows"):
    check_extension_template()
else:
    check_vm_application_template(json.loads(Path(sys.argv[3]).read_text()))

for failure in failures:
    print(f"FAIL: {failure}")
print(f"{'FAILED' if failures else 'passed'}: {kind} template checks ({template_path}), "
      f"{len(failures)} failed")
sys.exit(1 if failures else 0)
