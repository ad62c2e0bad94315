"""SQLAlchemy 2 tables, repositories and Alembic migrations.

- :mod:`sharefab.storage.models` — the ORM; importing it registers every table on ``Base``.
- :mod:`sharefab.storage.db` — ``make_engine``, ``make_session_factory``, ``upgrade_database``.
- :mod:`sharefab.storage.bookings` — ``insert_booking``: never double-books a resource unit.
- :mod:`sharefab.storage.errors` — ``BookingConflict``, ``NotFound``.
- :mod:`sharefab.storage.types` — ``UTCDateTime`` (aware UTC on every backend), ``utc_now``.
- ``migrations/`` — the Alembic environment and revisions, shipped in the package
  (``alembic -c src/sharefab/storage/alembic.ini upgrade head`` with ``SHAREFAB_DATABASE_URL``).
"""
