"""ShareFab: an open platform for shared manufacturing."""

__version__ = "0.1.0"
