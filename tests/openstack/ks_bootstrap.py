"""`keystone-manage bootstrap`, plus the rig's own projects, users, regions, catalog and
registered limits.

Run with the rig venv's python, with keystone-manage's arguments:
    RIG_KEYSTONE_SPEC=spec.json python ks_bootstrap.py --config-file keystone.conf bootstrap ...

The extra objects are made in the same process, right after keystone's own bootstrap, with
keystone's internal APIs: one Python start-up instead of one keystone-manage run and ~20
admin API calls (each ~100 ms) once keystone serves.  spec.json:
    {"regions": ["RegionTwo"],
     "identity_endpoints": [{"region": "RegionTwo", "interface": "public", "url": "..."}],
     "projects": ["service", {"name": "ci", "id": "<32 hex>"}],
     "users": [{"name": "glance", "password": "...", "project": "service", "roles": ["admin", "service"]}],
     "services": [{"type": "image", "name": "glance", "id": "<32 hex>",
                   "endpoints": [{"region": "RegionOne", "interface": "public", "url": "...",
                                  "id": "<32 hex>"}]}],
     "registered_limits": [{"service_id": "<32 hex>", "region_id": "RegionOne",
                            "resource_name": "image_count_total", "default_limit": 1000}]}
An "id" is optional (a random one otherwise): the rig picks the ids it needs to know (Glance's
service and endpoints for [oslo_limit], the ci project for rig.env) before keystone runs.
"""

import json
import os
import sys
import uuid

from keystone.cmd import bootstrap, cli
from keystone.common import provider_api

PROVIDERS = provider_api.ProviderAPIs
_keystone_bootstrap = bootstrap.Bootstrapper.bootstrap


def _endpoint(service_id, ep):
    ref = {"id": ep.get("id") or uuid.uuid4().hex, "interface": ep["interface"], "url": ep["url"],
           "service_id": service_id, "region_id": ep["region"], "enabled": True}
    PROVIDERS.catalog_api.create_endpoint(endpoint_id=ref["id"], endpoint_ref=ref)


def _rig_bootstrap(self):
    _keystone_bootstrap(self)
    with open(os.environ["RIG_KEYSTONE_SPEC"]) as f:
        spec = json.load(f)
    roles = {"admin": self.admin_role_id, "member": self.member_role_id,
             "reader": self.reader_role_id, "manager": self.manager_role_id,
             "service": self.service_role_id}
    for region in spec.get("regions", []):
        PROVIDERS.catalog_api.create_region(region_ref={"id": region})
    for ep in spec.get("identity_endpoints", []):
        _endpoint(self.service_id, ep)
    projects = {}
    for p in spec.get("projects", []):
        name, pid = (p, None) if isinstance(p, str) else (p["name"], p.get("id"))
        pid = pid or uuid.uuid4().hex
        PROVIDERS.resource_api.create_project(pid, {
            "id": pid, "name": name, "domain_id": self.default_domain_id, "enabled": True,
            "description": "tests/openstack rig"})
        projects[name] = pid
    for u in spec.get("users", []):
        user = PROVIDERS.identity_api.create_user(user_ref={
            "name": u["name"], "password": u["password"], "enabled": True,
            "domain_id": self.default_domain_id, "default_project_id": projects[u["project"]]})
        for role in u["roles"]:
            PROVIDERS.assignment_api.add_role_to_user_and_project(
                user_id=user["id"], project_id=projects[u["project"]], role_id=roles[role])
    for s in spec.get("services", []):
        sid = s.get("id") or uuid.uuid4().hex
        PROVIDERS.catalog_api.create_service(sid, {"id": sid, "type": s["type"], "name": s["name"],
                                                   "enabled": True})
        for ep in s["endpoints"]:
            _endpoint(sid, ep)
    # Unified limits (Glance's use_keystone_limits): one registered limit per service, region
    # and resource; a project limit (POST /v3/limits) needs its registered limit to exist.
    rls = [{"id": uuid.uuid4().hex, "description": "tests/openstack rig default", **rl}
           for rl in spec.get("registered_limits", [])]
    if rls:
        PROVIDERS.unified_limit_api.create_registered_limits(rls)
    print(f"rig: projects, users, catalog and {len(rls)} registered limits created", file=sys.stderr)


bootstrap.Bootstrapper.bootstrap = _rig_bootstrap

if __name__ == "__main__":
    cli.main(argv=sys.argv)
