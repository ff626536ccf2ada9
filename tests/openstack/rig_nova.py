"""The compute side of the rig ('rig start DIR --nova'): MariaDB, RabbitMQ, libvirt, Placement,
Nova (api, conductor, scheduler, compute under TCG) and a network stand-in, on 127.0.0.1.

Standard library only, like rig.py, which drives it: rig.py calls bind() with itself, then
the functions below.  See README.md ("The --nova rig") for what a caller gets.

Layout added to a rig DIR:
    mariadb/data        private MariaDB datadir (copied from the install-time template)
    mariadb/mysqld.sock root logs in through it (the rig's own queries)
    rabbitmq/           HOME (Erlang cookie), mnesia/ (from the template), rabbitmq.conf
    libvirt/            libvirtd.conf, virtlogd.conf (the daemons themselves are system-wide)
    placement/          placement.conf, placement.db (SQLite: one process)
    network/            cwd of the network stand-in
    nova/               nova.conf, api-paste.ini, state/, instances/, locks/
    nova/{api,conductor,scheduler,compute}/   cwd of each Nova daemon
    gates/              files the rig creates when a dependency is up (rig_preload.py waits)
    watchdog/           cwd of the watchdog (--watch-pid, and every --nova rig)

System-wide state (one --nova rig at a time on a machine: libvirtd and virtlogd have
fixed sockets under /run/libvirt):
    /run/lock/pipeline-nova-rig.json   the claim: which DIR runs them, /dev/kvm's old mode
    /run/lock/pipeline-nova-rig.lock   flock around reading/writing the claim
"""

import fcntl
import grp
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

R = None  # the rig module (rig.py), set by bind()

NOVA_SERVICE_USER = "nova"
NOVA_SERVICE_PASSWORD = "rig-nova-password"
PLACEMENT_SERVICE_USER = "placement"
PLACEMENT_SERVICE_PASSWORD = "rig-placement-password"
DB_USER = "nova"
DB_PASSWORD = "rig-db-password"
NOVA_HOST = "novarig"           # [DEFAULT] host: the service host of every Nova daemon
RABBIT_NODE = "rig@localhost"    # constant: each rig has its own epmd, and the mnesia
                                 # template is made for this node name
REGION = "RegionOne"             # compute, placement and network sit beside glance a
FLAVORS = [  # name, vcpus, ram MiB, disk GB
    ("m1.builder", 1, 1024, 3),
    ("m1.tiny", 1, 512, 1),      # smaller than the fixture image (2 GiB virtual): on purpose
    ("m1.large", 2, 2048, 4),
]
_LOCK_DIR = "/run/lock" if os.path.isdir("/run/lock") else "/tmp"
CLAIM = f"{_LOCK_DIR}/pipeline-nova-rig.json"
CLAIM_LOCK = f"{_LOCK_DIR}/pipeline-nova-rig.lock"
KVM = "/dev/kvm"
LIBVIRT_SOCK = "/run/libvirt/libvirt-sock"
LIBVIRT_URI = "qemu:///system"
COMPUTE_STOP_GRACE = float(os.environ.get("RIG_COMPUTE_STOP_GRACE", "2"))

# Working directory of each component, relative to DIR (it identifies the processes).
HOMES = {
    "mariadb": "mariadb",
    "epmd": "rabbitmq",
    "rabbitmq": "rabbitmq",
    "virtlogd": "libvirt",
    "libvirtd": "libvirt",
    "network": "network",
    "placement": "placement",
    "nova-api": "nova/api",
    "nova-conductor": "nova/conductor",
    "nova-scheduler": "nova/scheduler",
    "nova-compute": "nova/compute",
    "watchdog": "watchdog",
}
# What 'status' lists and rig.env reports, in start order.
COMPONENTS = ["mariadb", "epmd", "rabbitmq", "virtlogd", "libvirtd", "network", "placement",
              "nova-api", "nova-conductor", "nova-scheduler", "nova-compute"]
# Command-line fragments of processes the rig starts (the stray sweep kills only these).
PATTERNS = ("mariadbd", "beam.smp", "epmd", "erl_child_setup", "inet_gethost", "rabbitmq",
            "libvirtd", "virtlogd", "nova-", "rig_preload", "net_standin", "privsep-helper",
            "placement", "rig.py watchdog")
NOVA_PORTS = ("placement", "nova", "network", "amqp", "amqp_dist", "epmd", "mariadb")
# Debian packages 'start --nova' runs (rig install puts them on; checked again at start).
BINARIES = {"/usr/sbin/mariadbd": "mariadb-server", "/usr/bin/mariadb": "mariadb-client",
            "/usr/bin/mariadb-install-db": "mariadb-server",
            "/usr/lib/rabbitmq/bin/rabbitmq-server": "rabbitmq-server",
            "/usr/bin/epmd": "erlang-base", "/usr/sbin/libvirtd": "libvirt-daemon-system",
            "/usr/sbin/virtlogd": "libvirt-daemon-system", "/usr/bin/virsh": "libvirt-clients",
            "/usr/bin/qemu-system-x86_64": "qemu-system-x86", "/usr/bin/qemu-img": "qemu-utils",
            "/usr/bin/genisoimage": "genisoimage"}


def bind(rig_module):
    global R
    R = rig_module


def log(msg):
    R.log(msg)


# ---------------------------------------------------------------------------
# small helpers


def nova_dir(d, *parts):
    return os.path.join(d, "nova", *parts)


