"""A scenario's checks, written as a machine-readable report (JSON) into the build dir."""

import json
import os
import time


class CheckFailed(Exception):
    pass


class Report:
    def __init__(self, name, reports_dir):
        self.name = name
        self.path = os.path.join(reports_dir, name + ".json")
        self.started = time.time()
        self.checks = []
        self.measurements = {}
        os.makedirs(reports_dir, exist_ok=True)

    def check(self, name, ok, detail=""):
        """Records one check; a failed check ends the scenario (later checks usually depend
        on it) with its name and detail."""
        self.checks.append({"check": name, "ok": bool(ok), "detail": str(detail)[-2000:],
                            "at": round(time.time() - self.started, 1)})
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, (": " + str(detail)) if detail else ""),
              flush=True)
        if not ok:
            raise CheckFailed("%s: %s" % (name, detail))

    def measure(self, name, value):
        self.measurements[name] = value
        print("measured %s = %s" % (name, value), flush=True)

    def write(self, error=None):
        failed = [c["check"] for c in self.checks if not c["ok"]]
        document = {
            "scenario": self.name,
            "passed": error is None and not failed,
            "failedCheck": failed[0] if failed else None,
            "error": error,
            "seconds": round(time.time() - self.started, 1),
            "checks": self.checks,
            "measurements": self.measurements,
        }
        temporary = self.path + ".tmp"
        with open(temporary, "w") as f:
            json.dump(document, f, indent=2)
            f.write("\n")
        os.replace(temporary, self.path)
        return document
