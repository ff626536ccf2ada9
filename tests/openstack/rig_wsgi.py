"""uWSGI entry point of the rig: the real Keystone or Glance WSGI application (RIG_APP=keystone|glance).

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


def _load():
    app = os.environ.get("RIG_APP")
    if app == "keystone":
        from keystone.wsgi.api import application
    elif app == "glance":
        from glance.wsgi.api import application
    else:
        raise RuntimeError(f"RIG_APP must be keystone or glance, not {app!r}")
    return application


application = _load()