def mariadb_socket(d):
    path = os.path.join(d, "mariadb", "mysqld.sock")
    if len(path) > 100:  # sun_path is 108 bytes
        import hashlib
        path = f"/tmp/rig-mariadb-{hashlib.sha256(d.encode()).hexdigest()[:12]}.sock"
    return path


def db_url(st, db):
    return f"mysql+pymysql://{DB_USER}:{DB_PASSWORD}@127.0.0.1:{st['ports']['mariadb']}/{db}?charset=utf8"


def placement_url(st):
    return f"http://127.0.0.1:{st['ports']['placement']}"


def nova_url(st):
    return f"http://127.0.0.1:{st['ports']['nova']}/v2.1"


def network_url(st):
    return f"http://127.0.0.1:{st['ports']['network']}"


def sql(sock, query, timeout=20):
    """Rows (lists of strings) of one query as MariaDB's root, through the unix socket."""
    p = subprocess.run(["mariadb", "--no-defaults", "-S", sock, "-u", "root", "-N", "-B", "-e", query],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise OSError(f"mariadb: {p.stderr.strip()}")
    return [line.split("\t") for line in p.stdout.splitlines()]


def amqp_ready(port):
    """True once RabbitMQ answers the AMQP 0-9-1 header with a Connection.Start frame."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        s.settimeout(2)
        data = s.recv(7)
    return len(data) == 7 and data[0] == 1


def libvirt_ready():
    if not os.path.exists(LIBVIRT_SOCK):
        return False
    p = subprocess.run(["virsh", "-c", LIBVIRT_URI, "version"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    return p.returncode == 0


def virsh(*args, timeout=60):
    return subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def proc_environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return dict(e.split(b"=", 1) for e in f.read().split(b"\0") if b"=" in e)
    except OSError:
        return {}


def pids_named(*names):
    return [p for p in R.all_pids() if proc_comm(p) in names and R.alive(p)]


def gate(d, name):
    return os.path.join(d, "gates", name)


def open_gate(d, name):
    R.write(gate(d, name), f"{time.time()}\n")


# ---------------------------------------------------------------------------
# the claim: one --nova rig per machine, and /dev/kvm's mode


class _Locked:
    def __enter__(self):
        self.f = open(CLAIM_LOCK, "a")
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


def read_claim():
    try:
        with open(CLAIM) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _claim_alive(claim):
    """Does the rig named in a claim still run anything (or is its start still running)?"""
    pid = claim.get("pid")
    if pid and R.alive(pid) and _starttime(pid) == claim.get("pid_start"):
        return f"its 'rig start' (pid {pid}) is still running"
    ours = [p for p in R.rig_processes(claim["dir"]) if _is_ours(p)]
    if ours:
        return f"processes {ours[:5]} still run in it"
    others = pids_named("libvirtd", "virtlogd")
    if others:
        return f"libvirtd/virtlogd still run (pids {others})"
    return None


def _starttime(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def claim(d):
    """Take the machine's --nova slot for DIR, and give /dev/kvm mode 0660 group kvm."""
    with _Locked():
        old = read_claim()
        if old and old.get("dir") != d:
            why = _claim_alive(old)
            if why:
                raise R.RigError(f"another --nova rig runs in {old['dir']} ({why}); "
                                 f"stop it first: tests/openstack/rig stop {old['dir']}")
            log(f"taking over the stale --nova claim of {old['dir']}")
        others = pids_named("libvirtd", "virtlogd")
        if others:
            raise R.RigError(f"libvirtd/virtlogd already run on this machine (pids {others}), not "
                             "started by a rig: the --nova rig runs its own (fixed sockets in /run/libvirt)")
        kvm = (old or {}).get("kvm")
        if kvm is None and os.path.exists(KVM):
            s = os.stat(KVM)
            kvm = {"mode": s.st_mode & 0o7777, "uid": s.st_uid, "gid": s.st_gid}
        c = {"dir": d, "pid": os.getpid(), "pid_start": _starttime(os.getpid()), "kvm": kvm,
             "since": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tmp = CLAIM + ".tmp"
        R.write(tmp, json.dumps(c, indent=2) + "\n")
        os.replace(tmp, CLAIM)
        if kvm is not None:
            # With /dev/kvm 0600 root, libvirt 9.0 sees KVM while probing QEMU as root but not
            # for the libvirt-qemu user, drops its capability cache on every lookup and
            # re-probes QEMU (about 30 s per domain define).  Guests still use TCG.
            try:
                os.chown(KVM, -1, grp.getgrnam("kvm").gr_gid)
                os.chmod(KVM, 0o660)
            except (KeyError, OSError) as e:
                log(f"warning: could not set {KVM} to 0660 root:kvm ({e}); libvirt will be slow")


def remember_state(d, st):
    """Keep the ports in the claim too: 'rig stop DIR' after DIR was deleted still finds
    the private epmd by its port."""
    with _Locked():
        c = read_claim()
        if c and c.get("dir") == d:
            c["state"] = {"nova": True, "ports": st["ports"]}
            R.write(CLAIM + ".tmp", json.dumps(c, indent=2) + "\n")
            os.replace(CLAIM + ".tmp", CLAIM)


def release(d):
    """Give the slot back and restore /dev/kvm, if DIR holds the claim."""
    with _Locked():
        c = read_claim()
        if not c or c.get("dir") != d:
            return False
        kvm = c.get("kvm")
        if kvm and os.path.exists(KVM):
            try:
                os.chown(KVM, kvm["uid"], kvm["gid"])
                os.chmod(KVM, kvm["mode"])
            except OSError as e:
                log(f"warning: could not restore {KVM}: {e}")
        R._rm(CLAIM)
        return True


# ---------------------------------------------------------------------------
# install-time templates: the MariaDB datadir with Nova's three schemas and the cell
# mappings, RabbitMQ's mnesia for node rig@localhost, Placement's SQLite schema


CELL0_URL = "{scheme}://{username}:{password}@{hostname}:{port}/nova_cell0?{query}"
CELL1_DB_URL = "{scheme}://{username}:{password}@{hostname}:{port}/nova?{query}"
CELL1_MQ_URL = "rabbit://{username}:{password}@{hostname}:{port}/"


def mariadbd_argv(datadir, sock, port, pidfile):
    return ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={datadir}", "--user=root",
            f"--socket={sock}", "--bind-address=127.0.0.1", f"--port={port}", f"--pid-file={pidfile}",
            "--skip-name-resolve", "--skip-log-bin", "--performance-schema=OFF",
            "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0",
            "--max-connections=400", "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci"]


def rabbit_env(home, mnesia, port, dist_port, epmd_port):
    extra = "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
    return {
        "HOME": home,
        "RABBITMQ_NODENAME": RABBIT_NODE,
        "RABBITMQ_USE_LONGNAME": "false",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        # Without it the distribution port listens on 0.0.0.0; +sbwt none: Erlang's
        # schedulers stop busy-waiting (2 shared cores).
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": extra,
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_CONF_ENV_FILE": "/dev/null",
        "RABBITMQ_CONFIG_FILE": os.path.join(home, "rabbitmq.conf"),
        "RABBITMQ_MNESIA_BASE": mnesia,
        "RABBITMQ_LOG_BASE": os.path.join(home, "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(home, "enabled_plugins"),
        "RABBITMQ_PID_FILE": os.path.join(home, "rabbitmq.pid"),
    }


def write_rabbit_files(home, port):
    os.makedirs(os.path.join(home, "log"), exist_ok=True)
    R.write(os.path.join(home, "enabled_plugins"), "[].\n")
    R.write(os.path.join(home, "rabbitmq.conf"), "\n".join([
        f"listeners.tcp.1 = 127.0.0.1:{port}",
        "loopback_users.guest = true",
        "log.console = true",
        "log.console.level = warning",
        "log.file = false",
        "disk_free_limit.absolute = 50MB",
        ""]))


def _wait(what, check, proc, logpath, timeout=180):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, subprocess.SubprocessError) as e:
            last = e
        if proc is not None and proc.poll() is not None:
            raise R.RigError(f"{what}: process exited (rc {proc.returncode}):\n{R.tail(logpath)}")
        time.sleep(0.1)
    raise R.RigError(f"timed out waiting for {what} (last error: {last}):\n{R.tail(logpath)}")


def _run(argv, logf, env=None, cwd=None):
    logf.write(f"\n==== {' '.join(argv)}\n".encode())
    logf.flush()
    rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                        env=env, cwd=cwd).returncode
    if rc != 0:
        raise R.RigError(f"{argv[:4]} failed (rc {rc}); see {logf.name}:\n{R.tail(logf.name)}")


