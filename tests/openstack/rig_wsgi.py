"""uWSGI entry point of the rig: the real WSGI application named by RIG_APP
(keystone, glance, placement or nova-api).

One change, below the applications: oslo.db opens every SQLite transaction with a plain
(deferred) BEGIN.  Two threads that each read and then write (keystone writes
user.last_active_at on every password login; glance reads then updates images) then
deadlock inside SQLite, and one of them fails at once with "database is locked" (HTTP
500), without waiting for the busy timeout.  BEGIN IMMEDIATE takes the write lock up front,
so concurrent transactions queue on the busy timeout instead (they are all short).
"""

import inspect
import os
import sys

import sqlalchemy
from oslo_db.sqlalchemy import engines as _engines


class _SqlalchemyWithImmediateBegin:
    """Stands in for the `sqlalchemy` module inside oslo_db.sqlalchemy.engines only."""

    def __getattr__(self, name):
        return getattr(sqlalchemy, name)

    @staticmethod
    def text(sql, *args, **kwargs):
        if sql == "BEGIN":
            sql = "BEGIN IMMEDIATE"
        return sqlalchemy.text(sql, *args, **kwargs)


if 'sqlalchemy.text("BEGIN")' not in inspect.getsource(_engines):
    print("rig_wsgi: oslo.db no longer emits BEGIN as expected; SQLite patch inactive",
          file=sys.stderr)
_engines.sqlalchemy = _SqlalchemyWithImmediateBegin()


def _wait_for_gates():
    """nova-api reads its database while the app loads (oslo.db then retries only every
    10 s): the rig opens the gate files in $RIG_GATES once MariaDB answers."""
    import time
    gates = [g for g in os.environ.get("RIG_GATES", "").split(":") if g]
    while not all(os.path.exists(g) for g in gates):
        time.sleep(0.05)


def _load():
    app = os.environ.get("RIG_APP")
    if app == "keystone":
        from keystone.wsgi.api import application
    elif app == "glance":
        from glance.wsgi.api import application
    elif app == "placement":
        from placement.wsgi.api import application
    elif app == "nova-api":
        # As nova/wsgi/osapi_compute.py does first (eventlet must not be imported before).
        from nova import monkey_patch
        monkey_patch.patch(backend="threading")
        # What osapi_compute imports before it reads nova.conf (importing more before the
        # config is parsed could freeze option defaults into decorators).
        from nova.api.openstack import wsgi_app  # noqa: F401
        _wait_for_gates()
        from nova.wsgi.osapi_compute import application
    else:
        raise RuntimeError(f"RIG_APP must be keystone, glance, placement or nova-api, not {app!r}")
    return application


application = _load()
