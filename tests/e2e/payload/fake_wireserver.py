#!/usr/bin/env python3
"""A fake Azure wire server and HostGAPlugin for the Azure guest agent (WALinuxAgent) in an e2e
guest: the goal state with one VM extension, the certificates the guest agent asks for, the
extension's manifest and handler zip, and the status uploads, recorded for the test.

    fake_wireserver.py serve   --dir DIR --zip HANDLER_ZIP --name NAME --version VERSION
    fake_wireserver.py publish --dir DIR --state enabled|disabled|uninstall --seq N < SETTINGS

`serve` listens on 168.63.129.16 (a dummy interface in the guest, never a real one) port 80
(the wire server) and 32526 (the HostGAPlugin), and makes the extension's certificate in DIR.
`publish` reads {"publicSettings": ..., "protectedSettings": {...}} on stdin, encrypts the
protected settings for that certificate (openssl cms, the plaintext on a pipe only) and makes
the next goal state (a new incarnation) with the extension in that state and sequence number.

DIR holds: ext.crt/ext.key/ext.pfx, goalstate.json (the latest publish) and goalstate-N.json
(each incarnation's), status/NNNN.json (each status the guest agent uploaded, decoded) and
status.json (the latest), health.log (the provisioning health reports) and requests.log (port,
method, path, answer and User-Agent of every request; no SAS query).
tests/e2e/README.md describes the protocol as the guest agent 2.7 speaks it.
"""

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape, quoteattr

ADDRESS = "168.63.129.16"
WIRE = "http://%s:80" % ADDRESS
HOST_PLUGIN_PORT = 32526
PROTOCOL_VERSION = "2012-11-30"
CONTAINER = "d3f8a1c2-0e4b-4d6a-9c1e-5b7f2a9e0c31"
INSTANCE = "4b2a7c9e-1f3d-4e5a-8b6c-0d9e8f7a6b5c.pool_2"
MANIFEST = "/dsvm/manifest.xml"
STATUS_BLOB = "http://%s/dsvm/status?sv=2018-03-28&sr=b&sig=fake" % ADDRESS
MAX_BODY = 4 << 20


def write_atomically(path, data, mode=0o600):
    temporary = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())
    os.replace(temporary, path)


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True,
                          check=True).stdout


def make_certificate(directory):
    """The certificate Azure would encrypt the protected settings for, and its PFX (no
    password), which the wire server hands to the guest agent inside the Certificates blob."""
    crt, key, pfx = (os.path.join(directory, n) for n in ("ext.crt", "ext.key", "ext.pfx"))
    if not os.path.exists(pfx):
        openssl("req", "-x509", "-nodes", "-newkey", "rsa:2048", "-days", "30",
                "-subj", "/CN=dsvm-e2e-extension", "-keyout", key, "-out", crt)
        openssl("pkcs12", "-export", "-passout", "pass:", "-inkey", key, "-in", crt, "-out", pfx)
    der = openssl("x509", "-in", crt, "-outform", "DER")
    return hashlib.sha1(der).hexdigest().upper()