def _killpg(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()


def build_templates(tmp):
    """Make tmp/{placement.db, mariadb/, rabbitmq-mnesia/} (called by 'rig install')."""
    venv_bin = R.venv_bin
    logpath = os.path.join(tmp, "nova-templates.log")
    sockdir = tempfile.mkdtemp(prefix="rig-tpl-")
    procs = []
    with open(logpath, "ab") as logf:
        try:
            # Placement: SQLite.
            pconf = os.path.join(tmp, "placement-manage.conf")
            R.write(pconf, R.ini({"DEFAULT": {"use_stderr": "true"},
                                  "placement_database": {"connection": f"sqlite:///{tmp}/placement.db"}}))
            pl = subprocess.Popen([venv_bin("placement-manage"), "--config-file", pconf, "db", "sync"],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd=tmp)

            # RabbitMQ: boot once so mnesia (the guest user, the default vhost, feature flags)
            # exists; a boot on a copy takes ~3 s instead of ~10 s.
            rhome = os.path.join(sockdir, "rabbitmq")
            os.makedirs(rhome)
            mnesia = os.path.join(tmp, "rabbitmq-mnesia")
            amqp, dist, epmd_port = R.free_ports(3)
            write_rabbit_files(rhome, amqp)
            env = dict(os.environ, **rabbit_env(rhome, mnesia, amqp, dist, epmd_port))
            ep = subprocess.Popen(["/usr/bin/epmd", "-port", str(epmd_port), "-address", "127.0.0.1"],
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                  env=env, cwd=rhome, start_new_session=True)
            procs.append(ep)
            rq = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], stdin=subprocess.DEVNULL,
                                  stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=rhome,
                                  start_new_session=True)
            procs.append(rq)

            # MariaDB: the datadir with nova_api, nova, nova_cell0 and the cell mappings.
            datadir = os.path.join(tmp, "mariadb")
            _run(["/usr/bin/mariadb-install-db", "--no-defaults", f"--datadir={datadir}", "--user=root",
                  "--skip-test-db", "--auth-root-authentication-method=socket",
                  "--innodb-log-file-size=16M"], logf)
            sock = os.path.join(sockdir, "m.sock")
            (port,) = R.free_ports(1)
            md = subprocess.Popen(mariadbd_argv(datadir, sock, port, os.path.join(sockdir, "m.pid")),
                                  stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                  cwd=sockdir, start_new_session=True)
            procs.append(md)
            _wait("template mariadb", lambda: sql(sock, "SELECT 1") == [["1"]], md, logpath)
            users = [f"'{DB_USER}'@'{h}'" for h in ("127.0.0.1", "localhost")]
            stmts = [f"CREATE DATABASE {db} CHARACTER SET utf8" for db in ("nova_api", "nova", "nova_cell0")]
            stmts += [f"CREATE USER {u} IDENTIFIED BY '{DB_PASSWORD}'" for u in users]
            stmts += [f"GRANT ALL PRIVILEGES ON {db}.* TO {u}" for db in ("nova_api", "nova", "nova_cell0")
                      for u in users]
            sql(sock, "; ".join(stmts) + "; FLUSH PRIVILEGES")
            st = {"ports": {"mariadb": port}}
            nconf = os.path.join(tmp, "nova-manage.conf")
            R.write(nconf, R.ini({
                "DEFAULT": {"use_stderr": "true", "transport_url": "rabbit://guest:guest@127.0.0.1:5672/",
                            "state_path": sockdir},
                "api_database": {"connection": db_url(st, "nova_api")},
                "database": {"connection": db_url(st, "nova")},
            }))
            manage = [venv_bin("nova-manage"), "--config-file", nconf]
            _run(manage + ["api_db", "sync"], logf, cwd=sockdir)
            # Template URLs: nova fills them from [database] connection / transport_url of the
            # nova.conf that reads them, so each rig's ports apply without touching the rows.
            _run(manage + ["cell_v2", "map_cell0", "--database_connection", CELL0_URL], logf, cwd=sockdir)
            _run(manage + ["cell_v2", "create_cell", "--name", "cell1", "--verbose",
                           "--transport-url", CELL1_MQ_URL, "--database_connection", CELL1_DB_URL],
                 logf, cwd=sockdir)
            _run(manage + ["db", "sync"], logf, cwd=sockdir)
            rows = sql(sock, "SELECT name, transport_url, database_connection FROM nova_api.cell_mappings")
            if len(rows) != 2:
                raise R.RigError(f"unexpected cell mappings: {rows}")
            # A clean shutdown, so every rig starts from a consistent datadir.
            _run(["mariadb-admin", "--no-defaults", "-S", sock, "-u", "root", "shutdown"], logf)
            md.wait(60)

            _wait("template rabbitmq", lambda: amqp_ready(amqp), rq, logpath)
            os.kill(rq.pid, signal.SIGTERM)
            try:
                rq.wait(30)
            except subprocess.TimeoutExpired:
                pass
            if pl.wait() != 0:
                raise R.RigError(f"placement-manage db sync failed:\n{R.tail(logpath)}")
        finally:
            for p in procs:
                _killpg(p)
            shutil.rmtree(sockdir, ignore_errors=True)
    for f in ("placement.db", "mariadb", "rabbitmq-mnesia"):
        if not os.path.exists(os.path.join(tmp, f)):
            raise R.RigError(f"template {f} missing after build")


