"""Server-rendered pages and static assets shipped in the package.

:func:`mount_web` adds the pages to the API's FastAPI app; :func:`create_site` builds both.
"""

from __future__ import annotations

from sharefab.web.mount import create_site, install, mount_web

__all__ = ["create_site", "install", "mount_web"]
