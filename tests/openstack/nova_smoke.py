#!/usr/bin/env python3
"""End-to-end check of a running 'rig start DIR --nova' (stdlib only; needs qemu-img, debugfs,
virsh and the fixture image).

    python3 tests/openstack/nova_smoke.py DIR [--image QCOW2] [--microversion 2.X] [--report FILE]

As ci-user on project ci (admin only for the quota): upload the fixture qcow2 to Glance a;
boot it on Nova (m1.builder, "networks": "none", config drive, user_data: a shell script that
writes a file, prints a marker on /dev/ttyS0, sleeps 15 s, powers off); poll
os-getConsoleOutput until the marker; os-stop; wait SHUTOFF; createImage; wait until the
snapshot is active; download it, check it is qcow2 and holds the file; delete the server and
both images; check libvirt keeps no domain of DIR.  Then record what Nova answers to a flavor
that is too small (m1.tiny), to os-getConsoleOutput on a SHUTOFF server, the fault of a server
in ERROR, and a create over the project's instance quota (set to 1, then restored).

Prints ok/FAIL lines and 'N passed, N failed'; writes every timing and the exact answers to
--report (default DIR/nova-smoke.json).  Exit 1 on any failure.
"""

import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smoke import RESULTS, check, env, get_token, request  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROOF_PATH = "/var/lib/nova-smoke/proof"
REPORT = {"timings": {}, "answers": {}}


def arg(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


class Nova:
    def __init__(self, e, tok, microversion):
        self.url = e["NOVA_URL"]
        self.tok = tok
        self.mv = microversion

    def h(self, tok=None):
        return {"X-Auth-Token": tok or self.tok, "OpenStack-API-Version": f"compute {self.mv}",
                "X-OpenStack-Nova-API-Version": self.mv}

    def call(self, method, path, body=None, tok=None):
        code, hdrs, data = request(method, self.url + path, body, self.h(tok), timeout=120)
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data.decode(errors="replace")
        return code, hdrs, parsed

    def server(self, sid):
        code, _, body = self.call("GET", f"/servers/{sid}")
        return code, (body or {}).get("server", body) if code == 200 else body

    def action(self, sid, body, tok=None):
        return self.call("POST", f"/servers/{sid}/action", body, tok)


def answer(name, code, hdrs, body):
    """Keep an HTTP answer exactly (status, body, the headers a client may read)."""
    keep = {k: v for k, v in (hdrs or {}).items()
            if k.lower() in ("content-type", "location", "openstack-api-version", "x-compute-request-id")}
    REPORT["answers"][name] = {"status": code, "headers": keep, "body": body}
    print(f"     {name}: HTTP {code} {json.dumps(body)[:400]}")


def wait_for(what, fn, timeout, interval=1.0):
    """Poll fn() until it returns a true value; returns (value, seconds)."""
    t0 = time.monotonic()
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def user_data(token):
    script = f"""#!/bin/sh
# nova_smoke.py: prove the user-data ran, stay up for the console poll, power off.
mkdir -p {os.path.dirname(PROOF_PATH)}
echo "nova-smoke {token}" > {PROOF_PATH}
sync
{{
  echo "NOVA_SMOKE_DS $(cloud-id 2>/dev/null) $(cat /run/cloud-init/ds-identify.log 2>/dev/null | grep -m1 '^Found' )"
  echo "NOVA_SMOKE_MODULES $(lsmod | awk '$1 ~ /^(ata_piix|sr_mod|isofs|cdrom)$/ {{print $1}}' | sort | tr '\\n' ' ')"
  echo "NOVA_SMOKE_UPTIME $(cut -d' ' -f1 /proc/uptime)"
  echo "NOVA_SMOKE_MARKER {token}"
}} > /dev/ttyS0
sleep 15
systemctl poweroff --no-block || poweroff -f
"""
    return base64.b64encode(script.encode()).decode()


def fixture_image(args):
    path = arg(args, "--image")
    if path:
        return path
    out = subprocess.run([os.path.join(HERE, "..", "fixtures", "cloud-image.sh")], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return out.strip().splitlines()[-1]


def upload(glance, tok, path, name):
    h = {"X-Auth-Token": tok}
    code, _, data = request("POST", glance + "/v2/images", {
        "name": name, "disk_format": "qcow2", "container_format": "bare", "visibility": "private"}, h)
    if not check("upload: create image", code == 201, f"HTTP {code} {data[:300]!r}"):
        return None
    iid = json.loads(data)["id"]
    with open(path, "rb") as f:
        code, _, data = request("PUT", f"{glance}/v2/images/{iid}/file",
                                headers={**h, "Content-Type": "application/octet-stream"},
                                stream=f, length=os.path.getsize(path))
    check("upload: PUT file", code == 204, f"HTTP {code} {data[:300]!r}")
    return iid


def image_status(glance, tok, iid):
    code, _, data = request("GET", f"{glance}/v2/images/{iid}", headers={"X-Auth-Token": tok})
    return json.loads(data) if code == 200 else {"status": f"HTTP {code}"}


def libvirt_domains_of(d):
    inst = os.path.join(d, "nova", "instances") + "/"
    p = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "list", "--all", "--name"],
                       capture_output=True, text=True, timeout=60)
    names = [n.strip() for n in p.stdout.splitlines() if n.strip()]
    mine = []
    for n in names:
        x = subprocess.run(["virsh", "-q", "-c", "qemu:///system", "dumpxml", n], capture_output=True,
                           text=True, timeout=60)
        if inst in x.stdout:
            mine.append(n)
    return mine, names