def templates_ok(tpl):
    return all(os.path.exists(os.path.join(tpl, f)) for f in ("placement.db", "mariadb", "rabbitmq-mnesia"))


# ---------------------------------------------------------------------------
# keystone objects (added to the spec ks_bootstrap.py creates)


def keystone_spec_additions(st):
    return {
        "users": [
            {"name": NOVA_SERVICE_USER, "password": NOVA_SERVICE_PASSWORD, "project": "service",
             "roles": ["admin", "service"]},
            {"name": PLACEMENT_SERVICE_USER, "password": PLACEMENT_SERVICE_PASSWORD, "project": "service",
             "roles": ["admin", "service"]},
        ],
        "services": [
            {"type": "compute", "name": "nova", "endpoints": [
                {"region": REGION, "interface": i, "url": nova_url(st)} for i in ("public", "internal")]},
            {"type": "placement", "name": "placement", "endpoints": [
                {"region": REGION, "interface": i, "url": placement_url(st)} for i in ("public", "internal")]},
            {"type": "network", "name": "rig-network-standin", "endpoints": [
                {"region": REGION, "interface": i, "url": network_url(st)} for i in ("public", "internal")]},
        ],
    }


# ---------------------------------------------------------------------------
# configuration


def _auth(st, user, password):
    auth = f"http://127.0.0.1:{st['ports']['keystone']}/v3"
    return {"auth_type": "password", "auth_url": auth, "username": user, "password": password,
            "project_name": "service", "user_domain_name": "Default", "project_domain_name": "Default"}


def placement_conf(d, st):
    p = os.path.join(d, "placement")
    auth = f"http://127.0.0.1:{st['ports']['keystone']}/v3"
    return R.ini({
        "DEFAULT": {"debug": "false", "use_stderr": "true"},
        "placement_database": {"connection": f"sqlite:///{p}/placement.db?timeout=60",
                               "sqlite_synchronous": "false"},
        "api": {"auth_strategy": "keystone"},
        "oslo_concurrency": {"lock_path": f"{p}/locks"},
        "keystone_authtoken": {"www_authenticate_uri": auth, "region_name": REGION,
                               "service_type": "placement",
                               **_auth(st, PLACEMENT_SERVICE_USER, PLACEMENT_SERVICE_PASSWORD)},
    })


