"""Server-rendered pages and static assets shipped in the package."""
