"""A browser's side of JupyterHub, run inside a guest with the guest's python3 (standard library
only): the login form, the spawn, the single-user server reached through the hub's OAuth
redirects, and the Jupyter contents API. The scenario sends this file on standard input with a
last line that calls main(...); the result is one JSON object on standard output."""

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = "http://127.0.0.1:8000"


class Browser:
    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(self, path, data=None, method=None, headers=None, timeout=120):
        """(status, final path, body) of a request, redirects followed, errors as statuses."""
        request = urllib.request.Request(BASE + path, data=data, method=method,
                                         headers=headers or {})
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, urllib.parse.urlsplit(response.geturl()).path, \
                    response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, urllib.parse.urlsplit(error.geturl()).path, \
                error.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as error:
            return 0, path, str(error)

    def cookie(self, name):
        return next((c.value for c in self.jar if c.name == name), None)

    def login(self, user, password):
        form = urllib.parse.urlencode({"username": user, "password": password}).encode()
        status, where, body = self.request("/hub/login", data=form)
        logged_in = self.cookie("jupyterhub-hub-login") is not None
        return {"status": status, "at": where, "logged_in": logged_in,
                "invalid": "Invalid username or password" in body}

    def start_server(self, user, timeout=300):
        """Asks the hub for the user's server and waits until its tree page answers."""
        started = time.time()
        self.request("/hub/spawn/%s" % user, timeout=timeout)
        while time.time() - started < timeout:
            status, where, _ = self.request("/user/%s/tree" % user)
            if status == 200 and where.startswith("/user/%s/tree" % user):
                return round(time.time() - started, 1)
            time.sleep(3)
        return None


def notebook(text):
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": text}],
            "metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def save(user, password, path, text):
    browser = Browser()
    result = {"login": browser.login(user, password)}
    if not result["login"]["logged_in"]:
        return result
    result["server_seconds"] = browser.start_server(user)
    if result["server_seconds"] is None:
        return result
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook(text)})
    headers = {"Content-Type": "application/json", "X-XSRFToken": browser.cookie("_xsrf") or ""}
    status, _, answer = browser.request("/user/%s/api/contents/%s" % (user, path),
                                        data=body.encode(), method="PUT", headers=headers)
    result["put"] = {"status": status, "answer": answer[:300]}
    status, _, answer = browser.request("/user/%s/api/contents/%s" % (user, path))
    try:
        cells = json.loads(answer)["content"]["cells"]
        result["read_back"] = cells[0]["source"]
    except (ValueError, KeyError, IndexError, TypeError):
        result["read_back"] = None
    result["get_status"] = status
    return result


def read_other(user, password, owner, path):
    """user logs in, then asks owner's server for the file, as a browser would."""
    browser = Browser()
    result = {"login": browser.login(user, password)}
    status, where, body = browser.request("/user/%s/files/%s" % (owner, path))
    result["files"] = {"status": status, "at": where, "leaked": "nbformat" in body}
    status, where, body = browser.request("/user/%s/api/contents/%s" % (owner, path))
    result["api"] = {"status": status, "at": where, "leaked": "nbformat" in body}
    return result


def login(user, password):
    return {"login": Browser().login(user, password)}


def main(action, *args):
    print(json.dumps({"save": save, "read_other": read_other, "login": login}[action](*args)))
