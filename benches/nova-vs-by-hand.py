#!/usr/bin/env python3
"""Helper of benches/nova-vs-by-hand.sh (stdlib only).

  recipe IN OUT        the demo recipe IN as an openstack build: backend
                       openstack on cloud-a, compression none, one target
                       (kind openstack, cloud-b)
  host FILE            every second, append `epoch cpu_busy_% memavailable_kib`
                       to FILE (from /proc/stat and /proc/meminfo) until SIGTERM
  run DIR -- CMD...    run CMD: its stdout to DIR/stdout, each stderr line to
                       DIR/stderr (`epoch<TAB>line`, stamped on arrival) and to
                       our stderr, its VmRSS every RSS_INTERVAL s (0.5) to
                       DIR/rss (`epoch kib`); DIR/result.json: start, end,
                       exit code, peak RSS (wait4's ru_maxrss). Exits with
                       CMD's code.
  report WORK ROUNDS   the summary of a benchmark run (exit 1 if a target is
                       not met)
"""

import glob
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

MIB = 1024 * 1024
RATIO_TARGET = 1.05
# "Flat": pipeline's RSS may move by this much while a snapshot streams
# (hundreds of MiB go through it).
FLAT_MIB = 16.0


def recipe(src, dst):
    text = open(src).read()
    text = text[: text.index("[[target]]")]
    text = text.replace(
        "[build]\n", '[build]\nbackend = "openstack"\ncloud = "cloud-a"\n', 1
    )
    text, n = re.subn(r'(?m)^compression = .*$', 'compression = "none"', text)
    if n != 1 or 'backend = "openstack"' not in text:
        sys.exit(f"nova-vs-by-hand: {src} does not look like the demo recipe")
    text += (
        '[[target]]\nname = "cloud-b"\nkind = "openstack"\n'
        'cloud = "cloud-b"\nkeep = 3\n'
    )
    open(dst, "w").write(text)


def cpu_times():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    # guest and guest_nice are already counted in user and nice.
    total = sum(fields[:8])
    return total, idle


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def host(path):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    total0, idle0 = cpu_times()
    with open(path, "a", buffering=1) as out:
        while not stop.wait(1.0):
            total, idle = cpu_times()
            dt = total - total0
            busy = 100.0 * (dt - (idle - idle0)) / dt if dt > 0 else 0.0
            total0, idle0 = total, idle
            out.write(f"{time.time():.3f} {busy:.1f} {mem_available()}\n")


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def run(outdir, cmd):
    interval = float(os.environ.get("RSS_INTERVAL", "0.5"))
    os.makedirs(outdir, exist_ok=True)
    stdout = open(os.path.join(outdir, "stdout"), "wb")
    start = time.time()
    child = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE)

    def stamp():
        with open(os.path.join(outdir, "stderr"), "w", buffering=1) as out:
            for raw in child.stderr:
                line = raw.decode(errors="replace").rstrip("\n")
                out.write(f"{time.time():.3f}\t{line}\n")
                sys.stderr.write(f"    {line}\n")

    reader = threading.Thread(target=stamp)
    reader.start()
    # SIGINT goes to the whole foreground group: pipeline stops its server;
    # we wait for it rather than die first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(os.path.join(outdir, "rss"), "w", buffering=1) as rss:
        while True:
            kib = rss_kib(child.pid)
            now = time.time()
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if kib is not None:
                rss.write(f"{now:.3f} {kib}\n")
            time.sleep(interval)
    end = time.time()
    child.returncode = code = os.waitstatus_to_exitcode(status)
    reader.join()
    json.dump(
        {"start": start, "end": end, "code": code, "maxrss_kib": usage.ru_maxrss},
        open(os.path.join(outdir, "result.json"), "w"),
    )
    sys.exit(code if code >= 0 else 128 - code)


# ---------------------------------------------------------------- report

