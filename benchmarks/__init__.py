"""Benchmarks of ShareFab (``make bench`` runs ``python -m benchmarks``)."""
