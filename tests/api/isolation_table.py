"""The route classification of the tenant-isolation test, and its extension point.

Every route the app serves must be listed here (or in an extension) as ``EXEMPT`` (holds no
tenant data), ``Obj`` (names another tenant's object: expect 404) or ``Scoped`` (acts only
inside the caller's organization). ``{name}`` in paths, bodies and params is filled with the
ids of the first tenant's private objects.

**Extensions.** An area that adds routes adds a module ``tests/api/isolation_ext_<area>.py``
defining ``ROUTES`` (same shape as below), optionally ``EXEMPT`` (a set of (method, path)),
and optionally ``setup(client, alice, ids) -> None``, which creates the first tenant's private
objects of that area through the API and stores their ids in ``ids`` (e.g.
``ids["device_id"] = ...``). No need to edit the core table.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

API = "/api/v1"


@dataclass(frozen=True)
class Obj:
    """A route naming another tenant's object; the second tenant gets 404."""

    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class Scoped:
    """A route acting only inside the caller's org. ``status`` is what the second tenant gets;
    ``field`` the field a 422 names; ``params`` query parameters."""

    status: int
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    field: str | None = None


EXEMPT: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", f"{API}/health"),
        ("POST", f"{API}/auth/register"),
        ("POST", f"{API}/auth/token"),
        ("GET", f"{API}/capabilities"),
        ("GET", f"{API}/capabilities/{{code}}"),
        ("GET", f"{API}/clusters"),
        ("GET", f"{API}/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/docs/oauth2-redirect"),
    }
)


WINDOW = {"start_at": "2027-02-01T08:00:00Z", "end_at": "2027-02-01T16:00:00Z"}
RULE = {"rule": "Sat 08:00-12:00", "timezone": "Asia/Shanghai", "horizon_days": 14}

ROUTES: dict[tuple[str, str], Obj | Scoped] = {
    ("GET", f"{API}/users/me"): Scoped(200),
    ("GET", f"{API}/users"): Scoped(200),
    ("POST", f"{API}/users"): Scoped(
        201, body={"email": "new@bob.example.com", "password": "long enough", "role": "viewer"}
    ),
    ("GET", f"{API}/users/{{user_id}}"): Obj(),
    ("PATCH", f"{API}/users/{{user_id}}"): Obj(body={"role": "viewer"}),
    ("GET", f"{API}/sites"): Scoped(200),
    ("POST", f"{API}/sites"): Scoped(201, body={"name": "Bob site", "lat": 30.0, "lon": 120.0}),
    ("GET", f"{API}/sites/{{site_id}}"): Obj(),
    ("PATCH", f"{API}/sites/{{site_id}}"): Obj(body={"name": "taken over"}),
    ("DELETE", f"{API}/sites/{{site_id}}"): Obj(),
    ("GET", f"{API}/resources"): Scoped(200, params={"capability": "separating"}),
    ("POST", f"{API}/resources"): Scoped(
        422,
        body={
            "site_id": "{site_id}",
            "name": "on someone else's site",
            "capabilities": [{"code": "separating.machining.milling"}],
            "hourly_rate_minor": 100,
        },
        field="site_id",
    ),
    ("GET", f"{API}/resources/{{resource_id}}"): Obj(),
    ("PATCH", f"{API}/resources/{{resource_id}}"): Obj(body={"hourly_rate_minor": 1}),
    ("DELETE", f"{API}/resources/{{resource_id}}"): Obj(),
    ("GET", f"{API}/resources/{{resource_id}}/windows"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/windows"): Obj(body=WINDOW),
    ("DELETE", f"{API}/resources/{{resource_id}}/windows/{{window_id}}"): Obj(),
    ("POST", f"{API}/resources/{{resource_id}}/calendar-rules"): Obj(body=RULE),
    ("GET", f"{API}/bookings"): Scoped(200),
    ("GET", f"{API}/bookings#resource"): Obj(params={"resource_id": "{resource_id}"}),
}
# ``#resource`` marks a second use of one route; the path itself is the part before '#'.


Setup = Callable[[Any, Any, dict[str, int]], None]


@dataclass
class Table:
    """The core table merged with every extension."""

    routes: dict[tuple[str, str], Obj | Scoped] = field(default_factory=dict)
    exempt: set[tuple[str, str]] = field(default_factory=set)
    setups: list[Setup] = field(default_factory=list)

    def listed(self) -> set[tuple[str, str]]:
        """(method, path) of every classified route (``#variant`` suffixes removed)."""
        return {(m, r.partition("#")[0]) for m, r in self.routes} | self.exempt


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"sharefab_isolation_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_table() -> Table:
    """The core classification plus ``isolation_ext_*.py`` next to this file."""
    table = Table(dict(ROUTES), set(EXEMPT))
    for path in sorted(Path(__file__).parent.glob("isolation_ext_*.py")):
        module = _load(path)
        duplicate = set(module.ROUTES) & set(table.routes)
        assert not duplicate, f"{path.name} classifies already classified routes: {duplicate}"
        table.routes.update(module.ROUTES)
        table.exempt |= set(getattr(module, "EXEMPT", ()))
        if hasattr(module, "setup"):
            table.setups.append(module.setup)
    return table