# Phase boundaries, in order, and the buckets between them.
BUCKETS = [
    ("setup", "start", "created", "start → server created (token, lookups, POST)"),
    ("boot", "created", "active", "POST → ACTIVE"),
    ("guest", "active", "final", "ACTIVE → final result line (guest)"),
    ("stop", "final", "shutoff", "final line → SHUTOFF (os-stop)"),
    ("snapshot", "shutoff", "snapped", "createImage → active, server deleted"),
    ("publish", "snapped", "published", "publish (download + upload, active)"),
    ("cleanup", "published", "end", "cleanup (snapshot deleted in a, record)"),
]

PIPELINE_MARKS = [
    ("created", re.compile(r"\bboot \S+: server .* created with flavor")),
    ("active", re.compile(r"\bboot \S+: server .* is active; waiting for the guest")),
    ("shutoff", re.compile(r"\bboot \S+: server .* stopped after")),
    ("imaging", re.compile(r"\bsnapshot \S+: snapshot \S+ of server .* is being made")),
    ("snapped", re.compile(r"\bsnapshot \S+: done in")),
    ("upload_start", re.compile(r"\bupload \S+@cloud-b: started")),
    ("published", re.compile(r"\bupload \S+@cloud-b: done in")),
]


def read_stderr(path):
    lines = []
    for raw in open(path):
        t, _, line = raw.rstrip("\n").partition("\t")
        lines.append((float(t), line))
    return lines


def pipeline_marks(d):
    res = json.load(open(os.path.join(d, "result.json")))
    lines = read_stderr(os.path.join(d, "stderr"))
    marks = {"start": res["start"], "end": res["end"]}
    for name, rx in PIPELINE_MARKS:
        hit = [t for t, line in lines if rx.search(line)]
        if not hit:
            raise SystemExit(f"nova-vs-by-hand: no `{rx.pattern}` line in {d}/stderr")
        marks[name] = hit[0]
    # The final line is not logged: pipeline writes the console it read to
    # console.log on every poll and stops polling at the final line, so the
    # file's mtime is when it saw it.
    rundir = next(
        (line.split("run directory: ", 1)[1] for _, line in lines if "run directory: " in line),
        None,
    )
    consoles = glob.glob(os.path.join(rundir or "/nonexistent", "*", "console.log"))
    if not consoles:
        raise SystemExit(f"nova-vs-by-hand: no console.log in the run directory of {d}")
    marks["final"] = os.stat(consoles[0]).st_mtime
    marks["uptime"] = cloud_init_uptime(consoles[0])
    staged = any("is staged already" in line for _, line in lines)
    rss = [tuple(map(float, l.split())) for l in open(os.path.join(d, "rss"))]
    return marks, {"staged_already": staged, "rss": rss, "maxrss_kib": res["maxrss_kib"]}


UP = re.compile(r"Cloud-init v\. \S+ finished at .*Up ([0-9.]+) seconds")


def cloud_init_uptime(console):
    """The guest's uptime when cloud-init finished, from its console."""
    try:
        hits = UP.findall(open(console, errors="replace").read())
    except OSError:
        return None
    return float(hits[-1]) if hits else None


def by_hand_marks(d):
    marks = {}
    for line in open(os.path.join(d, "phases")):
        name, t = line.split()
        marks[name] = float(t)
    marks["snapped"] = marks["server_deleted"]
    marks["uptime"] = cloud_init_uptime(os.path.join(d, "console.log"))
    marks["published"] = marks["b_active"]
    return marks


def host_samples(path):
    out = []
    if os.path.exists(path):
        for line in open(path):
            t, busy, avail = line.split()
            out.append((float(t), float(busy), int(avail)))
    return out


