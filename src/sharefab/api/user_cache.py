"""Users recently verified by a bearer token, so most requests skip the user lookup.

Every authenticated request used to read its user (``SELECT ... FROM users``) in a worker
thread before the route's own worker thread ran: a round trip and a thread hop per request.
The cache keeps a detached copy of each user verified in the last ``ttl`` seconds; a request
within that time attaches a copy to its own session with ``Session.merge(load=False)`` (no
SQL). The token itself is still decoded and checked on every request.

Staleness is bounded by ``ttl``: a user deactivated, or given another role, through *this*
process is forgotten at once (:meth:`UserCache.forget`, called by the users routes); through
another server process, by SQL or the CLI, it takes effect within ``ttl`` seconds
(``SHAREFAB_AUTH_CACHE_SECONDS``; 0 turns the cache off).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from sqlalchemy import inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from sharefab.storage.models import User

#: Users kept at most (least recently verified dropped first).
MAX_USERS = 10_000
_COLUMNS = tuple(attr.key for attr in inspect(User).column_attrs)


class UserCache:
    """Detached copies of recently verified users by id, each valid for ``ttl`` seconds."""

    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_USERS,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._max = max_users
        self._lock = threading.Lock()
        self._users: OrderedDict[int, tuple[float, User]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl > 0

    def attach(self, session: Session, user_id: int) -> User | None:
        """The cached user ``user_id`` merged into ``session`` without SQL, or ``None`` when
        it is not cached or its time is up."""
        if not self.enabled:
            return None
        now = self._clock()
        with self._lock:
            entry = self._users.get(user_id)
            if entry is None:
                return None
            if entry[0] <= now:
                del self._users[user_id]
                return None
            snapshot = entry[1]
        return session.merge(snapshot, load=False)

    def remember(self, user: User) -> None:
        """Keep a detached copy of ``user`` (a persistent, freshly read instance)."""
        if not self.enabled:
            return
        copy = User(**{key: getattr(user, key) for key in _COLUMNS})
        make_transient_to_detached(copy)
        with self._lock:
            self._users[user.id] = (self._clock() + self.ttl, copy)
            self._users.move_to_end(user.id)
            while len(self._users) > self._max:
                self._users.popitem(last=False)

    def forget(self, user_id: int) -> None:
        """Drop user ``user_id`` (its role, active flag or organization changed)."""
        with self._lock:
            self._users.pop(user_id, None)
