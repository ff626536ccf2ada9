#!/usr/bin/env python3
"""End-to-end check of a running rig (stdlib only; needs qemu-img).

    python3 tests/openstack/smoke.py DIR [--parallel N]

As ci-user on project ci: token, catalog (image in RegionOne and RegionTwo), wrong password
gives 401; then on each Glance: create a private qcow2 image with custom properties, upload
it (Content-Length, then chunked), check active + checksum (md5) + os_hash_value (sha512),
list by name sorted by created_at:desc, download, delete.  --parallel N also runs N such
cycles at once on glance a.  Ends with an 'N passed, N failed' line; exit 1 on any failure.
"""

import concurrent.futures
import hashlib
import http.client
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import uuid

RESULTS = {"passed": 0, "failed": 0}


def env(d):
    out = {}
    with open(os.path.join(d, "rig.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            out[k] = shlex.split(v)[0] if v else ""
    return out


def request(method, url, body=None, headers=None, stream=None, length=None, chunked=False, timeout=600):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    path = u.path + ("?" + u.query if u.query else "")
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if stream is not None:
        if chunked:
            def gen():
                while True:
                    b = stream.read(4 << 20)
                    if not b:
                        return
                    yield b
            data = gen()
        else:
            hdrs["Content-Length"] = str(length)
            data = stream
    conn.request(method, path, body=data, headers=hdrs, encode_chunked=chunked)
    r = conn.getresponse()
    payload = r.read()
    conn.close()
    return r.status, dict(r.getheaders()), payload


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print(f"ok   {name}")
    else:
        RESULTS["failed"] += 1
        print(f"FAIL {name} {detail}")
    return cond


def get_token(e, user, password, project):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    return request("POST", e["KEYSTONE_URL"] + "/auth/tokens", body)


def make_qcow2(tmp, size="64M"):
    path = os.path.join(tmp, f"t-{uuid.uuid4().hex[:8]}.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True)
    return path


def digests(path):
    md5, sha256, sha512 = hashlib.md5(), hashlib.sha256(), hashlib.sha512()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            md5.update(b)
            sha256.update(b)
            sha512.update(b)
    return md5.hexdigest(), sha256.hexdigest(), sha512.hexdigest()


def image_cycle(glance, tok, path, label, chunked=False, quiet=False):
    """create, upload, verify, list, download, delete; returns list of (name, ok, detail)."""
    res = []
    h = {"X-Auth-Token": tok}
    md5, sha256, sha512 = digests(path)
    name = f"smoke-{label}-{uuid.uuid4().hex[:8]}"
    code, _, data = request("POST", glance + "/v2/images", {
        "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
        "pipeline_owner": "smoke", "pipeline_sha256": sha256}, h)
    res.append(("create image", code == 201, f"HTTP {code} {data[:200]!r}"))
    if code != 201:
        return res
    img = json.loads(data)
    iid = img["id"]
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        code, _, data = request("PUT", f"{glance}/v2/images/{iid}/file",
                                headers={**h, "Content-Type": "application/octet-stream"},
                                stream=f, length=size, chunked=chunked)
    res.append((f"upload ({'chunked' if chunked else 'Content-Length'})", code == 204,
                f"HTTP {code} {data[:200]!r}"))
    code, _, data = request("GET", f"{glance}/v2/images/{iid}", headers=h)
    img = json.loads(data) if code == 200 else {}
    res.append(("image active", img.get("status") == "active", f"{img.get('status')}"))
    res.append(("checksum md5", img.get("checksum") == md5, f"{img.get('checksum')} != {md5}"))
    res.append(("os_hash sha512", img.get("os_hash_algo") == "sha512" and img.get("os_hash_value") == sha512,
                f"{img.get('os_hash_algo')} {img.get('os_hash_value')}"))
    res.append(("size", img.get("size") == size, f"{img.get('size')} != {size}"))
    res.append(("custom properties", img.get("pipeline_owner") == "smoke" and img.get("pipeline_sha256") == sha256,
                f"{img.get('pipeline_owner')} {img.get('pipeline_sha256')}"))
    res.append(("private + owner ci", img.get("visibility") == "private" and bool(img.get("owner")), json.dumps(img)[:200]))
    q = urllib.parse.urlencode({"name": name, "sort": "created_at:desc"})
    code, _, data = request("GET", f"{glance}/v2/images?{q}", headers=h)
    ids = [i["id"] for i in json.loads(data).get("images", [])] if code == 200 else []
    res.append(("list by name", ids == [iid], f"HTTP {code} {ids}"))
    code, _, data = request("GET", f"{glance}/v2/images/{iid}/file", headers=h)
    res.append(("download", code == 200 and hashlib.md5(data).hexdigest() == md5, f"HTTP {code}"))
    code, _, _ = request("DELETE", f"{glance}/v2/images/{iid}", headers=h)
    res.append(("delete", code == 204, f"HTTP {code}"))
    code, _, _ = request("GET", f"{glance}/v2/images/{iid}", headers=h)
    res.append(("gone after delete", code == 404, f"HTTP {code}"))
    return res


def report(prefix, res):
    for n, ok, detail in res:
        check(f"{prefix}: {n}", ok, detail)


def main():
    args = sys.argv[1:]
    if not args:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = args[0]
    parallel = int(args[args.index("--parallel") + 1]) if "--parallel" in args else 0
    e = env(d)

    code, hdrs, data = get_token(e, "ci-user", "wrong-password", "ci")
    check("wrong password gives 401", code == 401, f"HTTP {code}")
    code, hdrs, data = get_token(e, e["CI_USER"], e["CI_PASSWORD"], e["CI_PROJECT"])
    if not check("ci-user token", code == 201, f"HTTP {code} {data[:200]!r}"):
        sys.exit(1)
    tok = hdrs["X-Subject-Token"]
    t = json.loads(data)["token"]
    check("token scoped to project ci", t["project"]["name"] == "ci", t["project"])
    check("ci-user has role member", "member" in [r["name"] for r in t["roles"]], t["roles"])
    eps = {(ep["region_id"], ep["interface"]): ep["url"]
           for s in t["catalog"] if s["type"] == "image" for ep in s["endpoints"]}
    for region, url in (("RegionOne", e["GLANCE_A_URL"]), ("RegionTwo", e["GLANCE_B_URL"])):
        for iface in ("public", "internal"):
            check(f"catalog image {region} {iface}", eps.get((region, iface)) == url, f"{eps}")

    with tempfile.TemporaryDirectory() as tmp:
        small = make_qcow2(tmp)
        for which in ("A", "B"):
            glance = e[f"GLANCE_{which}_URL"]
            report(f"glance {which}", image_cycle(glance, tok, small, which.lower()))
            report(f"glance {which}", image_cycle(glance, tok, small, which.lower(), chunked=True))
        if parallel:
            t0 = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(parallel) as ex:
                futs = [ex.submit(image_cycle, e["GLANCE_A_URL"], tok, small, f"par{i}") for i in range(parallel)]
                allres = []
                for f in futs:
                    try:
                        allres.extend(f.result())
                    except Exception:
                        allres.append(("parallel cycle", False, traceback.format_exc()))
            bad = [r for r in allres if not r[1]]
            check(f"{parallel} parallel cycles on glance A ({time.monotonic() - t0:.1f} s)", not bad, bad[:3])

    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
