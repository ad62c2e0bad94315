"""Tenant-isolation classification of the organization routes (an admin changes the
buyer/provider roles of its own organization only)."""

from __future__ import annotations

from typing import Any

from isolation_table import API, Obj, Scoped

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("GET", f"{API}/organizations/me"): Scoped(200),
    ("PUT", f"{API}/organizations/{{org_id}}/roles"): Obj(body={"roles": ["buyer", "provider"]}),
}


def setup(client: Any, alice: Any, ids: dict[str, int]) -> None:
    """The first tenant's organization id (the object the second tenant must not change)."""
    del client
    ids["org_id"] = alice.org_id
