#!/usr/bin/env python3
"""Keystone + two Glance services on 127.0.0.1 for tests, and with --nova the compute side
(rig_nova.py).  Driven by tests/openstack/rig.

Standard library only.  start, start-glance and build-templates run with the rig venv's
python (which owns keystone-manage, glance-manage and uwsgi); stop, stop-glance and status
run with any python3.

Layout of a rig DIR:
    rig.json            state: ports, venv, regions (read by every sub-command)
    rig.env             shell-sourceable summary (rewritten when a glance stops/starts)
    clouds.yaml         cloud-a (RegionOne), cloud-b (RegionTwo), admin, admin-b
    rig_wsgi.py         uWSGI entry point (copied from tests/openstack)
    pids/NAME.pid       uwsgi master PIDs; each is a session + process-group leader
    logs/NAME.log       uwsgi / bootstrap output (keystone, glance-a, glance-b, keystone-manage)
    keystone/           keystone.conf, keystone.db, fernet + credential key repositories
    glance-a/ glance-b/ glance-api.conf, glance.db, images/ staging/ tasks/ cache/ locks/
Every process runs with its cwd in DIR/keystone or DIR/glance-X: that, and its process
group, is how stop finds it again.  'start --nova' adds the folders listed in rig_nova.py;
'start --watch-pid PID' (and every --nova rig) adds a watchdog (DIR/watchdog) that stops
the rig when PID exits or DIR is deleted.
"""

import base64
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the work tree
import rig_nova  # noqa: E402

ADMIN_USER = "admin"
ADMIN_PASSWORD = "rig-admin-password"
GLANCE_SERVICE_USER = "glance"
GLANCE_SERVICE_PASSWORD = "rig-glance-password"
CI_PROJECT = "ci"
CI_USER = "ci-user"
CI_PASSWORD = "ci-password"
CI_ROLE = "member"
REGIONS = {"a": "RegionOne", "b": "RegionTwo"}
GLANCES = ("a", "b")
# Keystone unified limits the Glances enforce (use_keystone_limits): the registered (default)
# limit of every project, in each Glance's region.  Sizes in MiB.  Generous, so that no test
# meets them unless it lowers a project's limit (POST /v3/limits, see README.md).
GLANCE_LIMITS = {"image_size_total": 100000, "image_stage_total": 100000,
                 "image_count_total": 1000, "image_count_uploading": 1000}

START_TIMEOUT = float(os.environ.get("RIG_START_TIMEOUT", "120"))
# --nova: MariaDB, RabbitMQ, libvirt and five more Python services on 2 shared cores.
NOVA_START_TIMEOUT = float(os.environ.get("RIG_START_TIMEOUT", "420"))
WATCH_INTERVAL = float(os.environ.get("RIG_WATCH_INTERVAL", "1"))
HERE = os.path.dirname(os.path.abspath(__file__))
STOP_GRACE = float(os.environ.get("RIG_STOP_GRACE", "3"))

UWSGI_FLAGS = [
    "--master", "--processes", "1", "--threads", "4", "--enable-threads",
    "--die-on-term", "--need-app", "--lazy-apps", "--buffer-size", "65535",
    # uWSGI's --http-socket drops connections without telling keep-alive clients.
    "--add-header", "Connection: close",
    # Glance reads chunked bodies chunk by chunk; the default limit is 1 MiB per chunk.
    "--chunked-input-limit", "67108864",
    # Default 4 s: a client that pauses mid-body would be cut off.
    "--socket-timeout", "120",
    # A client that hangs up mid-request is normal in these tests: do not spam tracebacks.
    "--ignore-sigpipe", "--ignore-write-errors", "--disable-write-exception",
]


def log(msg):
    print(f"rig: {msg}", file=sys.stderr, flush=True)


class RigError(Exception):
    pass


# ---------------------------------------------------------------------------
# small helpers


def venv_dir():
    return sys.prefix


def venv_bin(name):
    path = os.path.join(venv_dir(), "bin", name)
    if not os.path.exists(path):
        raise RigError(f"{path} missing: run this with the rig venv's python ('rig install')")
    return path


def templates_dir():
    return os.path.join(venv_dir(), "rig-templates")


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def ini(sections):
    out = []
    for name, items in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{k} = {v}" for k, v in items.items())
        out.append("")
    return "\n".join(out)


