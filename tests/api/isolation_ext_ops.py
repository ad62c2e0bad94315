"""Tenant-isolation classification of the platform operator routes (market-ops): a tenant
who is not a platform operator gets 403 and changes nothing."""

from __future__ import annotations

from typing import Any

from isolation_table import API, Obj, Scoped

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("POST", f"{API}/operator/optimize"): Scoped(403, body={"cluster_id": 1, "time_limit_s": 1}),
    ("GET", f"{API}/operator/optimize/{{run_id}}"): Scoped(403),
}


def setup(client: Any, alice: Any, ids: dict[str, int]) -> None:
    """No private objects: operator routes refuse every tenant user alike."""
    ids["run_id"] = 1