class Server:
    def __init__(self, directory, handler_zip, name, version):
        self.directory = directory
        self.zip_path = handler_zip
        self.name = name
        self.version = version
        self.thumbprint = make_certificate(directory)
        self.lock = threading.Lock()
        self.uploads = len(os.listdir(self.status_dir())) if os.path.isdir(self.status_dir()) else 0
        self.certificates = {}  # transport certificate -> the Certificates document for it

    def status_dir(self):
        return os.path.join(self.directory, "status")

    def goal(self, incarnation=None):
        """The latest goal state publish made, or the one of `incarnation`: the documents of a
        goal state are fetched one by one, and a publish may come in between."""
        name = "goalstate.json" if incarnation is None else "goalstate-%s.json" % incarnation
        try:
            with open(os.path.join(self.directory, name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            latest = {"incarnation": 1, "plugin": None} if incarnation is None else self.goal()
            if incarnation is not None and str(latest["incarnation"]) != str(incarnation):
                raise LookupError("no goal state of incarnation %s" % incarnation)
            return latest

    def log(self, line):
        with self.lock, open(os.path.join(self.directory, "requests.log"), "a") as f:
            f.write("%s %s\n" % (time.strftime("%H:%M:%S"), line))

    # ---- the wire server ------------------------------------------------------------------

    def versions(self):
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Versions><Preferred><Version>"
                "%s</Version></Preferred><Supported><Version>%s</Version></Supported></Versions>"
                % (PROTOCOL_VERSION, PROTOCOL_VERSION))

    def goal_state(self):
        incarnation = self.goal()["incarnation"]
        config = WIRE + "/machine/?comp=config&type=%s&incarnation=" + str(incarnation)
        return """<?xml version="1.0" encoding="utf-8"?>
<GoalState><Version>2010-12-15</Version><Incarnation>%d</Incarnation>
<Machine><ExpectedState>Started</ExpectedState><ExpectHealthReport>FALSE</ExpectHealthReport></Machine>
<Container><ContainerId>%s</ContainerId><RoleInstanceList><RoleInstance>
<InstanceId>%s</InstanceId><State>Started</State><Configuration>
<HostingEnvironmentConfig>%s</HostingEnvironmentConfig>
<SharedConfig>%s</SharedConfig>
<ExtensionsConfig>%s</ExtensionsConfig>
<FullConfig>%s</FullConfig>
<Certificates>%s</Certificates>
<ConfigName>%s.%d.xml</ConfigName>
</Configuration></RoleInstance></RoleInstanceList></Container></GoalState>
""" % (incarnation, CONTAINER, INSTANCE, escape(config % "hostingEnvironmentConfig"),
       escape(config % "sharedConfig"), escape(config % "extensionsConfig"),
       escape(config % "fullConfig"), escape(config % "certificates"), INSTANCE, incarnation)

    def hosting_environment(self, goal):
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<HostingEnvironmentConfig "
                "version=\"1.0.0.0\" goalStateIncarnation=\"%d\"><Deployment name=\"dsvm-e2e\" "
                "guid=\"{%s}\" incarnation=\"0\"/><Incarnation number=\"1\" instance=\"pool_2\" "
                "guid=\"{%s}\"/><Role guid=\"{%s}\" name=\"pool_2\"/></HostingEnvironmentConfig>"
                % (goal["incarnation"], CONTAINER, CONTAINER, CONTAINER))

    def shared_config(self, goal):
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<SharedConfig version=\"1.0.0.0\" "
                "goalStateIncarnation=\"%d\"><Deployment name=\"dsvm-e2e\" guid=\"{%s}\" "
                "incarnation=\"0\"/><Instances><Instance id=\"pool_2\" address=\"10.77.0.2\"/>"
                "</Instances></SharedConfig>" % (goal["incarnation"], CONTAINER))

    def certificates_for(self, transport_b64):
        """The extension's certificate and key (a PFX), encrypted for the transport certificate
        the guest agent made and sent in x-ms-guest-agent-public-x509-cert, as the wire server
        does it (CMS EnvelopedData, 3DES as the agent's x-ms-cipher-name asks). The base64 is
        in lines: the agent hands it to `openssl cms` as S/MIME, which reads no longer lines."""
        with self.lock:
            if transport_b64 not in self.certificates:
                pem = "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
                    transport_b64[i:i + 64] for i in range(0, len(transport_b64), 64))
                transport = os.path.join(self.directory, "transport.crt")
                write_atomically(transport, pem, 0o644)
                with open(os.path.join(self.directory, "ext.pfx"), "rb") as f:
                    pfx = f.read()
                blob = openssl("cms", "-encrypt", "-binary", "-des3", "-outform", "DER", transport,
                               data=pfx)
                self.certificates[transport_b64] = (
                    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<CertificateFile><Version>1"
                    "</Version><Incarnation>1</Incarnation><Format>Pkcs7BlobWithPfxContents"
                    "</Format><Data>%s</Data></CertificateFile>" % base64.encodebytes(blob).decode())
            return self.certificates[transport_b64]

    def extensions_config(self, goal):
        plugin = goal.get("plugin")
        plugins = settings = ""
        if plugin:
            plugins = ("<Plugin name=%s version=%s location=%s state=%s autoUpgrade=\"false\" "
                       "runAsStartupTask=\"false\" isJson=\"true\" useExactVersion=\"true\"/>"
                       % (quoteattr(self.name), quoteattr(self.version),
                          quoteattr(WIRE + MANIFEST), quoteattr(plugin["state"])))
            settings = ("<Plugin name=%s version=%s><RuntimeSettings seqNo=\"%d\">%s"
                        "</RuntimeSettings></Plugin>"
                        % (quoteattr(self.name), quoteattr(self.version), plugin["seqNo"],
                           escape(json.dumps(plugin["settings"]))))
        return """<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="%d">
<GuestAgentExtension xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><GAFamilies/></GuestAgentExtension>
<Plugins>%s</Plugins>
<PluginSettings>%s</PluginSettings>
<StatusUploadBlob statusBlobType="BlockBlob">%s</StatusUploadBlob>
</Extensions>
""" % (goal["incarnation"], plugins, settings, escape(STATUS_BLOB))

    def manifest(self):
        return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<PluginVersionManifest><Plugins>"
                "<Plugin><Version>%s</Version><Uris><Uri>%s/dsvm/%s</Uri></Uris></Plugin>"
                "</Plugins><InternalPlugins/></PluginVersionManifest>"
                % (escape(self.version), WIRE, os.path.basename(self.zip_path)))

    def record_status(self, document):
        with self.lock:
            self.uploads += 1
            os.makedirs(self.status_dir(), mode=0o700, exist_ok=True)
            text = json.dumps(document, indent=1)
            write_atomically(os.path.join(self.status_dir(), "%04d.json" % self.uploads), text)
            write_atomically(os.path.join(self.directory, "status.json"), text)

    def status_upload(self, body):
        """PUT /status on the HostGAPlugin: the blob's SAS URL, its headers and the status
        (base64) as JSON; the plugin would write it to the blob."""
        request = json.loads(body)
        if request.get("requestUri") != STATUS_BLOB:
            return 400, "text/plain", b"unknown status blob"
        self.record_status(json.loads(base64.b64decode(request["content"])))
        return 201, "text/plain", b""

    def answer(self, method, port, path, query, headers, body):
        if port == HOST_PLUGIN_PORT:
            if method == "GET" and path == "/versions":
                return 200, "application/json", b'["2015-09-01"]'
            if method == "GET" and path == "/health":
                return 200, "text/plain", b""
            if method == "GET" and path == "/vmSettings":
                return 404, "text/plain", b"Fast Track is not supported here"
            if method == "PUT" and path == "/status":
                return self.status_upload(body)
            if method == "PUT" and path == "/vmAgentLog":
                return 200, "text/plain", b""
            if method == "GET" and path == "/extensionArtifact":
                location = urlsplit(headers.get("x-ms-artifact-location", ""))
                return self.answer("GET", 80, location.path, parse_qs(location.query), {}, b"")
            return 404, "text/plain", b"not found"
        comp = query.get("comp", [""])[0]
        if method == "GET" and path == "/" and comp == "versions":
            return 200, "text/xml", self.versions().encode()
        if method == "GET" and path == "/machine/" and comp == "goalstate":
            return 200, "text/xml", self.goal_state().encode()
        if method == "GET" and path == "/machine/" and comp == "config":
            kind = query.get("type", [""])[0]
            if kind == "certificates":
                transport = headers.get("x-ms-guest-agent-public-x509-cert")
                if not transport:
                    return 400, "text/plain", b"no transport certificate"
                return 200, "text/xml", self.certificates_for(transport).encode()
            documents = {"hostingEnvironmentConfig": self.hosting_environment,
                         "sharedConfig": self.shared_config,
                         "extensionsConfig": self.extensions_config,
                         "fullConfig": lambda goal: "<FullConfig/>"}
            if kind in documents:
                try:
                    goal = self.goal(query.get("incarnation", [None])[0])
                except LookupError as error:
                    return 404, "text/plain", str(error).encode()
                return 200, "text/xml", documents[kind](goal).encode()
        if method == "POST" and path == "/machine" and comp == "health":
            with self.lock, open(os.path.join(self.directory, "health.log"), "ab") as f:
                f.write(body + b"\n")
            return 200, "text/plain", b""
        if method == "POST" and path == "/machine" and comp in ("telemetrydata", "roleProperties"):
            return 200, "text/plain", b""
        if method == "GET" and path == MANIFEST:
            return 200, "text/xml", self.manifest().encode()
        if method == "GET" and path == "/dsvm/" + os.path.basename(self.zip_path):
            with open(self.zip_path, "rb") as f:
                return 200, "application/zip", f.read()
        if method == "PUT" and path == "/dsvm/status":  # the direct route, if the plugin failed
            self.record_status(json.loads(body))
            return 201, "text/plain", b""
        # The guest agent falls back to the wire server for instance metadata: there is none.
        return 404, "text/plain", b"not found"