def window(samples, a, b):
    return [s for s in samples if a <= s[0] <= b]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def report(work, rounds):
    rounds = int(rounds)
    host_s = host_samples(os.path.join(work, "host"))
    runs = {"pipeline": [], "by-hand": []}
    extra = []
    for r in range(1, rounds + 1):
        p, pinfo = pipeline_marks(os.path.join(work, f"round-{r}", "pipeline"))
        h = by_hand_marks(os.path.join(work, f"round-{r}", "by-hand"))
        runs["pipeline"].append(p)
        runs["by-hand"].append(h)
        extra.append(pinfo)

    def total(m):
        return m["end"] - m["start"]

    def bucket(m, a, b):
        return m[b] - m[a]

    out = []
    w = out.append
    w("")
    w("=" * 78)
    w("nova-vs-by-hand: one demo cell on the rig's Nova (cloud-a), published to")
    w("Glance b (cloud-b), compression none: pipeline vs the same calls by hand")
    w("=" * 78)
    meta = json.load(open(os.path.join(work, "meta.json")))
    w(f"machine: {meta['cores']} cores, {meta['mem_total_mib']} MiB RAM; load average "
      f"{meta['load_before']} before, {open('/proc/loadavg').read().split()[0]} after")
    w(f"rounds: {rounds}, alternating which goes first (odd rounds: pipeline first)")
    w("")
    def guest(m):
        return m["final"] - m["active"]

    def rest(m):
        return total(m) - guest(m)

    w("wall time per round (s); guest = ACTIVE → final line, the rest = all but that:")
    w(f"  {'round':<7}{'first':<10}{'pipeline':>9}{'by hand':>9}{'ratio':>7}"
      f"   {'guest p':>8}{'h':>6}   {'rest p':>7}{'h':>6}")
    for r in range(rounds):
        p, h = runs["pipeline"][r], runs["by-hand"][r]
        first = "pipeline" if r % 2 == 0 else "by hand"
        w(f"  {r + 1:<7}{first:<10}{total(p):>9.1f}{total(h):>9.1f}{total(p) / total(h):>7.3f}"
          f"   {guest(p):>8.1f}{guest(h):>6.1f}   {rest(p):>7.1f}{rest(h):>6.1f}")
    pm = med([total(m) for m in runs["pipeline"]])
    hm = med([total(m) for m in runs["by-hand"]])
    ratio = pm / hm
    pg, hg = med([guest(m) for m in runs["pipeline"]]), med([guest(m) for m in runs["by-hand"]])
    pr, hr = med([rest(m) for m in runs["pipeline"]]), med([rest(m) for m in runs["by-hand"]])
    w(f"  {'median':<17}{pm:>9.1f}{hm:>9.1f}{ratio:>7.3f}"
      f"   {pg:>8.1f}{hg:>6.1f}   {pr:>7.1f}{hr:>6.1f}")
    w(f"  the rest (what the tools do, not the guest), pipeline / by hand: {pr / hr:.3f}"
      f" ({pr - hr:+.1f} s)")
    ups = {v: [m.get("uptime") for m in runs[v]] for v in runs}
    if all(None not in u for u in ups.values()):
        w("  guest uptime when cloud-init finished (how fast TCG ran the guest): pipeline "
          + ", ".join(f"{u:.1f}" for u in ups["pipeline"]) + "; by hand "
          + ", ".join(f"{u:.1f}" for u in ups["by-hand"]) + " s")
    w("")
    w("where the time goes (median of the rounds, s):")
    w(f"  {'phase':<48}{'pipeline':>10}{'by hand':>10}{'diff':>9}")
    w(f"  {'staging the base in Glance a':<48}{0.0:>10.1f}{0.0:>10.1f}{0.0:>9.1f}")
    for key, a, b, label in BUCKETS:
        pv = med([bucket(m, a, b) for m in runs["pipeline"]])
        hv = med([bucket(m, a, b) for m in runs["by-hand"]])
        w(f"  {label:<48}{pv:>10.1f}{hv:>10.1f}{pv - hv:>+9.1f}")
    w(f"  {'total':<48}{pm:>10.1f}{hm:>10.1f}{pm - hm:>+9.1f}")
    w("  of which:")
    pv = med([m["snapped"] - m["imaging"] for m in runs["pipeline"]])
    hv = med([m["image_active"] - m["image_created"] for m in runs["by-hand"]])
    w(f"    {'createImage → active (pipeline: + delete)':<46}{pv:>10.1f}{hv:>10.1f}")
    pv = med([m["published"] - m["upload_start"] for m in runs["pipeline"]])
    hv = med([m["b_active"] - m["b_created"] for m in runs["by-hand"]])
    w(f"    {'the stream (upload step / curl | curl -T -)':<46}{pv:>10.1f}{hv:>10.1f}")
    staged = all(x["staged_already"] for x in extra)
    w(f"  staging: 0 in the timed runs: pipeline found the staged base "
      f"({'every run' if staged else 'NOT every run'}), by hand")
    w(f"  looks it up (pipeline_kind=base); the untimed warm-up staged it in "
      f"{meta['warmup_stage']} (that run: {meta['warmup_total']:.1f} s)")
    w("  pipeline's marks: its run-log lines as they reached stderr (stamped on")
    w("  arrival, ms; the log itself has seconds); its final line = the mtime of")
    w("  the console.log it rewrites on every poll and stops polling at.")
    w("")
    w("host during each build (sampled every 1 s):")
    w(f"  {'variant':<10}{'CPU busy mean':>15}{'CPU busy max':>14}{'MemAvailable min':>18}{'drop':>10}")
    for v in ("pipeline", "by-hand"):
        busy, low, drop = [], [], []
        for m in runs[v]:
            s = window(host_s, m["start"], m["end"])
            before = [x for x in host_s if x[0] <= m["start"]]
            if not s:
                continue
            busy += [x[1] for x in s]
            low.append(min(x[2] for x in s))
            if before:
                drop.append(before[-1][2] - min(x[2] for x in s))
        if busy:
            w(f"  {v:<10}{statistics.mean(busy):>14.0f}%{max(busy):>13.0f}%"
              f"{min(low) / 1024:>14.0f} MiB{max(drop or [0]) / 1024:>6.0f} MiB")
    w("  (drop: MemAvailable just before the run minus its minimum during it,")
    w("  worst round: mostly the guest's QEMU)")
    w("")
    w(f"pipeline's own RSS (VmRSS every {os.environ.get('RSS_INTERVAL', '0.5')} s):")
    flat_ok = True
    for r, (m, x) in enumerate(zip(runs["pipeline"], extra), 1):
        rss = [k for _, k in x["rss"]]
        up = [k for t, k in x["rss"] if m["upload_start"] <= t <= m["published"]]
        line = (f"  round {r}: whole run {min(rss) / 1024:.1f}-{max(rss) / 1024:.1f} MiB, "
                f"peak {x['maxrss_kib'] / 1024:.1f} MiB (wait4); upload "
                f"({m['published'] - m['upload_start']:.1f} s, {len(up)} samples) ")
        if up:
            spread = (max(up) - min(up)) / 1024
            flat_ok = flat_ok and spread <= FLAT_MIB
            line += f"{min(up) / 1024:.1f}-{max(up) / 1024:.1f} MiB, max-min {spread:.1f} MiB"
        else:
            line += "no sample"
        w(line)
    size = meta.get("snapshot_bytes")
    if size:
        w(f"  the snapshot streamed through it: {size / MIB:.0f} MiB per run")
    w("")
    w("-" * 78)
    ok = ratio <= RATIO_TARGET
    w(f"ratio pipeline / by hand (median wall time): {ratio:.3f}  "
      f"target <= {RATIO_TARGET}: {'met' if ok else 'NOT met'}")
    w(f"pipeline RSS flat while the snapshot streams (max-min <= {FLAT_MIB:.0f} MiB "
      f"in every round): {'met' if flat_ok else 'NOT met'}")
    w("-" * 78)
    print("\n".join(out))
    sys.exit(0 if ok and flat_ok else 1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    verb, args = sys.argv[1], sys.argv[2:]
    if verb == "recipe" and len(args) == 2:
        recipe(*args)
    elif verb == "host" and len(args) == 1:
        host(args[0])
    elif verb == "run" and len(args) >= 3 and args[1] == "--":
        run(args[0], args[2:])
    elif verb == "report" and len(args) == 2:
        report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
