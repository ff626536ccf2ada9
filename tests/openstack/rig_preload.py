"""Start a Nova daemon (nova-conductor, nova-scheduler, nova-compute) behind gates.

Run with the rig venv's python by 'rig start --nova':
    RIG_GATES=DIR/gates/a:DIR/gates/b python rig_preload.py nova-compute --config-file DIR/nova/nova.conf

It does what the console script does (import nova.cmd.X, call main()), but imports first
and calls main() only once every gate file exists.  The imports (several seconds of CPU
each) then overlap with MariaDB, RabbitMQ and Keystone coming up, and a daemon never
connects before what it needs is there: oslo.db waits 10 s between connection attempts,
and a nova-compute whose first ping reaches RabbitMQ before nova-conductor has declared
its queue loses the message and waits 10 s for the reply.

sys.argv is set before the first nova import: nova.monkey_patch reads --config-file from
it at import time (concurrency_backend).  Only nova.cmd.X is imported early, as the console
script does: the manager modules read options in their decorators at import time
(@periodic_task(spacing=CONF...)), so importing them before main() has parsed nova.conf
silently gives them the defaults (seen: the scheduler's discover_hosts_in_cells_interval
stayed -1 and the compute host was never mapped to cell1).
"""

import importlib
import os
import sys
import time

COMMANDS = {
    "nova-conductor": "nova.cmd.conductor",
    "nova-scheduler": "nova.cmd.scheduler",
    "nova-compute": "nova.cmd.compute",
}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: rig_preload.py {{{'|'.join(COMMANDS)}}} ARGS...", file=sys.stderr)
        sys.exit(2)
    prog = sys.argv[1]
    sys.argv = [os.path.join(os.path.dirname(sys.executable), prog)] + sys.argv[2:]
    # QEMU (user libvirt-qemu) must be able to enter the instance folders nova creates.
    os.umask(0o022)
    mod = importlib.import_module(COMMANDS[prog])
    gates = [g for g in os.environ.get("RIG_GATES", "").split(":") if g]
    t0 = time.monotonic()
    print(f"rig_preload: {prog} imported; waiting for {[os.path.basename(g) for g in gates]}",
          file=sys.stderr, flush=True)
    while not all(os.path.exists(g) for g in gates):
        time.sleep(0.05)
    print(f"rig_preload: gates open after {time.monotonic() - t0:.1f} s; starting {prog}",
          file=sys.stderr, flush=True)
    sys.exit(mod.main())


if __name__ == "__main__":
    main()