def handler_class(server, port):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                code, kind, data = 413, "text/plain", b"too large"
                self.close_connection = True  # the body is left unread
            else:
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    code, kind, data = server.answer(self.command, port, url.path,
                                                     parse_qs(url.query), headers, body)
                except Exception as error:  # a broken request is the test's to see, not fatal
                    code, kind, data = 500, "text/plain", str(error).encode()
            server.log("%d %s %s -> %d %s" % (port, self.command, url.path + (
                "?" + url.query if url.query and "sig=" not in url.query else ""), code,
                next(iter(self.headers.get("User-Agent", "").split()), "-")))
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = handle_any

    return Handler


def serve(args):
    os.makedirs(args.dir, mode=0o700, exist_ok=True)
    server = Server(args.dir, args.zip, args.name, args.version)
    listeners = [ThreadingHTTPServer((ADDRESS, port), handler_class(server, port))
                 for port in (80, HOST_PLUGIN_PORT)]
    for listener in listeners[1:]:
        threading.Thread(target=listener.serve_forever, daemon=True).start()
    print("fake wire server on %s:80 and :%d, extension certificate %s"
          % (ADDRESS, HOST_PLUGIN_PORT, server.thumbprint), flush=True)
    listeners[0].serve_forever()


def publish(args):
    """The next goal state: the extension in args.state with sequence number args.seq and the
    settings on stdin, its protected settings encrypted for the extension's certificate."""
    settings = json.load(sys.stdin)
    crt = os.path.join(args.dir, "ext.crt")
    thumbprint = make_certificate(args.dir)
    handler = {"publicSettings": settings.get("publicSettings")}
    if settings.get("protectedSettings") is not None:
        plain = json.dumps(settings["protectedSettings"]).encode()
        blob = openssl("cms", "-encrypt", "-binary", "-aes256", "-outform", "DER", crt, data=plain)
        handler["protectedSettings"] = base64.b64encode(blob).decode()
        handler["protectedSettingsCertThumbprint"] = thumbprint
    path = os.path.join(args.dir, "goalstate.json")
    try:
        with open(path) as f:
            incarnation = json.load(f)["incarnation"]
    except (OSError, ValueError):
        incarnation = 1
    goal = {"incarnation": incarnation + 1,
            "plugin": {"state": args.state, "seqNo": args.seq,
                       "settings": {"runtimeSettings": [{"handlerSettings": handler}]}}}
    write_atomically(os.path.join(args.dir, "goalstate-%d.json" % goal["incarnation"]),
                     json.dumps(goal, indent=1))
    write_atomically(path, json.dumps(goal, indent=1))
    print(json.dumps({"incarnation": goal["incarnation"], "thumbprint": thumbprint}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve")
    p.add_argument("--dir", required=True)
    p.add_argument("--zip", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--version", required=True)
    p = sub.add_parser("publish")
    p.add_argument("--dir", required=True)
    p.add_argument("--state", required=True, choices=["enabled", "disabled", "uninstall"])
    p.add_argument("--seq", required=True, type=int)
    args = parser.parse_args()
    {"serve": serve, "publish": publish}[args.command](args)


if __name__ == "__main__":
    main()