def nova_conf(d, st):
    n = nova_dir(d)
    conf = os.path.join(n, "nova.conf")
    auth = f"http://127.0.0.1:{st['ports']['keystone']}/v3"
    helper = f"{R.venv_bin('privsep-helper')} --config-file {conf}"
    client = {**_auth(st, NOVA_SERVICE_USER, NOVA_SERVICE_PASSWORD), "region_name": REGION,
              "valid_interfaces": "internal,public"}
    debug = "true" if os.environ.get("RIG_NOVA_DEBUG") == "1" else "false"
    return R.ini({
        "DEFAULT": {
            "debug": debug,
            "use_stderr": "true",
            "host": NOVA_HOST,
            "my_ip": "127.0.0.1",
            "state_path": n + "/state",
            "instances_path": n + "/instances",
            "transport_url": f"rabbit://guest:guest@127.0.0.1:{st['ports']['amqp']}/",
            "compute_driver": "libvirt.LibvirtDriver",
            "force_config_drive": "True",
            "force_raw_images": "False",
            # Unique libvirt domain names (the default instance-%08x restarts at 1 per rig).
            "instance_name_template": "instance-%(uuid)s",
            # Periodic tasks start at once (default: a random delay of up to 60 s).
            "periodic_fuzzy_delay": "0",
            "heal_instance_info_cache_interval": "-1",
            "allow_resize_to_same_host": "True",
            "reserved_host_memory_mb": "512",
        },
        "api": {"auth_strategy": "keystone"},
        "wsgi": {"api_paste_config": os.path.join(n, "api-paste.ini")},
        "api_database": {"connection": db_url(st, "nova_api"), "max_retries": "-1", "retry_interval": "1"},
        "database": {"connection": db_url(st, "nova"), "max_retries": "-1", "retry_interval": "1"},
        "conductor": {"workers": "1"},
        "scheduler": {"workers": "1",
                      # The scheduler maps new compute hosts to cell1 (what 'nova-manage
                      # cell_v2 discover_hosts' does), every 2 s.
                      "discover_hosts_in_cells_interval": "2"},
        "libvirt": {"virt_type": "qemu", "cpu_mode": "none", "connection_uri": LIBVIRT_URI},
        "vnc": {"enabled": "False"},
        "spice": {"enabled": "False"},
        "serial_console": {"enabled": "False"},
        "oslo_concurrency": {"lock_path": n + "/locks"},
        "oslo_messaging_rabbit": {"rabbit_retry_interval": "1", "rabbit_retry_backoff": "0",
                                  "rabbit_interval_max": "2"},
        "nova_sys_admin": {"helper_command": helper},
        "privsep_osbrick": {"helper_command": helper},
        "vif_plug_ovs_privileged": {"helper_command": helper},
        "vif_plug_linux_bridge_privileged": {"helper_command": helper},
        "keystone_authtoken": {"www_authenticate_uri": auth, "service_type": "compute", **client},
        "placement": client,
        "neutron": client,
        "glance": {"region_name": REGION, "valid_interfaces": "internal,public"},
        "keystone": {"region_name": REGION, "valid_interfaces": "internal,public"},
        "cinder": {"os_region_name": REGION},
    })


def check_dir_traversable(d):
    """QEMU runs as libvirt-qemu and opens the disks in DIR/nova/instances."""
    bad = []
    p = os.path.dirname(d)
    while True:
        if not os.stat(p).st_mode & 0o001:
            bad.append(p)
        if p == "/":
            break
        p = os.path.dirname(p)
    if bad:
        raise R.RigError(f"{', '.join(bad)} not searchable by others (mode o+x): QEMU runs as user "
                         "libvirt-qemu and must reach DIR/nova/instances; use a DIR under e.g. /tmp "
                         "or chmod o+x them")


def check_packages():
    missing = sorted({pkg for path, pkg in BINARIES.items() if not os.path.exists(path)})
    if missing:
        raise R.RigError(f"missing Debian packages for --nova: {' '.join(missing)} "
                         "(tests/setup-host or 'rig install' installs them)")