def http(method, url, body=None, headers=None, timeout=30):
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def tail(path, n=30):
    try:
        with open(path, "rb") as f:
            lines = f.read().decode(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------
# processes


def proc_stat(pid):
    """(state, pgid) of a process, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(")") + 2:].split()
    return rest[0], int(rest[2])


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_cwd(pid):
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None
    # A process whose cwd was deleted (the watchdog's case: DIR removed under the rig).
    return cwd[:-len(" (deleted)")] if cwd.endswith(" (deleted)") else cwd


def all_pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def inside(path, root):
    return path is not None and (path == root or path.startswith(root + os.sep))


def rig_processes(root, pgid=None):
    """Live processes whose cwd is inside root (and, if given, in process group pgid)."""
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        st = proc_stat(pid)
        if st is None or st[0] in ("Z", "X"):
            continue
        if pgid is not None and st[1] != pgid:
            continue
        if inside(proc_cwd(pid), root):
            found.append(pid)
    return found


# Working directory (under DIR) of each component; it also identifies its processes.
HOMES = {"keystone-manage": "keystone", **rig_nova.HOMES}
# PIDs the watchdog remembered, for when DIR (and its pids/) has been deleted.
KNOWN_PIDS = {}


def home(d, name):
    return os.path.join(d, HOMES.get(name, name))


def pidfile(d, name):
    return os.path.join(d, "pids", f"{name}.pid")


def read_pid(d, name):
    try:
        with open(pidfile(d, name)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return KNOWN_PIDS.get(name)


def running_pid(d, name):
    """The recorded PID of component `name` if that process is still ours and alive."""
    pid = read_pid(d, name)
    if pid and alive(pid) and inside(proc_cwd(pid), home(d, name)):
        return pid
    return None


def spawn(d, name, argv, env_extra):
    """Start argv in its own session with cwd DIR/name; stdout+stderr to DIR/logs/name.log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(env_extra)
    env["PATH"] = os.path.join(venv_dir(), "bin") + os.pathsep + env.get("PATH", "/usr/bin:/bin")
    logpath = os.path.join(d, "logs", f"{name}.log")
    with open(logpath, "ab") as logf:
        logf.write(f"\n==== {time.strftime('%H:%M:%S')} {' '.join(map(shlex.quote, argv))}\n".encode())
        logf.flush()
        p = subprocess.Popen(argv, cwd=home(d, name), env=env, stdin=subprocess.DEVNULL,
                             stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
    write(pidfile(d, name), f"{p.pid}\n")
    return p


def _signal(pids, pgid, sig):
    if pgid:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def kill_groups(d, names, sig=signal.SIGTERM, grace=STOP_GRACE):
    """Stop components (whole process groups) at once; returns the names that were running.

    SIGTERM goes to each uWSGI master only (with --die-on-term it takes its worker down);
    whatever is left after `grace` seconds gets SIGKILL, the whole group.  Glance's atexit
    hook sometimes hangs the worker ("cannot join current thread"), hence the short grace.
    """
    groups = {}
    for name in names:
        pid = read_pid(d, name)
        members = rig_processes(home(d, name), pgid=pid) if pid else []
        if members:
            groups[name] = (pid, members)
        else:
            _rm(pidfile(d, name))
    if not groups:
        return []

    def wait(seconds):
        deadline = time.monotonic() + seconds
        while True:
            for name, (pid, members) in list(groups.items()):
                members = [p for p in members if alive(p)]
                groups[name] = (pid, members)
            if not any(m for _, m in groups.values()) or time.monotonic() > deadline:
                return
            time.sleep(0.05)

    if sig != signal.SIGKILL:
        for pid, members in groups.values():
            _signal([pid] if pid in members else members, None, sig)
        wait(grace)
    for pid, members in groups.values():
        if members:
            _signal(members, pid, signal.SIGKILL)
    wait(10)
    left = {n: m for n, (_, m) in groups.items() if m}
    if left:
        raise RigError(f"processes survived SIGKILL: {left}")
    for name in groups:
        _rm(pidfile(d, name))
    return list(groups)


def kill_group(d, name, sig=signal.SIGTERM, grace=STOP_GRACE):
    """Stop one component; True if it was running."""
    return bool(kill_groups(d, [name], sig, grace))


def _rm(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def uwsgi_argv(d, port):
    # rig_wsgi (copied into DIR by 'start') loads the app named by $RIG_APP.
    return [venv_bin("uwsgi"), "--http-socket", f"127.0.0.1:{port}", "--virtualenv", venv_dir(),
            "--pythonpath", d, "--module", "rig_wsgi:application", *UWSGI_FLAGS]


# ---------------------------------------------------------------------------
# configuration


def fernet_repo(path):
    os.makedirs(path, mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    for i in ("0", "1"):
        write(os.path.join(path, i), base64.urlsafe_b64encode(os.urandom(32)).decode(), 0o600)


def keystone_conf(d, db):
    k = os.path.join(d, "keystone")
    return ini({
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "database": {"connection": f"sqlite:///{db}?timeout=60", "sqlite_synchronous": "false"},
        "token": {"provider": "fernet"},
        "fernet_tokens": {"key_repository": f"{k}/fernet-keys"},
        "fernet_receipts": {"key_repository": f"{k}/fernet-receipts"},
        "credential": {"key_repository": f"{k}/credential-keys"},
        "identity": {"password_hash_rounds": "4"},
        # Every Glance quota check asks keystone 3-4 times (limit model, endpoint, limits,
        # registered limits), each validating the glance user's token: 100-150 ms per call
        # uncached here, 10-40 ms with keystone's in-process cache (one uWSGI worker, so it
        # stays coherent; keystone invalidates it on its own writes).
        "cache": {"enabled": "true", "backend": "dogpile.cache.memory"},
        "oslo_concurrency": {"lock_path": f"{k}/locks"},
    })


def glance_conf(d, which, st, db):
    g = os.path.join(d, f"glance-{which}")
    auth = f"http://127.0.0.1:{st['ports']['keystone']}"
    service_user = {
        "auth_type": "password",
        "username": GLANCE_SERVICE_USER,
        "password": GLANCE_SERVICE_PASSWORD,
        "project_name": "service",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
    }
    return ini({
        "DEFAULT": {
            "debug": "false",
            "use_stderr": "true",
            # Per-project quotas from Keystone's unified limits, for this Glance's endpoint
            # (hence its region): registered limits GLANCE_LIMITS, project limits /v3/limits.
            "use_keystone_limits": "true",
            "enabled_backends": "local:file",
            "worker_self_reference_url": f"http://127.0.0.1:{st['ports'][which]}",
            "image_cache_dir": f"{g}/cache",
        },
        "database": {"connection": f"sqlite:///{db}?timeout=60", "sqlite_synchronous": "false"},
        "glance_store": {"default_backend": "local"},
        "local": {"filesystem_store_datadir": f"{g}/images"},
        "os_glance_staging_store": {"filesystem_store_datadir": f"{g}/staging"},
        "os_glance_tasks_store": {"filesystem_store_datadir": f"{g}/tasks"},
        "oslo_concurrency": {"lock_path": f"{g}/locks"},
        "paste_deploy": {
            "flavor": "keystone",
            "config_file": os.path.join(venv_dir(), "etc", "glance", "glance-api-paste.ini"),
        },
        "keystone_authtoken": {
            "www_authenticate_uri": f"{auth}/v3",
            "auth_url": f"{auth}/v3",
            **service_user,
            "region_name": "RegionOne",
            "service_type": "image",
        },
        # oslo.limit: which endpoint's limits (by id: one GET /v3/endpoints/ID per check
        # instead of a service + region + endpoint lookup), read as the glance user (admin on
        # project service: may read endpoints and every project's limits).
        "oslo_limit": {
            "endpoint_id": st["ids"]["endpoints"][which]["public"],
            "auth_url": f"{auth}/v3",
            **service_user,
            # Keystone's own endpoint, from the catalog of that token (both regions have one).
            "region_name": REGIONS[which],
            "valid_interfaces": "public",
        },
    })


# ---------------------------------------------------------------------------
# build-templates (run once by 'rig install')


def cmd_build_templates(_args):
    final = templates_dir()
    if (os.path.isfile(os.path.join(final, "glance.db")) and os.path.isfile(os.path.join(final, "keystone.db"))
            and rig_nova.templates_ok(final)):
        return
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    kconf = os.path.join(tmp, "keystone.conf")
    gconf = os.path.join(tmp, "glance-manage.conf")
    write(kconf, ini({"DEFAULT": {"use_stderr": "true"},
                      "database": {"connection": f"sqlite:///{tmp}/keystone.db"}}))
    write(gconf, ini({"DEFAULT": {"use_stderr": "true"},
                      "database": {"connection": f"sqlite:///{tmp}/glance.db"}}))
    jobs = [
        ("keystone", [venv_bin("keystone-manage"), "--config-file", kconf, "db_sync"]),
        ("glance", [venv_bin("glance-manage"), "--config-file", gconf, "db_sync"]),
    ]
    procs = []
    for name, argv in jobs:
        logf = open(os.path.join(tmp, f"{name}-db_sync.log"), "wb")
        procs.append((name, subprocess.Popen(argv, cwd=tmp, stdin=subprocess.DEVNULL,
                                             stdout=logf, stderr=subprocess.STDOUT), logf))
    # MariaDB datadir (nova_api, nova, nova_cell0, cell mappings), RabbitMQ mnesia, placement.db.
    rig_nova.build_templates(tmp)
    for name, p, logf in procs:
        rc = p.wait()
        logf.close()
        if rc != 0:
            raise RigError(f"{name} db_sync failed (rc {rc}):\n{tail(logf.name)}")
    shutil.rmtree(final, ignore_errors=True)
    os.rename(tmp, final)
    log(f"schema templates in {final}")


# ---------------------------------------------------------------------------
# state files


def load_state(d):
    try:
        with open(os.path.join(d, "rig.json")) as f:
            return json.load(f)
    except FileNotFoundError:
        raise RigError(f"{d} is not a rig directory (no rig.json)")


def save_state(d, st):
    write(os.path.join(d, "rig.json"), json.dumps(st, indent=2) + "\n")


def keystone_url(st):
    return f"http://127.0.0.1:{st['ports']['keystone']}/v3"


def glance_url(st, which):
    return f"http://127.0.0.1:{st['ports'][which]}"


def write_env(d, st):
    def pid(name):
        return str(running_pid(d, name) or "")

    ids = st.get("ids", {})
    v = {
        "RIG_DIR": d,
        "KEYSTONE_URL": keystone_url(st),
        "KEYSTONE_PORT": st["ports"]["keystone"],
        "GLANCE_A_URL": glance_url(st, "a"),
        "GLANCE_A_PORT": st["ports"]["a"],
        "GLANCE_A_REGION": REGIONS["a"],
        "GLANCE_A_STORE": os.path.join(d, "glance-a", "images"),
        # The endpoint whose region the Glance's quotas ([oslo_limit] endpoint_id) come from.
        "GLANCE_A_ENDPOINT_ID": ids.get("endpoints", {}).get("a", {}).get("public", ""),
        "GLANCE_B_URL": glance_url(st, "b"),
        "GLANCE_B_PORT": st["ports"]["b"],
        "GLANCE_B_REGION": REGIONS["b"],
        "GLANCE_B_STORE": os.path.join(d, "glance-b", "images"),
        "GLANCE_B_ENDPOINT_ID": ids.get("endpoints", {}).get("b", {}).get("public", ""),
        # Unified limits: service_id of POST /v3/limits (region_id = GLANCE_X_REGION).
        "GLANCE_SERVICE_ID": ids.get("glance_service", ""),
        "OS_CLIENT_CONFIG_FILE": os.path.join(d, "clouds.yaml"),
        "CI_PROJECT": CI_PROJECT,
        "CI_PROJECT_ID": ids.get("ci_project", ""),
        "CI_USER": CI_USER,
        "CI_PASSWORD": CI_PASSWORD,
        "ADMIN_USER": ADMIN_USER,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "KEYSTONE_PID": pid("keystone"),
        "GLANCE_A_PID": pid("glance-a"),
        "GLANCE_B_PID": pid("glance-b"),
        "WATCHDOG_PID": pid("watchdog"),
        "WATCH_PID": st.get("watch_pid") or "",
    }
    v.update(rig_nova.env_entries(d, st))
    text = "".join(f"{k}={shlex.quote(str(x))}\n" for k, x in v.items())
    tmp = os.path.join(d, "rig.env.tmp")
    write(tmp, text)
    os.replace(tmp, os.path.join(d, "rig.env"))


def write_clouds(d, st):
    q = json.dumps

    def cloud(name, user, password, project, region):
        return [
            f"  {name}:",
            "    auth:",
            f"      auth_url: {q(keystone_url(st))}",
            f"      username: {q(user)}",
            f"      password: {q(password)}",
            f"      project_name: {q(project)}",
            '      user_domain_name: "Default"',
            '      project_domain_name: "Default"',
            f"    region_name: {q(region)}",
            '    interface: "public"',
            "    identity_api_version: 3",
        ]

    lines = ["# Written by tests/openstack/rig start.", "clouds:"]
    lines += cloud("cloud-a", CI_USER, CI_PASSWORD, CI_PROJECT, REGIONS["a"])
    lines += cloud("cloud-b", CI_USER, CI_PASSWORD, CI_PROJECT, REGIONS["b"])
    lines += cloud("admin", ADMIN_USER, ADMIN_PASSWORD, "admin", REGIONS["a"])
    lines += cloud("admin-b", ADMIN_USER, ADMIN_PASSWORD, "admin", REGIONS["b"])
    write(os.path.join(d, "clouds.yaml"), "\n".join(lines) + "\n", 0o600)


# ---------------------------------------------------------------------------
# keystone API


def token(st, user, password, project):
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    code, hdrs, data = http("POST", keystone_url(st) + "/auth/tokens", body)
    if code != 201:
        raise RigError(f"token for {user}: HTTP {code} {data[:300]!r}")
    return hdrs["X-Subject-Token"], json.loads(data)


def keystone_spec(st):
    """What ks_bootstrap.py creates after keystone's own bootstrap (admin, roles, RegionOne)."""
    spec = {
        "regions": [REGIONS["b"]],
        # Identity in RegionTwo too, so a cloud-b client finds every service in its region.
        "identity_endpoints": [{"region": REGIONS["b"], "interface": i, "url": keystone_url(st)}
                               for i in ("public", "internal")],
        "projects": ["service", {"name": CI_PROJECT, "id": st["ids"]["ci_project"]}],
        "users": [
            {"name": GLANCE_SERVICE_USER, "password": GLANCE_SERVICE_PASSWORD, "project": "service",
             "roles": ["admin", "service"]},
            {"name": CI_USER, "password": CI_PASSWORD, "project": CI_PROJECT, "roles": [CI_ROLE]},
        ],
        "services": [{"type": "image", "name": "glance", "id": st["ids"]["glance_service"], "endpoints": [
            {"region": REGIONS[w], "interface": i, "url": glance_url(st, w),
             "id": st["ids"]["endpoints"][w][i]}
            for w in GLANCES for i in ("public", "internal")]}],
        # Limits are per service and region (oslo.limit asks for its endpoint's region).
        "registered_limits": [
            {"service_id": st["ids"]["glance_service"], "region_id": REGIONS[w],
             "resource_name": r, "default_limit": n}
            for w in GLANCES for r, n in GLANCE_LIMITS.items()],
    }
    if st.get("nova"):
        extra = rig_nova.keystone_spec_additions(st)
        spec["users"] += extra["users"]
        spec["services"] += extra["services"]
    return spec


def check_catalog(st, tok_body):
    eps = {(e["region_id"], e["interface"]): e["url"]
           for s in tok_body["token"].get("catalog", []) if s["type"] == "image" for e in s["endpoints"]}
    for w in GLANCES:
        for i in ("public", "internal"):
            if eps.get((REGIONS[w], i)) != glance_url(st, w):
                raise RigError(f"catalog lacks image {i} endpoint in {REGIONS[w]}: {eps}")


# ---------------------------------------------------------------------------
# waiting


def wait_until(what, check, procs, deadline):
    """Poll check() until it returns True; fail early when a watched process died."""
    last = None
    while True:
        try:
            if check():
                return
        except (OSError, urllib.error.URLError) as e:
            last = e
        for name, p, d in procs:
            if p.poll() is not None:
                raise RigError(f"{name} exited (rc {p.returncode}) while waiting for {what}:\n"
                               f"{tail(os.path.join(d, 'logs', name + '.log'))}")
        if time.monotonic() > deadline:
            raise RigError(f"timed out waiting for {what} (last error: {last})")
        time.sleep(0.1)


def http_ok(url, statuses=(200,), timeout=5):
    def check():
        code, _, _ = http("GET", url, timeout=timeout)
        return code in statuses
    return check


def warm_policy(st, tok):
    """Validate one token before the glances may validate theirs at the same time.

    oslo.policy loads its rules on the first enforce() of a process, and that load is not
    thread-safe: two concurrent first validations (one per glance) sometimes gave one of
    them 403 identity:validate_token, which keystonemiddleware turns into a 401 for the
    client (seen in CI and reproduced with 4 rigs starting at once)."""
    code, _, data = http("GET", keystone_url(st) + "/auth/tokens",
                         headers={"X-Auth-Token": tok, "X-Subject-Token": tok})
    if code != 200:
        raise RigError(f"keystone: validating a fresh token gave HTTP {code} {data[:300]!r}")


def check_glance_auth(st, which, tok, fresh=False):
    code, _, data = http("GET", glance_url(st, which) + "/v2/images?limit=1",
                         headers={"X-Auth-Token": tok}, timeout=30)
    if code != 200:
        raise RigError(f"glance-{which}: authenticated GET /v2/images gave HTTP {code} {data[:300]!r}")
    # Quotas through oslo.limit: a wrong [oslo_limit] would otherwise show only as a 500 on
    # the first image create.  Also makes the glance user's oslo.limit session (one token).
    code, _, data = http("GET", glance_url(st, which) + "/v2/info/usage",
                         headers={"X-Auth-Token": tok}, timeout=30)
    try:
        limits = {k: v["limit"] for k, v in json.loads(data)["usage"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        limits = None
    # fresh (rig start): the registered defaults.  start-glance: whatever a test set since.
    if code != 200 or limits is None or (limits != GLANCE_LIMITS if fresh else set(limits) != set(GLANCE_LIMITS)):
        raise RigError(f"glance-{which}: GET /v2/info/usage gave HTTP {code} {data[:300]!r}")


# ---------------------------------------------------------------------------
# commands


def rig_dir(arg):
    return os.path.realpath(os.path.abspath(arg))


def glance_name(which):
    if which not in GLANCES:
        raise RigError(f"glance must be 'a' or 'b', not {which!r}")
    return f"glance-{which}"


def start_glance_proc(d, st, which):
    name = glance_name(which)
    return spawn(d, name, uwsgi_argv(d, st["ports"][which]),
                 {"RIG_APP": "glance", "OS_GLANCE_CONFIG_DIR": os.path.join(d, name)})


def new_ids():
    """Keystone ids the rig needs before keystone runs (glance's [oslo_limit], rig.env);
    ks_bootstrap.py creates the objects with them."""
    def h():
        return uuid.uuid4().hex
    return {"glance_service": h(), "ci_project": h(),
            "endpoints": {w: {"public": h(), "internal": h()} for w in GLANCES}}


def parse_start_args(args):
    usage = "usage: rig start DIR [--nova] [--watch-pid PID]"
    d, nova, watch = None, False, None
    it = iter(args)
    for a in it:
        if a == "--nova":
            nova = True
        elif a == "--watch-pid":
            try:
                watch = int(next(it))
            except (StopIteration, ValueError):
                raise RigError(usage)
        elif a.startswith("-") or d is not None:
            raise RigError(usage)
        else:
            d = a
    if d is None:
        raise RigError(usage)
    if watch is not None and not alive(watch):
        raise RigError(f"--watch-pid {watch}: no such process")
    return d, nova, watch


def cmd_start(args):
    d, nova, watch = parse_start_args(args)
    t0 = time.monotonic()
    d = rig_dir(d)
    os.makedirs(d, exist_ok=True)
    if os.listdir(d):
        raise RigError(f"{d} is not empty: 'rig start' needs a new or empty directory")
    tpl = templates_dir()
    for f in ("keystone.db", "glance.db"):
        if not os.path.isfile(os.path.join(tpl, f)):
            raise RigError(f"{tpl}/{f} missing: run 'rig install'")

    if nova:
        # Before anything is written to DIR: a refused start leaves DIR as it was.
        rig_nova.claim(d)
    kport, aport, bport = free_ports(3)
    st = {"dir": d, "venv": venv_dir(), "ports": {"keystone": kport, "a": aport, "b": bport},
          "regions": REGIONS, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "nova": nova,
          "ids": new_ids()}
    if watch is not None:
        st["watch_pid"], st["watch_pid_start"] = watch, rig_nova._starttime(watch)
    # A caller that gives up on us (timeout) usually sends SIGTERM: clean up as on an error.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    procs = []
    try:
        for sub in ("pids", "logs", "keystone/locks"):
            os.makedirs(os.path.join(d, sub))
        save_state(d, st)
        if nova:
            rig_nova.prepare(d, st)   # ports, configs, template copies
            rig_nova.remember_state(d, st)
            save_state(d, st)
        shutil.copyfile(os.path.join(HERE, "rig_wsgi.py"), os.path.join(d, "rig_wsgi.py"))
        k = os.path.join(d, "keystone")
        for repo in ("fernet-keys", "fernet-receipts", "credential-keys"):
            fernet_repo(os.path.join(k, repo))
        shutil.copyfile(os.path.join(tpl, "keystone.db"), os.path.join(k, "keystone.db"))
        write(os.path.join(k, "keystone.conf"), keystone_conf(d, os.path.join(k, "keystone.db")))
        for which in GLANCES:
            g = os.path.join(d, glance_name(which))
            for sub in ("images", "staging", "tasks", "cache", "locks"):
                os.makedirs(os.path.join(g, sub))
            shutil.copyfile(os.path.join(tpl, "glance.db"), os.path.join(g, "glance.db"))
            write(os.path.join(g, "glance-api.conf"), glance_conf(d, which, st, os.path.join(g, "glance.db")))

        # Everything at once (2 cores): the bootstrap writes rows keystone only reads per
        # request, and the glances need keystone only when the first request comes in.
        kurl = keystone_url(st)
        spec = os.path.join(k, "rig-bootstrap.json")
        write(spec, json.dumps(keystone_spec(st), indent=2) + "\n")
        boot = spawn(d, "keystone-manage", [
            venv_bin("python"), os.path.join(HERE, "ks_bootstrap.py"),
            "--config-file", os.path.join(k, "keystone.conf"),
            "bootstrap", "--bootstrap-password", ADMIN_PASSWORD,
            "--bootstrap-username", ADMIN_USER, "--bootstrap-project-name", "admin",
            "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
            "--bootstrap-region-id", REGIONS["a"],
            "--bootstrap-public-url", kurl, "--bootstrap-internal-url", kurl],
            {"RIG_KEYSTONE_SPEC": spec})
        deadline = time.monotonic() + (NOVA_START_TIMEOUT if nova else START_TIMEOUT)
        keystone_ready = threading.Event()
        nova_ready = None
        if nova:
            rig_nova.spawn_all(d, st, procs)
            nova_ready = rig_nova.Readiness(d, st, procs, deadline, keystone_ready, t0)
            nova_ready.start()
        for which in GLANCES:
            procs.append((glance_name(which), start_glance_proc(d, st, which), d))
        ks = spawn(d, "keystone", uwsgi_argv(d, kport),
                   {"RIG_APP": "keystone", "OS_KEYSTONE_CONFIG_FILES": os.path.join(k, "keystone.conf")})
        procs.append(("keystone", ks, d))
        wait_until("keystone-manage bootstrap", lambda: boot.poll() is not None, procs, deadline)
        _rm(pidfile(d, "keystone-manage"))
        if boot.returncode != 0:
            raise RigError(f"keystone-manage bootstrap failed (rc {boot.returncode}):\n"
                           f"{tail(os.path.join(d, 'logs', 'keystone-manage.log'))}")
        log(f"bootstrap done at {time.monotonic() - t0:.1f} s")
        wait_until("keystone", http_ok(kurl), procs, deadline)
        log(f"keystone up at {time.monotonic() - t0:.1f} s")
        tok, body = token(st, CI_USER, CI_PASSWORD, CI_PROJECT)
        check_catalog(st, body)
        warm_policy(st, tok)
        keystone_ready.set()
        errors = []

        def ready(which):
            try:
                wait_until(f"glance-{which}", http_ok(glance_url(st, which) + "/healthcheck"),
                           procs, deadline)
                check_glance_auth(st, which, tok, fresh=True)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=ready, args=(w,)) for w in GLANCES]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        log(f"both glances answer at {time.monotonic() - t0:.1f} s")
        if nova_ready is not None:
            nova_ready.join()
            if nova_ready.error is not None:
                raise nova_ready.error
            st["start_timeline"] = nova_ready.timeline
            save_state(d, st)
        write_clouds(d, st)
        if nova or watch is not None:
            os.makedirs(home(d, "watchdog"), exist_ok=True)
            spawn(d, "watchdog", [sys.executable, os.path.abspath(__file__), "watchdog", d], {})
        write_env(d, st)
    except BaseException:
        log("start failed; stopping what was started")
        try:
            stop_all(d, st=st)
        except Exception as e:
            log(f"cleanup: {e}")
        raise
    st["start_seconds"] = round(time.monotonic() - t0, 1)
    save_state(d, st)
    extra = ""
    if nova:
        extra = (f", placement {st['ports']['placement']}, nova-api {st['ports']['nova']}, "
                 f"network {st['ports']['network']}")
    log(f"rig up in {time.monotonic() - t0:.1f} s: keystone {kport}, glance-a {aport}, glance-b {bport}{extra}")
    print(os.path.join(d, "clouds.yaml"))


# Which group leader in a shared home is which component (DIR deleted: no pid files), by
# the start of its process name (/proc/PID/comm).
LEADER_HINTS = {"keystone": "uwsgi", "keystone-manage": "python", "libvirtd": "libvirtd",
                "virtlogd": "virtlogd", "epmd": "epmd", "rabbitmq": "rabbitmq"}


def discover_pids(d):
    """Group leaders of each component, found by cwd, for a DIR whose pids/ is gone."""
    for name in ["glance-a", "glance-b", *LEADER_HINTS, *rig_nova.HOMES]:
        if name in KNOWN_PIDS or os.path.exists(pidfile(d, name)):
            continue
        for pid in rig_processes(home(d, name)):
            st = proc_stat(pid)
            if st and st[1] == pid and (rig_nova.proc_comm(pid) or "").startswith(LEADER_HINTS.get(name, "")):
                KNOWN_PIDS[name] = pid
                break


def stop_all(d, sig=signal.SIGKILL, st=None):
    """Tear the whole rig down.  SIGKILL by default: a graceful uWSGI stop takes 2-3 s per
    service (it waits for its worker) and nothing in DIR needs a clean shutdown.  The
    compute side (rig_nova.stop) has its own order; the watchdog goes first."""
    if not os.path.isdir(os.path.join(d, "pids")):
        discover_pids(d)
    if st is None:
        try:
            st = load_state(d)
        except RigError:
            st = {}
    stopped = []
    if running_pid(d, "watchdog") != os.getpid():
        stopped += kill_groups(d, ["watchdog"], signal.SIGKILL)
    if st.get("nova") or rig_nova.read_claim() and rig_nova.read_claim().get("dir") == d:
        stopped += rig_nova.stop(d, st)
    stopped += kill_groups(d, ["glance-a", "glance-b", "keystone", "keystone-manage"], sig)
    # Anything else still running with its cwd in DIR (e.g. a worker that left its group).
    strays = [p for p in rig_processes(d) if rig_nova._is_ours(p)]
    for p in strays:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if strays:
        stopped.append(f"strays {strays}")
    if rig_nova.release(d):
        stopped.append("claim (/dev/kvm restored)")
    return stopped


def _is_ours(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace")
    except OSError:
        return False
    return "uwsgi" in cmd or "-manage" in cmd or "ks_bootstrap" in cmd


def cmd_stop(args):
    if len(args) != 1:
        raise RigError("usage: rig stop DIR")
    t0 = time.monotonic()
    d = rig_dir(args[0])
    if not os.path.isdir(d):
        # Deleted under a running rig: find its processes by their (deleted) cwd.
        c = rig_nova.read_claim()
        st = (c.get("state") or {"nova": True, "ports": {}}) if c and c.get("dir") == d else {}
        stopped = stop_all(d, st=st)
        log(f"{d} does not exist; stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
        return
    stopped = stop_all(d, signal.SIGTERM if os.environ.get("RIG_GRACEFUL_STOP") == "1" else signal.SIGKILL)
    if os.path.exists(os.path.join(d, "rig.json")):
        write_env(d, load_state(d))
    log(f"stopped in {time.monotonic() - t0:.1f} s: {', '.join(stopped) if stopped else 'nothing was running'}")


def cmd_watchdog(args):
    """Runs in the background (started by 'start'): stops the rig when the --watch-pid
    process exits or DIR disappears.  Remembers the state and PIDs for the latter case."""
    d = rig_dir(args[0])
    st = load_state(d)
    pid, pid_start = st.get("watch_pid"), st.get("watch_pid_start")
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log(f"watchdog: watching {'pid %s and ' % pid if pid else ''}{d}")
    names = ["keystone", "glance-a", "glance-b", *rig_nova.HOMES]
    while True:
        for name in names:
            try:
                with open(pidfile(d, name)) as f:
                    KNOWN_PIDS[name] = int(f.read().strip())
            except (OSError, ValueError):
                pass
        try:
            with open(os.path.join(d, "rig.json")) as f:
                st = json.load(f)
        except (OSError, ValueError):
            pass
        reason = None
        if pid and (not alive(pid) or rig_nova._starttime(pid) != pid_start):
            reason = f"process {pid} exited"
        elif not os.path.isfile(os.path.join(d, "rig.json")):
            reason = f"{d} was deleted"
        if reason:
            break
        time.sleep(WATCH_INTERVAL)
    t0 = time.monotonic()
    log(f"watchdog: {reason}; stopping the rig")
    stopped = stop_all(d, st=st)
    if os.path.isfile(os.path.join(d, "rig.json")):
        write_env(d, st)
    log(f"watchdog: stopped in {time.monotonic() - t0:.1f} s: {', '.join(stopped) or 'nothing'}")


def cmd_stop_glance(args):
    if len(args) not in (2, 3) or (len(args) == 3 and args[2] != "--kill"):
        raise RigError("usage: rig stop-glance DIR a|b [--kill]")
    d = rig_dir(args[0])
    name = glance_name(args[1])
    st = load_state(d)
    sig = signal.SIGKILL if len(args) == 3 else signal.SIGTERM
    was = kill_group(d, name, sig)
    write_env(d, st)
    log(f"{name}: {'stopped' if was else 'was not running'}")


def cmd_start_glance(args):
    if len(args) != 2:
        raise RigError("usage: rig start-glance DIR a|b")
    t0 = time.monotonic()
    d = rig_dir(args[0])
    which = args[1]
    name = glance_name(which)
    st = load_state(d)
    if running_pid(d, name):
        raise RigError(f"{name} is already running (pid {running_pid(d, name)})")
    p = start_glance_proc(d, st, which)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        wait_until(name, http_ok(glance_url(st, which) + "/healthcheck"), [(name, p, d)], deadline)
        tok, _ = token(st, CI_USER, CI_PASSWORD, CI_PROJECT)
        check_glance_auth(st, which, tok)
    except BaseException:
        kill_group(d, name, signal.SIGKILL)
        write_env(d, st)
        raise
    write_env(d, st)
    log(f"{name} up on port {st['ports'][which]} in {time.monotonic() - t0:.1f} s (pid {p.pid})")


def cmd_status(args):
    if len(args) != 1:
        raise RigError("usage: rig status DIR")
    d = rig_dir(args[0])
    st = load_state(d)
    down = 0
    rows = [("keystone", st["ports"]["keystone"]), ("glance-a", st["ports"]["a"]),
            ("glance-b", st["ports"]["b"])] + rig_nova.status_rows(d, st)
    rows = [(name, f"port {port}" if port != "-" else "-") for name, port in rows]
    if st.get("nova") or st.get("watch_pid"):
        rows.append(("watchdog", f"watching pid {st['watch_pid']} and DIR" if st.get("watch_pid")
                     else "watching DIR"))
    for name, what in rows:
        pid = running_pid(d, name)
        down += pid is None
        print(f"{name}\t{what}\t" + (f"running (pid {pid})" if pid else "stopped"))
    if st.get("nova"):
        doms = rig_nova.domains_in(d)
        print("libvirt domains\t" + ("(libvirtd down)" if doms is None else ", ".join(doms) or "none"))
    sys.exit(1 if down else 0)


COMMANDS = {
    "build-templates": cmd_build_templates,
    "start": cmd_start,
    "stop": cmd_stop,
    "stop-glance": cmd_stop_glance,
    "start-glance": cmd_start_glance,
    "status": cmd_status,
    "watchdog": cmd_watchdog,
}


def main():
    rig_nova.bind(sys.modules[__name__])
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: rig.py {{{'|'.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    try:
        COMMANDS[sys.argv[1]](sys.argv[2:])
    except RigError as e:
        log(f"error: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
