#!/usr/bin/env python3
"""Check the Glances' per-project image quotas (Keystone unified limits) on a running rig
(stdlib only; needs qemu-img).

    python3 tests/openstack/quota_smoke.py DIR [--report FILE]

As ci-user: GET /v2/info/usage on both Glances shows the registered defaults.  As admin: set
ci's image_count_total in Glance a's region (RegionOne) to its usage + 1 (POST /v3/limits, or
PATCH when ci already has one).  Then as ci-user: the usage shows it on a and not on b; one
image create on a works, the next is refused (the exact status and body, JSON and text, go
to the report); a create on b still works.  Then image_size_total: ci's limit in RegionOne
set to its usage (MiB), an upload with a Content-Length of 2 MiB is refused, a chunked one of
the same file (no size known beforehand) is not.  Every limit is put back as it was (DELETE
the project limit, or PATCH the old value) and the images deleted, also on failure.

Prints ok/FAIL lines and 'N passed, N failed'; writes the answers to --report (default
DIR/quota-smoke.json).  Exit 1 on any failure.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import RESULTS, check, env, get_token, request  # noqa: E402

REPORT = {"answers": {}, "timings": {}}


def parsed(data):
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode(errors="replace")


def answer(name, code, hdrs, data):
    keep = {k: v for k, v in (hdrs or {}).items() if k.lower() in ("content-type", "location")}
    body = parsed(data)
    REPORT["answers"][name] = {"status": code, "headers": keep, "body": body}
    print(f"     {name}: HTTP {code} {json.dumps(body)[:300]}")
    return body


class Rig:
    def __init__(self, e):
        self.e = e
        self.ks = e["KEYSTONE_URL"]
        code, hdrs, data = get_token(e, e["CI_USER"], e["CI_PASSWORD"], e["CI_PROJECT"])
        assert code == 201, (code, data)
        self.ci = hdrs["X-Subject-Token"]
        code, hdrs, data = get_token(e, e["ADMIN_USER"], e["ADMIN_PASSWORD"], "admin")
        assert code == 201, (code, data)
        self.admin = hdrs["X-Subject-Token"]
        self.images = []   # (glance url, id) to delete at the end
        self.restore = []  # (method, url, body) to put the limits back

    def glance(self, which):
        return self.e[f"GLANCE_{which.upper()}_URL"]

    def region(self, which):
        return self.e[f"GLANCE_{which.upper()}_REGION"]

    def usage(self, which):
        code, _, data = request("GET", self.glance(which) + "/v2/info/usage", headers={"X-Auth-Token": self.ci})
        assert code == 200, (code, data)
        return json.loads(data)["usage"]

    def registered_limit(self, which, resource):
        q = urllib.parse.urlencode({"service_id": self.e["GLANCE_SERVICE_ID"],
                                    "region_id": self.region(which), "resource_name": resource})
        code, _, data = request("GET", f"{self.ks}/registered_limits?{q}", headers={"X-Auth-Token": self.admin})
        assert code == 200, (code, data)
        rl = json.loads(data)["registered_limits"]
        return rl[0]["default_limit"] if rl else None

    def project_limits(self, which, resource):
        """ci's own limits (0 or 1) for resource in which's region."""
        q = urllib.parse.urlencode({"service_id": self.e["GLANCE_SERVICE_ID"], "region_id": self.region(which),
                                    "project_id": self.e["CI_PROJECT_ID"], "resource_name": resource})
        code, _, data = request("GET", f"{self.ks}/limits?{q}", headers={"X-Auth-Token": self.admin})
        assert code == 200, (code, data)
        return json.loads(data)["limits"]

    def set_limit(self, which, resource, value):
        """ci's limit for resource in which's region: POST, or PATCH the existing one."""
        h = {"X-Auth-Token": self.admin}
        old = self.project_limits(which, resource)
        if old:
            url = f"{self.ks}/limits/{old[0]['id']}"
            code, hdrs, data = request("PATCH", url, {"limit": {"resource_limit": value}}, h)
            answer(f"PATCH /v3/limits/ID {resource}={value}", code, hdrs, data)
            ok = code == 200
            if ok:
                self.restore.append(("PATCH", url, {"limit": {"resource_limit": old[0]["resource_limit"]}}))
        else:
            body = {"limits": [{"service_id": self.e["GLANCE_SERVICE_ID"], "region_id": self.region(which),
                                "project_id": self.e["CI_PROJECT_ID"], "resource_name": resource,
                                "resource_limit": value}]}
            code, hdrs, data = request("POST", f"{self.ks}/limits", body, h)
            answer(f"POST /v3/limits {resource}={value}", code, hdrs, data)
            ok = code == 201
            if ok:
                self.restore.append(("DELETE", f"{self.ks}/limits/{json.loads(data)['limits'][0]['id']}", None))
        check(f"admin sets ci's {resource} in {self.region(which)} to {value}", ok, f"HTTP {code} {data[:300]!r}")
        return ok

    def create(self, which, name, accept="application/json"):
        h = {"X-Auth-Token": self.ci}
        if accept:
            h["Accept"] = accept
        code, hdrs, data = request("POST", self.glance(which) + "/v2/images", {
            "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private"}, h)
        if code == 201:
            self.images.append((self.glance(which), json.loads(data)["id"]))
        return code, hdrs, data

    def cleanup(self):
        for method, url, body in reversed(self.restore):
            code, _, data = request(method, url, body, {"X-Auth-Token": self.admin})
            check(f"restore: {method} {url.rsplit('/', 2)[-2]}/…", code in (200, 204), f"HTTP {code} {data[:200]!r}")
        self.restore = []
        for glance, iid in self.images:
            code, _, _ = request("DELETE", f"{glance}/v2/images/{iid}", headers={"X-Auth-Token": self.ci})
            if code != 204:
                check(f"delete image {iid}", False, f"HTTP {code}")
        self.images = []


def count_quota(r):
    # The registered default, or ci's own limit if it has one already (then PATCHed below).
    defaults = {}
    for w in "ab":
        own = r.project_limits(w, "image_count_total")
        defaults[w] = own[0]["resource_limit"] if own else r.registered_limit(w, "image_count_total")
        u = r.usage(w)
        REPORT["answers"][f"usage {w} before"] = u
        print(f"     GET /v2/info/usage on {w}: {json.dumps(u)}")
        what = "ci's own limit" if own else "the registered default"
        check(f"glance {w}: usage shows image_count_total with {what} {defaults[w]}",
              u.get("image_count_total", {}).get("limit") == defaults[w] and defaults[w], u)
        check(f"glance {w}: usage has the four resources",
              sorted(u) == sorted(["image_size_total", "image_stage_total", "image_count_total",
                                   "image_count_uploading"]), sorted(u))
    used = r.usage("a")["image_count_total"]["usage"]
    if not r.set_limit("a", "image_count_total", used + 1):
        return
    t0 = time.monotonic()
    u = r.usage("a")
    REPORT["timings"]["usage after the limit change (s)"] = round(time.monotonic() - t0, 3)
    REPORT["answers"]["usage a limited"] = u
    check("glance a: usage shows the new limit at once",
          u["image_count_total"] == {"usage": used, "limit": used + 1}, u["image_count_total"])
    ub = r.usage("b")["image_count_total"]
    check("glance b: a limit in RegionOne does not apply to RegionTwo",
          ub["limit"] == defaults["b"], ub)
    tag = uuid.uuid4().hex[:8]
    code, hdrs, data = r.create("a", f"quota-{tag}-1")
    check("glance a: a create within the limit works (201)", code == 201, f"HTTP {code} {data[:300]!r}")
    code, hdrs, data = r.create("a", f"quota-{tag}-2")
    body = answer("create over image_count_total (Accept: application/json)", code, hdrs, data)
    check("glance a: the next create is refused with 413", code == 413, code)
    check("glance a: the refusal names image_count_total and the numbers",
          f"Resource image_count_total is over limit of {used + 1} due to current usage {used + 1} and delta 1"
          in json.dumps(body), body)
    code, hdrs, data = r.create("a", f"quota-{tag}-3", accept=None)
    body = answer("create over image_count_total (no Accept)", code, hdrs, data)
    # webob's error page: text/plain without Accept, text/html for Accept: */* (curl).
    check("glance a: without Accept also 413, as text", code == 413 and isinstance(body, str)
          and "Resource image_count_total is over limit" in body, (code, hdrs.get("Content-Type")))
    u = r.usage("a")["image_count_total"]
    check("glance a: the refused creates made nothing", u["usage"] == used + 1, u)
    code, hdrs, data = r.create("b", f"quota-{tag}-b")
    check("glance b: a create still works (201)", code == 201, f"HTTP {code} {data[:300]!r}")
    # A queued image counts: deleting it gives the room back.
    giid = r.images.pop(0)
    code, _, _ = request("DELETE", f"{giid[0]}/v2/images/{giid[1]}", headers={"X-Auth-Token": r.ci})
    code, hdrs, data = r.create("a", f"quota-{tag}-4")
    check("glance a: after deleting the (queued) image, a create works again", code == 201,
          f"HTTP {code} {data[:300]!r}")


def size_quota(r, tmp):
    path = os.path.join(tmp, "two-mib.qcow2")
    # A real qcow2 (Glance inspects uploads), over 2 MiB on disk: preallocated.
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=full", path, "2M"], check=True)
    size = os.path.getsize(path)
    used = r.usage("a")["image_size_total"]["usage"]
    if not r.set_limit("a", "image_size_total", used):
        return
    tag = uuid.uuid4().hex[:8]
    h = {"X-Auth-Token": r.ci, "Content-Type": "application/octet-stream", "Accept": "application/json"}
    code, _, data = r.create("a", f"quota-size-{tag}")
    check("glance a: create with image_size_total at its usage (201)", code == 201, f"HTTP {code} {data[:200]!r}")
    if code != 201:
        return
    iid = r.images[-1][1]
    with open(path, "rb") as f:
        code, hdrs, data = request("PUT", f"{r.glance('a')}/v2/images/{iid}/file", headers=h, stream=f, length=size)
    body = answer("upload over image_size_total (Content-Length 2 MiB)", code, hdrs, data)
    check("glance a: upload with a Content-Length over image_size_total is refused with 413",
          code == 413 and "image_size_total" in json.dumps(body), (code, body))
    code, _, data = request("GET", f"{r.glance('a')}/v2/images/{iid}", headers={"X-Auth-Token": r.ci})
    st = json.loads(data).get("status") if code == 200 else code
    REPORT["answers"]["image status after the refused upload"] = st
    check("glance a: the image stays queued", st == "queued", st)
    with open(path, "rb") as f:
        code, hdrs, data = request("PUT", f"{r.glance('a')}/v2/images/{iid}/file", headers=h, stream=f, chunked=True)
    answer("chunked upload with image_size_total at its usage", code, hdrs, data)
    check("glance a: a chunked upload is not checked beforehand (delta 0): 204", code == 204, code)
    u = r.usage("a")["image_size_total"]
    REPORT["answers"]["image_size_total after the chunked upload"] = u
    check("glance a: image_size_total usage is now over the limit", u["usage"] > u["limit"], u)


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = args[0]
    report = args[args.index("--report") + 1] if "--report" in args else os.path.join(d, "quota-smoke.json")
    e = env(d)
    for k in ("GLANCE_SERVICE_ID", "CI_PROJECT_ID", "GLANCE_A_ENDPOINT_ID"):
        if not e.get(k):
            print(f"rig.env has no {k}: a rig from before the Glance quotas", file=sys.stderr)
            sys.exit(1)
    r = Rig(e)
    before = {w: {k: v["limit"] for k, v in r.usage(w).items()} for w in "ab"}
    try:
        count_quota(r)
        r.cleanup()
        with tempfile.TemporaryDirectory() as tmp:
            size_quota(r, tmp)
    finally:
        r.cleanup()
    for w in "ab":
        u = r.usage(w)
        REPORT["answers"][f"usage {w} after"] = u
        check(f"glance {w}: limits back to what they were", {k: v["limit"] for k, v in u.items()} == before[w], u)
    with open(report, "w") as f:
        json.dump(REPORT, f, indent=2)
    print(f"report: {report}")
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