def create_server(nova, name, image, flavor, **extra):
    body = {"server": {"name": name, "imageRef": image, "flavorRef": flavor, "networks": "none", **extra}}
    return nova.call("POST", "/servers", body)


def delete_server(nova, sid, timeout=120):
    code, _, _ = nova.call("DELETE", f"/servers/{sid}")
    gone = False
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        c, _ = nova.server(sid)
        if c == 404:
            gone = True
            break
        time.sleep(0.5)
    return code, gone, time.monotonic() - t0


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = os.path.realpath(args[0])
    e = env(d)
    if e.get("NOVA") != "1":
        print(f"{d} is not a --nova rig", file=sys.stderr)
        sys.exit(2)
    report_path = arg(args, "--report", os.path.join(d, "nova-smoke.json"))
    image_path = fixture_image(args)
    T = REPORT["timings"]

    code, hdrs, data = get_token(e, e["CI_USER"], e["CI_PASSWORD"], e["CI_PROJECT"])
    if not check("ci-user token", code == 201, f"HTTP {code}"):
        sys.exit(1)
    tok = hdrs["X-Subject-Token"]
    tb = json.loads(data)["token"]
    project_id = tb["project"]["id"]
    cat = {(s["type"], ep["region_id"], ep["interface"]): ep["url"] for s in tb["catalog"] for ep in s["endpoints"]}
    for typ, url in (("compute", e["NOVA_URL"]), ("placement", e["PLACEMENT_URL"]), ("network", e["NETWORK_URL"]),
                     ("image", e["GLANCE_A_URL"])):
        check(f"catalog {typ} RegionOne public", cat.get((typ, "RegionOne", "public")) == url, cat)
    code, hdrs, data = get_token(e, e["ADMIN_USER"], e["ADMIN_PASSWORD"], "admin")
    admin = hdrs["X-Subject-Token"]
    mv = arg(args, "--microversion", e.get("NOVA_MAX_MICROVERSION") or "2.79")
    REPORT["microversion"] = mv
    nova = Nova(e, tok, mv)
    glance = e["GLANCE_A_URL"]

    code, _, body = nova.call("GET", "/flavors/detail")
    flavors = {f["name"]: f for f in (body or {}).get("flavors", [])}
    check("flavors m1.builder m1.tiny m1.large visible to ci-user",
          {"m1.builder", "m1.tiny", "m1.large"} <= set(flavors), list(flavors))
    REPORT["flavors"] = {n: {k: f[k] for k in ("id", "vcpus", "ram", "disk")} for n, f in flavors.items()}

    marker = uuid.uuid4().hex[:12]
    images = []
    servers = []
    try:
        t0 = time.monotonic()
        iid = upload(glance, tok, image_path, f"nova-smoke-{marker}")
        if iid is None:
            raise RuntimeError("upload failed")
        images.append(iid)
        img = image_status(glance, tok, iid)
        check("fixture image active", img.get("status") == "active", img.get("status"))
        T["upload_s"] = round(time.monotonic() - t0, 1)
        REPORT["fixture"] = {"path": image_path, "size": os.path.getsize(image_path),
                             "virtual_size": img.get("virtual_size")}

        # -- boot, marker, stop, snapshot ------------------------------------------------
        t_post = time.monotonic()
        code, hdrs, body = create_server(nova, f"nova-smoke-{marker}", iid, flavors["m1.builder"]["id"],
                                         config_drive=True, user_data=user_data(marker))
        answer("create_server", code, hdrs, body)
        if not check("POST /servers 202", code == 202, body):
            raise RuntimeError("create failed")
        sid = body["server"]["id"]
        servers.append(sid)

        def status():
            c, s = nova.server(sid)
            if c != 200:
                raise RuntimeError(f"GET /servers/{sid}: HTTP {c} {s}")
            if s["status"] == "ERROR":
                raise RuntimeError(f"server ERROR: {s.get('fault')}")
            return s

        s, _ = wait_for("ACTIVE", lambda: (lambda s: s if s["status"] == "ACTIVE" else None)(status()), 600)
        T["post_to_active_s"] = round(time.monotonic() - t_post, 1)
        check("server ACTIVE with config_drive", str(s.get("config_drive")).lower() == "true", s.get("config_drive"))
        REPORT["server_active"] = {k: s.get(k) for k in ("status", "config_drive", "addresses",
                                                         "OS-EXT-STS:task_state", "OS-EXT-STS:power_state")}

        console = {}

        def marker_seen():
            c, _, b = nova.action(sid, {"os-getConsoleOutput": {"length": 50}})
            if c == 200 and f"NOVA_SMOKE_MARKER {marker}" in b["output"]:
                console["output"] = b["output"]
                return True
            if c not in (200,):
                console.setdefault("non_200", []).append({"status": c, "body": b})
            return False

        wait_for("the marker on the console", marker_seen, 600, interval=2)
        T["post_to_marker_s"] = round(time.monotonic() - t_post, 1)
        check("marker in os-getConsoleOutput", True)
        diag = [ln for ln in console["output"].splitlines() if ln.startswith("NOVA_SMOKE_")]
        REPORT["guest_diagnostics"] = diag
        for ln in diag:
            print(f"     guest: {ln}")
        if console.get("non_200"):
            REPORT["answers"]["console_before_marker_non_200"] = console["non_200"][:3]

        t_stop = time.monotonic()
        code, hdrs, body = nova.action(sid, {"os-stop": None})
        answer("os_stop", code, hdrs, body)
        check("os-stop 202", code == 202, body)
        wait_for("SHUTOFF", lambda: status()["status"] == "SHUTOFF", 600)
        T["stop_to_shutoff_s"] = round(time.monotonic() - t_stop, 1)
        T["post_to_shutoff_s"] = round(time.monotonic() - t_post, 1)

        code, hdrs, body = nova.action(sid, {"os-getConsoleOutput": {"length": 50}})
        answer("console_output_shutoff", code, hdrs, body)

        t_snap = time.monotonic()
        code, hdrs, body = nova.action(sid, {"createImage": {"name": f"nova-smoke-snap-{marker}",
                                                             "metadata": {"pipeline_smoke": marker}}})
        answer("create_image", code, hdrs, body)
        if not check("createImage 202 with image_id", code == 202 and "image_id" in (body or {}), body):
            raise RuntimeError("createImage failed")
        snap = body["image_id"]
        images.append(snap)
        final, _ = wait_for("snapshot active", lambda: (lambda i: i if i.get("status") in ("active", "killed", "deleted")
                                                          or i.get("status", "").startswith("HTTP 404") else None)(
            image_status(glance, tok, snap)), 600)
        T["create_image_to_active_s"] = round(time.monotonic() - t_snap, 1)
        check("snapshot active", final.get("status") == "active", final.get("status"))
        check("snapshot has the metadata as a property", final.get("pipeline_smoke") == marker,
              {k: final.get(k) for k in ("pipeline_smoke", "disk_format")})
        REPORT["snapshot"] = {k: final.get(k) for k in ("status", "disk_format", "container_format", "size",
                                                       "virtual_size", "min_disk", "min_ram", "visibility",
                                                       "image_type", "instance_uuid", "base_image_ref",
                                                       "pipeline_smoke")}

        with tempfile.TemporaryDirectory(prefix="nova-smoke-") as tmp:
            t_dl = time.monotonic()
            code, _, data = request("GET", f"{glance}/v2/images/{snap}/file", headers={"X-Auth-Token": tok})
            check("download snapshot", code == 200, f"HTTP {code}")
            q = os.path.join(tmp, "snap.qcow2")
            with open(q, "wb") as f:
                f.write(data)
            T["download_s"] = round(time.monotonic() - t_dl, 1)
            info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", q], check=True,
                                             capture_output=True, text=True).stdout)
            REPORT["snapshot"]["qemu_img_info"] = {k: info.get(k) for k in ("format", "virtual-size", "actual-size",
                                                                            "backing-filename")}
            check("snapshot is qcow2 without backing file", info.get("format") == "qcow2"
                  and not info.get("backing-filename"), info)
            raw = os.path.join(tmp, "snap.raw")
            subprocess.run(["qemu-img", "convert", "-O", "raw", q, raw], check=True)
            out = subprocess.run(["debugfs", "-R", f"cat {PROOF_PATH}", f"{raw}?offset=1048576"],
                                 capture_output=True, text=True).stdout
            check("snapshot holds the file the user-data wrote", out.strip() == f"nova-smoke {marker}", repr(out))

        t_del = time.monotonic()
        code, gone, _ = delete_server(nova, sid)
        T["delete_to_404_s"] = round(time.monotonic() - t_del, 1)
        check("DELETE server 204, then 404", code == 204 and gone, f"HTTP {code} gone={gone}")
        servers.remove(sid)
        mine, _ = libvirt_domains_of(d)
        check("no libvirt domain left", not mine, mine)
        check("instance folder removed", not os.path.exists(os.path.join(d, "nova", "instances", sid)))

        # -- what a client sees when things go wrong -------------------------------------
        # Flavor too small: m1.tiny (1 GB) for the 2 GiB fixture, image without min_disk.
        code, hdrs, body = create_server(nova, f"nova-smoke-tiny-{marker}", iid, flavors["m1.tiny"]["id"])
        answer("create_flavor_too_small", code, hdrs, body)
        if code == 202:
            tid = body["server"]["id"]
            servers.append(tid)
            t_err = time.monotonic()
            s, _ = wait_for("ERROR or ACTIVE", lambda: (lambda s: s if s["status"] in ("ERROR", "ACTIVE") else None)(
                nova.server(tid)[1]), 300)
            T["flavor_too_small_to_error_s"] = round(time.monotonic() - t_err, 1)
            code, hdrs, body = nova.call("GET", f"/servers/{tid}")
            answer("get_server_in_error", code, hdrs, {"server": {
                k: body["server"].get(k) for k in ("id", "status", "fault", "OS-EXT-STS:task_state",
                                                  "OS-EXT-STS:vm_state", "OS-EXT-STS:power_state")}})
            check("too-small flavor: server ERROR with a fault", s["status"] == "ERROR" and "fault" in s,
                  s.get("status"))
            code, gone, _ = delete_server(nova, tid)
            check("delete the ERROR server", code == 204 and gone, f"HTTP {code}")
            servers.remove(tid)
        # The same with the image's min_disk set (what a client can do from qemu-img's virtual size).
        vs_gb = -(-int(REPORT["fixture"]["virtual_size"] or 0) // (1 << 30))
        code, _, data = request("PATCH", f"{glance}/v2/images/{iid}",
                                [{"op": "replace", "path": "/min_disk", "value": vs_gb}],
                                {"X-Auth-Token": tok, "Content-Type": "application/openstack-images-v2.1-json-patch"})
        check(f"PATCH image min_disk={vs_gb}", code == 200, f"HTTP {code} {data[:200]!r}")
        code, hdrs, body = create_server(nova, f"nova-smoke-tiny2-{marker}", iid, flavors["m1.tiny"]["id"])
        answer("create_flavor_too_small_min_disk", code, hdrs, body)
        check("too-small flavor with image min_disk: 400 at create", code == 400, code)
        if code == 202:
            servers.append(body["server"]["id"])

        # Quota: ci's instances quota 1, two creates (m1.tiny: nothing boots; an ERROR
        # server counts against the quota like any other).
        code, _, body = nova.call("GET", f"/os-quota-sets/{project_id}", tok=admin)
        old = body["quota_set"]["instances"]
        code, hdrs, body = nova.call("PUT", f"/os-quota-sets/{project_id}", {"quota_set": {"instances": 1}},
                                     tok=admin)
        answer("put_quota_instances_1", code, hdrs, body)
        check("admin sets ci's instances quota to 1", code == 200, code)
        try:
            code, hdrs, body = create_server(nova, f"nova-smoke-q1-{marker}", iid, flavors["m1.builder"]["id"])
            check("quota: first create 202", code == 202, body)
            q1 = body["server"]["id"]
            servers.append(q1)
            # At once: the first server is still a build request in the API database, which
            # the API's count does not see; the conductor's recheck catches it.
            code, hdrs, body = create_server(nova, f"nova-smoke-q2-{marker}", iid, flavors["m1.builder"]["id"])
            answer("create_over_quota_at_once", code, hdrs, body)
            if code == 202:
                q2 = body["server"]["id"]
                servers.append(q2)
                s, _ = wait_for("q2 ERROR or ACTIVE", lambda: (lambda s: s if s["status"] in ("ERROR", "ACTIVE")
                                                               else None)(nova.server(q2)[1]), 300)
                code, hdrs, body = nova.call("GET", f"/servers/{q2}")
                answer("get_server_over_quota", code, hdrs, {"server": {
                    k: body["server"].get(k) for k in ("id", "status", "fault", "OS-EXT-STS:vm_state")}})
                check("quota, two creates at once: 403, or 202 then ERROR with a quota fault",
                      s["status"] == "ERROR" and "Quota exceeded" in json.dumps(s.get("fault")), s.get("fault"))
            else:
                check("quota, two creates at once: 403", code == 403, code)
            # Once the first is built (in the cell database), the API refuses at once.
            wait_for("q1 ACTIVE", lambda: nova.server(q1)[1]["status"] in ("ACTIVE", "ERROR"), 300)
            code, hdrs, body = create_server(nova, f"nova-smoke-q3-{marker}", iid, flavors["m1.builder"]["id"])
            answer("create_over_quota", code, hdrs, body)
            check("quota: a create once the first is built is refused (403)", code == 403, code)
            if code == 202:
                servers.append(body["server"]["id"])
        finally:
            code, hdrs, body = nova.call("PUT", f"/os-quota-sets/{project_id}",
                                         {"quota_set": {"instances": old}}, tok=admin)
            check(f"quota restored to {old}", code == 200 and body["quota_set"]["instances"] == old, code)
    except Exception as ex:  # reported as a failure; cleanup below
        check("flow", False, f"{type(ex).__name__}: {ex}")
    finally:
        for sid in list(servers):
            code, gone, _ = delete_server(nova, sid)
            check(f"cleanup: delete server {sid[:8]}", code in (204, 404) and gone, code)
        for iid in images:
            code, _, _ = request("DELETE", f"{glance}/v2/images/{iid}", headers={"X-Auth-Token": tok})
            check(f"delete image {iid[:8]}", code in (204, 404), f"HTTP {code}")
        t_lv = time.monotonic()
        while True:
            mine, _ = libvirt_domains_of(d)
            if not mine or time.monotonic() - t_lv > 60:
                break
            time.sleep(1)
        check("virsh list --all: no domain of this rig", not mine, mine)

    REPORT["result"] = dict(RESULTS)
    with open(report_path, "w") as f:
        json.dump(REPORT, f, indent=2)
    print("timings: " + ", ".join(f"{k}={v}" for k, v in T.items()))
    print(f"report: {report_path}")
    print(f"{RESULTS['passed']} passed, {RESULTS['failed']} failed")
    sys.exit(1 if RESULTS["failed"] else 0)


if __name__ == "__main__":
    main()