def prepare(d, st):
    """Ports, directories, configs and the copies of the templates (before anything runs)."""
    check_packages()
    check_dir_traversable(d)
    tpl = R.templates_dir()
    if not templates_ok(tpl):
        raise R.RigError(f"{tpl} lacks the nova templates: run 'rig install'")
    st["ports"].update(zip(NOVA_PORTS, R.free_ports(len(NOVA_PORTS))))
    st["nova_host"] = NOVA_HOST
    os.chmod(d, 0o755)
    for sub in ("mariadb/tmp", "rabbitmq", "libvirt", "placement/locks", "network", "gates", "watchdog",
                "nova/api", "nova/conductor", "nova/scheduler", "nova/compute", "nova/state",
                "nova/instances", "nova/locks"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for sub in ("nova", "nova/instances", "nova/state"):
        os.chmod(os.path.join(d, sub), 0o755)
    # cp -a of the datadir: ~50 MB, a fraction of a second.
    subprocess.run(["cp", "-a", os.path.join(tpl, "mariadb"), os.path.join(d, "mariadb", "data")], check=True)
    subprocess.run(["cp", "-a", os.path.join(tpl, "rabbitmq-mnesia"), os.path.join(d, "rabbitmq", "mnesia")],
                   check=True)
    shutil.copyfile(os.path.join(tpl, "placement.db"), os.path.join(d, "placement", "placement.db"))
    write_rabbit_files(os.path.join(d, "rabbitmq"), st["ports"]["amqp"])
    R.write(os.path.join(d, "libvirt", "libvirtd.conf"), 'log_outputs = "3:stderr"\n')
    R.write(os.path.join(d, "libvirt", "virtlogd.conf"), 'log_outputs = "3:stderr"\n')
    R.write(os.path.join(d, "placement", "placement.conf"), placement_conf(d, st))
    shutil.copyfile(os.path.join(R.venv_dir(), "etc", "nova", "api-paste.ini"), nova_dir(d, "api-paste.ini"))
    R.write(nova_dir(d, "nova.conf"), nova_conf(d, st), 0o640)
    shutil.copyfile(os.path.join(R.HERE, "rig_preload.py"), os.path.join(d, "rig_preload.py"))
    shutil.copyfile(os.path.join(R.HERE, "net_standin.py"), os.path.join(d, "net_standin.py"))


def _disable_default_network():
    """libvirt's 'default' network (NAT on virbr0, 192.168.122.0/24) must never come up:
    the rig's guests have no NIC, and nothing may listen beyond loopback."""
    link = "/etc/libvirt/qemu/networks/autostart/default.xml"
    if os.path.lexists(link):
        os.unlink(link)
        log(f"removed {link} (libvirt's default network must not autostart)")


def spawn_all(d, st, procs):
    """Start every compute-side process at once; Nova's wait behind gates (rig_preload.py)."""
    py = R.venv_bin("python")
    conf = nova_dir(d, "nova.conf")
    rhome = os.path.join(d, "rabbitmq")
    sock = mariadb_socket(d)
    _disable_default_network()

    def add(name, argv, env):
        procs.append((name, R.spawn(d, name, argv, env), d))

    add("mariadb", mariadbd_argv(os.path.join(d, "mariadb", "data"), sock, st["ports"]["mariadb"],
                                 os.path.join(d, "mariadb", "mariadbd.pid")) + [f"--tmpdir={d}/mariadb/tmp"], {})
    renv = rabbit_env(rhome, os.path.join(rhome, "mnesia"), st["ports"]["amqp"], st["ports"]["amqp_dist"],
                      st["ports"]["epmd"])
    # Our own epmd, in the foreground and in our process group (erl's would daemonize to /).
    add("epmd", ["/usr/bin/epmd", "-port", str(st["ports"]["epmd"]), "-address", "127.0.0.1"], renv)
    add("rabbitmq", ["/usr/lib/rabbitmq/bin/rabbitmq-server"], renv)
    lv = os.path.join(d, "libvirt")
    add("virtlogd", ["/usr/sbin/virtlogd", "-f", f"{lv}/virtlogd.conf", "-p", f"{lv}/virtlogd.pid"], {})
    add("libvirtd", ["/usr/sbin/libvirtd", "-f", f"{lv}/libvirtd.conf", "-p", f"{lv}/libvirtd.pid"], {})
    add("network", [py, os.path.join(d, "net_standin.py"), str(st["ports"]["network"])], {})
    add("placement", R.uwsgi_argv(d, st["ports"]["placement"]),
        {"RIG_APP": "placement", "OS_PLACEMENT_CONFIG_DIR": os.path.join(d, "placement")})
    add("nova-api", R.uwsgi_argv(d, st["ports"]["nova"]),
        {"RIG_APP": "nova-api", "OS_NOVA_CONFIG_DIR": nova_dir(d), "RIG_GATES": gate(d, "mariadb")})
    daemons = {
        "nova-conductor": ["mariadb", "rabbitmq"],
        "nova-scheduler": ["mariadb", "rabbitmq"],
        "nova-compute": ["rabbitmq", "keystone", "placement", "libvirt", "conductor"],
    }
    for name, gates in daemons.items():
        add(name, [py, os.path.join(d, "rig_preload.py"), name, "--config-file", conf],
            {"RIG_GATES": ":".join(gate(d, g) for g in gates)})


class Readiness(threading.Thread):
    """Opens the gates as the dependencies come up, then waits until a server can be
    scheduled (compute host mapped to cell1, its resource provider has inventory) and
    creates the flavors.  Runs beside rig.py's keystone/glance waits."""

    def __init__(self, d, st, procs, deadline, keystone_ready, t0):
        super().__init__(daemon=True)
        self.d, self.st, self.procs, self.deadline, self.keystone_ready, self.t0 = \
            d, st, procs, deadline, keystone_ready, t0
        self.error = None
        self.timeline = {}

    def mark(self, what):
        self.timeline[what] = round(time.monotonic() - self.t0, 1)
        log(f"{what} at {self.timeline[what]} s")

    def wait(self, what, check):
        R.wait_until(what, check, self.procs, self.deadline)

    def run(self):
        try:
            self._run()
        except BaseException as e:  # reported by the main thread
            self.error = e

    def _run(self):
        d, st = self.d, self.st
        sock = mariadb_socket(d)
        self.wait("mariadb", lambda: sql(sock, "SELECT 1") == [["1"]])
        open_gate(d, "mariadb")
        self.mark("mariadb up")
        self.wait("libvirtd", libvirt_ready)
        cleanup_stale_domains(d)
        open_gate(d, "libvirt")
        self.mark("libvirtd up")
        self.wait("rabbitmq", lambda: amqp_ready(st["ports"]["amqp"]))
        open_gate(d, "rabbitmq")
        self.mark("rabbitmq up")
        self.wait("keystone (and its bootstrap)", self.keystone_ready.is_set)
        open_gate(d, "keystone")
        self.wait("placement", R.http_ok(placement_url(st) + "/"))
        open_gate(d, "placement")
        self.mark("placement up")
        self.wait("nova-conductor", lambda: sql(
            sock, "SELECT COUNT(*) FROM nova.services WHERE `binary`='nova-conductor' AND deleted=0") != [["0"]])
        # The row is written just before the conductor declares its queue.
        time.sleep(0.3)
        open_gate(d, "conductor")
        self.mark("nova-conductor up")
        self.wait("network stand-in", R.http_ok(network_url(st) + "/v2.0/networks"))
        self.wait("nova-api", R.http_ok(nova_url(st) + "/"))
        self.mark("nova-api up")
        admin, _ = R.token(st, R.ADMIN_USER, R.ADMIN_PASSWORD, "admin")
        self.st["flavors"] = create_flavors(st, admin)
        code, _, data = R.http("GET", nova_url(st) + "/", headers={"X-Auth-Token": admin})
        self.st["nova_max_microversion"] = json.loads(data)["version"]["version"] if code == 200 else ""
        self.mark("flavors created")

        def compute_ready():
            mapped = sql(sock, f"SELECT COUNT(*) FROM nova_api.host_mappings WHERE host='{NOVA_HOST}'")
            if mapped == [["0"]]:
                return False
            rows = sql(sock, "SELECT uuid, hypervisor_hostname FROM nova.compute_nodes "
                             f"WHERE host='{NOVA_HOST}' AND deleted=0")
            if not rows:
                return False
            hdr = {"X-Auth-Token": admin, "OpenStack-API-Version": "placement 1.14"}
            code, _, data = R.http("GET", f"{placement_url(st)}/resource_providers/{rows[0][0]}/inventories",
                                   headers=hdr)
            if code != 200 or not {"VCPU", "MEMORY_MB", "DISK_GB"} <= set(json.loads(data)["inventories"]):
                return False
            st["nova_hypervisor"] = rows[0][1]
            st["nova_compute_node"] = rows[0][0]
            return True

        self.wait("nova-compute registered, mapped to cell1, inventory in placement", compute_ready)
        self.mark("nova-compute ready")


def create_flavors(st, admin):
    out = {}
    for name, vcpus, ram, disk in FLAVORS:
        code, _, data = R.http("POST", nova_url(st) + "/flavors", {"flavor": {
            "name": name, "vcpus": vcpus, "ram": ram, "disk": disk}}, {"X-Auth-Token": admin})
        if code != 200:
            raise R.RigError(f"POST /flavors {name}: HTTP {code} {data[:300]!r}")
        out[name] = json.loads(data)["flavor"]["id"]
    return out


# ---------------------------------------------------------------------------
# libvirt domains


def _domains():
    """(name, xml) of every libvirt domain, or None when libvirtd does not answer."""
    if not os.path.exists(LIBVIRT_SOCK) or not pids_named("libvirtd"):
        return None
    p = virsh("list", "--all", "--name", timeout=30)
    if p.returncode != 0:
        return None
    out = []
    for name in filter(None, (x.strip() for x in p.stdout.splitlines())):
        x = virsh("dumpxml", name, timeout=30)
        if x.returncode == 0:
            out.append((name, x.stdout))
    return out


def _undefine(name):
    virsh("destroy", name, timeout=60)
    p = virsh("undefine", name, "--nvram", timeout=60)
    if p.returncode != 0:
        p = virsh("undefine", name, timeout=60)
    return p.returncode == 0


def destroy_domains(d):
    """Destroy and undefine every domain whose files are in DIR/nova/instances; returns names."""
    inst = nova_dir(d, "instances") + "/"
    doms = _domains()
    if doms is None:
        return []
    gone = []
    for name, xml in doms:
        if inst in xml:
            _undefine(name)
            gone.append(name)
    return gone


def cleanup_stale_domains(d):
    """At start, libvirtd is ours alone: undefine Nova domains left by earlier rigs."""
    inst = nova_dir(d, "instances") + "/"
    for name, xml in _domains() or []:
        if "http://openstack.org/xmlns/libvirt/nova" in xml and inst not in xml:
            m = re.search(r"<source file='([^']+)'", xml)
            log(f"undefining stale domain {name} ({m.group(1) if m else '?'})")
            _undefine(name)


def kill_leftover_qemu(d):
    """QEMU processes of DIR's instances still running without libvirtd (libvirt double-forks
    them out of our process groups)."""
    inst = nova_dir(d, "instances") + "/"
    killed = []
    for pid in R.all_pids():
        if proc_comm(pid) in ("qemu-system-x86", "qemu-system-x86_64") and inst in proc_cmdline(pid):
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
    return killed


def remove_domain_files(d):
    """Persistent/live domain XML libvirt keeps outside DIR, for DIR's instances (when
    libvirtd died before it could undefine them)."""
    inst = nova_dir(d, "instances") + "/"
    removed = []
    for folder in ("/etc/libvirt/qemu", "/run/libvirt/qemu", "/etc/libvirt/qemu/autostart"):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for n in names:
            path = os.path.join(folder, n)
            if not n.endswith(".xml"):
                continue
            try:
                with open(path, errors="replace") as f:
                    if inst not in f.read():
                        continue
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------------------
# stop


def _is_ours(pid):
    return any(p in proc_cmdline(pid) for p in PATTERNS) or R._is_ours(pid)


def stray_epmds(d):
    """An epmd erl may have started for our RabbitMQ (daemonized: cwd /, own session).  It
    inherited RabbitMQ's environment, which names DIR."""
    mnesia = os.path.join(d, "rabbitmq", "mnesia").encode()
    return [p for p in pids_named("epmd") if proc_environ(p).get(b"RABBITMQ_MNESIA_BASE") == mnesia]


def stop(d, st):
    """Stop the compute side of DIR; returns what was stopped.  Order: Nova (compute gets
    SIGTERM, then SIGKILL after a grace), the domains (destroy + undefine through libvirtd),
    libvirtd and virtlogd, RabbitMQ, its epmd, MariaDB.  Then the claim and /dev/kvm."""
    stopped = []
    cpid = R.read_pid(d, "nova-compute")
    compute_alive = bool(cpid and R.rig_processes(R.home(d, "nova-compute"), pgid=cpid))
    if compute_alive:
        try:
            os.kill(cpid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    t_term = time.monotonic()
    stopped += R.kill_groups(d, ["nova-api", "nova-scheduler", "nova-conductor", "placement", "network"],
                             signal.SIGKILL)
    if compute_alive:
        # nova-compute does not exit within 15 s of SIGTERM: a short grace, then SIGKILL.
        while (time.monotonic() - t_term < COMPUTE_STOP_GRACE
               and R.rig_processes(R.home(d, "nova-compute"), pgid=cpid)):
            time.sleep(0.1)
        stopped.append("nova-compute")
    R.kill_groups(d, ["nova-compute"], signal.SIGKILL)
    doms = destroy_domains(d)
    if doms:
        stopped.append(f"domains {doms}")
    stopped += R.kill_groups(d, ["libvirtd", "virtlogd"], signal.SIGTERM, grace=5)
    qemu = kill_leftover_qemu(d)
    if qemu:
        stopped.append(f"qemu {qemu}")
    files = remove_domain_files(d)
    if files:
        stopped.append(f"domain files {files}")
    stopped += R.kill_groups(d, ["rabbitmq", "epmd", "mariadb"], signal.SIGKILL)
    for p in stray_epmds(d):
        try:
            os.kill(p, signal.SIGKILL)
            stopped.append(f"epmd {p}")
        except ProcessLookupError:
            pass
    sock = mariadb_socket(d)
    if sock.startswith("/tmp/rig-mariadb-"):
        R._rm(sock)
    return stopped


# ---------------------------------------------------------------------------
# rig.env, status


def env_entries(d, st):
    if not st.get("nova"):
        return {"NOVA": "0"}

    def pid(name):
        return str(R.running_pid(d, name) or "")

    fl = st.get("flavors", {})
    v = {
        "NOVA": "1",
        "NOVA_URL": nova_url(st),
        "NOVA_PORT": st["ports"]["nova"],
        "NOVA_REGION": REGION,
        "NOVA_MAX_MICROVERSION": st.get("nova_max_microversion", ""),
        "NOVA_HOST": NOVA_HOST,
        "NOVA_HYPERVISOR": st.get("nova_hypervisor", ""),
        "NOVA_INSTANCES_PATH": nova_dir(d, "instances"),
        "NOVA_CONF": nova_dir(d, "nova.conf"),
        "PLACEMENT_URL": placement_url(st),
        "PLACEMENT_PORT": st["ports"]["placement"],
        "NETWORK_URL": network_url(st),
        "NETWORK_PORT": st["ports"]["network"],
        "FLAVOR_BUILDER": "m1.builder",
        "FLAVOR_BUILDER_ID": fl.get("m1.builder", ""),
        "FLAVOR_TINY": "m1.tiny",
        "FLAVOR_TINY_ID": fl.get("m1.tiny", ""),
        "FLAVOR_LARGE": "m1.large",
        "FLAVOR_LARGE_ID": fl.get("m1.large", ""),
        "MARIADB_PORT": st["ports"]["mariadb"],
        "MARIADB_SOCKET": mariadb_socket(d),
        "RABBITMQ_PORT": st["ports"]["amqp"],
        "RABBITMQ_DIST_PORT": st["ports"]["amqp_dist"],
        "EPMD_PORT": st["ports"]["epmd"],
        "LIBVIRT_URI": LIBVIRT_URI,
    }
    for name in COMPONENTS:
        v[name.upper().replace("-", "_") + "_PID"] = pid(name)
    return v


def status_rows(d, st):
    if not st.get("nova"):
        return []
    ports = {"mariadb": st["ports"]["mariadb"], "epmd": st["ports"]["epmd"], "rabbitmq": st["ports"]["amqp"],
             "network": st["ports"]["network"], "placement": st["ports"]["placement"],
             "nova-api": st["ports"]["nova"]}
    return [(name, ports.get(name, "-")) for name in COMPONENTS]


def domains_in(d):
    """Names of libvirt domains of DIR (for status), or None when libvirtd is down."""
    doms = _domains()
    if doms is None:
        return None
    inst = nova_dir(d, "instances") + "/"
    return [n for n, x in doms if inst in x]
