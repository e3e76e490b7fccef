#!/usr/bin/env python3
"""A fake Azure Key Vault inside a guest, on 127.0.0.1 over TLS (a certificate from a CA the test
made on the host; the agent is given that CA with --test-key-vault-ca). It answers
GET /secrets/<name>?api-version=7.4 as the vault's REST API does: 401 without the bearer token
in --token, 404 SecretNotFound when <dir>/<name> is missing, else 200 with the file's content as
"value". Files are read per request, so a test rotates a secret by replacing its file.

usage: fake_keyvault.py --dir DIR --token TOKEN_FILE --cert PEM --key PEM [--port 8443]"""
import argparse
import http.server
import json
import os
import re
import ssl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--port", type=int, default=8443)
    args = parser.parse_args()

    class Vault(http.server.BaseHTTPRequestHandler):
        def answer(self, status, document):
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            with open(args.token) as token_file:
                token = token_file.read().strip()
            if self.headers.get("Authorization") != "Bearer " + token:
                self.answer(401, {"error": {"code": "Unauthorized",
                                            "message": "AKV10000: Request is missing a Bearer "
                                                       "or PoP token."}})
                return
            match = re.fullmatch(r"/secrets/([0-9A-Za-z-]{1,127})\?api-version=7\.4", self.path)
            if not match:
                self.answer(400, {"error": {"code": "BadParameter"}})
                return
            path = os.path.join(args.dir, match.group(1))
            if not os.path.isfile(path):
                self.answer(404, {"error": {"code": "SecretNotFound",
                                            "message": "A secret with (name/id) %s was not "
                                                       "found in this key vault." % match.group(1)}})
                return
            with open(path) as secret:
                value = secret.read()
            self.answer(200, {"value": value,
                              "id": "https://e2e.vault.azure.net/secrets/%s/1" % match.group(1),
                              "attributes": {"enabled": True}})

        def log_message(self, format, *values):
            pass  # the request lines carry no secret, but nothing here needs them either

    server = http.server.HTTPServer(("127.0.0.1", args.port), Vault)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
