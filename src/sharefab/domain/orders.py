"""The order state machine: states, who may move an order where, and the event record.

Happy path: ``draft -> quoted -> accepted -> scheduled -> in_production -> inspected ->
shipped -> delivered -> settled``. Side exits: ``cancelled`` (before anything ships) and
``disputed`` (after shipping). ``settled`` and ``cancelled`` are terminal.

====================  =======================  ==========================================
from                  to                       allowed actors
====================  =======================  ==========================================
draft                 quoted                   buyer, system
draft                 cancelled                buyer, operator
quoted                accepted                 buyer
quoted                cancelled                buyer, operator, system (quote expired)
accepted              scheduled                system, operator
accepted              cancelled                buyer, provider (sole), operator, system
scheduled             in_production            provider, system
scheduled             cancelled                buyer, provider (sole), operator
in_production         inspected                provider (sole), operator
in_production         cancelled                operator
inspected             shipped                  provider
inspected             in_production            provider, operator (rework)
inspected             cancelled                operator
shipped               delivered                buyer, operator, system
shipped               disputed                 buyer, provider, operator
delivered             settled                  system, operator
delivered             disputed                 buyer, provider, operator
disputed              delivered                buyer (withdraws), operator (for provider)
disputed              settled                  operator (settled with a split)
disputed              cancelled                operator (for buyer: refund)
====================  =======================  ==========================================

A buyer may cancel before production starts (the refund follows the ledger's
``CancellationPolicy``); after that only the platform operator may cancel, and nothing that
has shipped can be cancelled (raise a dispute instead). A provider that cannot make an order
may withdraw before production (the buyer gets everything back and the cancellation counts
against the provider's credit), but only from an order it is the *sole* provider of
(:data:`SOLE_PROVIDER_MOVES`): cancelling an order that other providers also work on would
cancel their work and the buyer's whole plan, so there it asks the operator, who may re-plan
or cancel. Likewise only a sole provider declares the whole order ``inspected`` by hand; a
shared order gets there when every provider's work is done and an inspection passes (recorded
with the inspection, :mod:`sharefab.services.order_work`). Either party may raise a dispute
once the goods have shipped; only the platform operator resolves one with money.

:class:`IllegalTransition` is raised for a move the state machine does not have from the
current state; its subclass :class:`NotYourMove` for a move that exists but that the actor may
not make (the API answers 409 and 403); both name who may make the move.

Inspection records (measured values against spec limits, defects -> verdict) and the
per-operation progress providers report, with its roll-up to the order state, live in
:mod:`sharefab.domain.order_execution`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = [
    "CANCELLABLE_STATES",
    "SOLE_PROVIDER_MOVES",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "ActorRole",
    "Event",
    "IllegalTransition",
    "NotYourMove",
    "OrderState",
    "allowed_targets",
    "check_aware",
    "make_event",
    "parse_role",
    "parse_state",
    "replay",
    "roles_for",
    "transition",
    "transition_table",
]


class OrderState(StrEnum):
    """Lifecycle state of an order."""

    DRAFT = "draft"
    QUOTED = "quoted"
    ACCEPTED = "accepted"
    SCHEDULED = "scheduled"
    IN_PRODUCTION = "in_production"
    INSPECTED = "inspected"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    DISPUTED = "disputed"


class ActorRole(StrEnum):
    """The party asking for a transition."""

    BUYER = "buyer"
    PROVIDER = "provider"
    OPERATOR = "operator"
    SYSTEM = "system"


S = OrderState
R = ActorRole

TRANSITIONS: dict[tuple[OrderState, OrderState], frozenset[ActorRole]] = {
    (S.DRAFT, S.QUOTED): frozenset({R.BUYER, R.SYSTEM}),
    (S.DRAFT, S.CANCELLED): frozenset({R.BUYER, R.OPERATOR}),
    (S.QUOTED, S.ACCEPTED): frozenset({R.BUYER}),
    (S.QUOTED, S.CANCELLED): frozenset({R.BUYER, R.OPERATOR, R.SYSTEM}),
    (S.ACCEPTED, S.SCHEDULED): frozenset({R.SYSTEM, R.OPERATOR}),
    (S.ACCEPTED, S.CANCELLED): frozenset({R.BUYER, R.PROVIDER, R.OPERATOR, R.SYSTEM}),
    (S.SCHEDULED, S.IN_PRODUCTION): frozenset({R.PROVIDER, R.SYSTEM}),
    (S.SCHEDULED, S.CANCELLED): frozenset({R.BUYER, R.PROVIDER, R.OPERATOR}),
    (S.IN_PRODUCTION, S.INSPECTED): frozenset({R.PROVIDER, R.OPERATOR}),
    (S.IN_PRODUCTION, S.CANCELLED): frozenset({R.OPERATOR}),
    (S.INSPECTED, S.SHIPPED): frozenset({R.PROVIDER}),
    (S.INSPECTED, S.IN_PRODUCTION): frozenset({R.PROVIDER, R.OPERATOR}),
    (S.INSPECTED, S.CANCELLED): frozenset({R.OPERATOR}),
    (S.SHIPPED, S.DELIVERED): frozenset({R.BUYER, R.OPERATOR, R.SYSTEM}),
    (S.SHIPPED, S.DISPUTED): frozenset({R.BUYER, R.PROVIDER, R.OPERATOR}),
    (S.DELIVERED, S.SETTLED): frozenset({R.SYSTEM, R.OPERATOR}),
    (S.DELIVERED, S.DISPUTED): frozenset({R.BUYER, R.PROVIDER, R.OPERATOR}),
    (S.DISPUTED, S.DELIVERED): frozenset({R.BUYER, R.OPERATOR}),
    (S.DISPUTED, S.SETTLED): frozenset({R.OPERATOR}),
    (S.DISPUTED, S.CANCELLED): frozenset({R.OPERATOR}),
}
"""Every allowed ``(from, to)`` pair and the roles that may perform it."""

_SHARED_CANCEL = (
    "a provider may cancel only an order no other provider works on (ask the platform "
    "operator to re-plan or cancel this one)"
)
SOLE_PROVIDER_MOVES: dict[tuple[OrderState, OrderState], str] = {
    (S.ACCEPTED, S.CANCELLED): _SHARED_CANCEL,
    (S.SCHEDULED, S.CANCELLED): _SHARED_CANCEL,
    (S.IN_PRODUCTION, S.INSPECTED): "other providers work on this order: it becomes inspected "
    "when every work order is done and an inspection passes (record yours with "
    "POST /orders/{id}/inspections)",
}
"""Moves a provider may make only on an order no other provider works on, and why."""

TERMINAL_STATES: frozenset[OrderState] = frozenset({S.SETTLED, S.CANCELLED})
"""States with no way out."""

CANCELLABLE_STATES: frozenset[OrderState] = frozenset(
    src for (src, dst) in TRANSITIONS if dst is S.CANCELLED
)
"""States from which some role may cancel."""

_ORDER = list(OrderState)


def parse_state(value: OrderState | str, what: str = "") -> OrderState:
    """Coerce a state name to :class:`OrderState`; ``ValueError`` listing the valid names."""
    what = f"{what} " if what else ""
    try:
        return OrderState(value)
    except ValueError:
        names = ", ".join(s.value for s in OrderState)
        raise ValueError(f"unknown {what}order state {value!r}; expected one of {names}") from None


def parse_role(value: ActorRole | str) -> ActorRole:
    """Coerce a role name to :class:`ActorRole`; ``ValueError`` listing the valid names."""
    try:
        return ActorRole(value)
    except ValueError:
        names = ", ".join(r.value for r in ActorRole)
        raise ValueError(f"unknown actor role {value!r}; expected one of {names}") from None


class IllegalTransition(ValueError):
    """A transition the state machine refuses; ``allowed`` lists what *is* possible.

    ``allowed`` holds the targets the same actor may reach from ``current``;
    ``allowed_for_others`` says which roles could make the requested move, if any.
    """

    def __init__(
        self,
        current: OrderState,
        target: OrderState,
        allowed: Sequence[OrderState],
        actor_role: ActorRole | None = None,
    ) -> None:
        self.current = current
        self.target = target
        self.allowed = list(allowed)
        self.actor_role = actor_role
        self.allowed_for_others = sorted(TRANSITIONS.get((current, target), frozenset()))
        who = f" by {actor_role.value}" if actor_role is not None else ""
        listed = ", ".join(s.value for s in self.allowed) or "none"
        message = (
            f"cannot move order from {current.value} to {target.value}{who}; "
            f"allowed{who.replace(' by', ' for')}: {listed}"
        )
        if self.allowed_for_others:
            roles = ", ".join(r.value for r in self.allowed_for_others)
            message += f" ({target.value} may be set only by {roles})"
        super().__init__(message)


class NotYourMove(IllegalTransition):
    """The move exists from the current state but ``actor_role`` may not make it (403): the
    message names who may."""

    def __init__(
        self,
        current: OrderState,
        target: OrderState,
        allowed: Sequence[OrderState],
        actor_role: ActorRole,
        reason: str = "",
    ) -> None:
        super().__init__(current, target, allowed, actor_role)
        if reason:  # the actor's role is listed for the move, but not for this order
            self.allowed_for_others = [r for r in self.allowed_for_others if r is not actor_role]
            roles = ", ".join(r.value for r in self.allowed_for_others)
            listed = ", ".join(s.value for s in self.allowed) or "none"
            self.args = (
                f"cannot move order from {current.value} to {target.value} by "
                f"{actor_role.value}: {reason}; {target.value} may be set here only by {roles}; "
                f"allowed for {actor_role.value}: {listed}",
            )


def roles_for(current: OrderState | str, target: OrderState | str) -> frozenset[ActorRole]:
    """Roles that may move an order from ``current`` to ``target`` (empty if none)."""
    return TRANSITIONS.get(
        (parse_state(current, "current"), parse_state(target, "target")), frozenset()
    )


def allowed_targets(
    current: OrderState | str,
    actor_role: ActorRole | str | None = None,
    *,
    sole_provider: bool = True,
) -> list[OrderState]:
    """Targets reachable from ``current`` in one step (by ``actor_role``, or by anyone).

    ``sole_provider=False`` says a provider actor shares the order with other providers, so
    the :data:`SOLE_PROVIDER_MOVES` are not open to it."""
    src = parse_state(current, "current")
    role = parse_role(actor_role) if actor_role is not None else None
    targets = {
        dst
        for (s, dst), roles in TRANSITIONS.items()
        if s is src
        and (role is None or role in roles)
        and not (role is R.PROVIDER and not sole_provider and (s, dst) in SOLE_PROVIDER_MOVES)
    }
    return sorted(targets, key=_ORDER.index)


def transition(
    current: OrderState | str,
    target: OrderState | str,
    actor_role: ActorRole | str,
    *,
    sole_provider: bool = True,
) -> OrderState:
    """Return ``target`` if ``actor_role`` may move the order there, else raise.

    Raises :class:`IllegalTransition` (a ``ValueError``) whose message lists the targets the
    actor may choose from ``current``: :class:`NotYourMove` when the move exists but is not
    the actor's (also a provider's :data:`SOLE_PROVIDER_MOVES` with ``sole_provider=False``);
    ``ValueError`` for an unknown state or role.
    """
    src = parse_state(current, "current")
    dst = parse_state(target, "target")
    role = parse_role(actor_role)
    roles = TRANSITIONS.get((src, dst))
    allowed = allowed_targets(src, role, sole_provider=sole_provider)
    if roles is None:
        raise IllegalTransition(src, dst, allowed, role)
    if role not in roles:
        raise NotYourMove(src, dst, allowed, role)
    if role is R.PROVIDER and not sole_provider and (src, dst) in SOLE_PROVIDER_MOVES:
        raise NotYourMove(src, dst, allowed, role, SOLE_PROVIDER_MOVES[(src, dst)])
    return dst


def transition_table() -> list[dict[str, str | list[str]]]:
    """The table as plain rows ``{from, to, roles}`` (for API documentation and UIs)."""
    return [
        {"from": src.value, "to": dst.value, "roles": sorted(r.value for r in roles)}
        for (src, dst), roles in TRANSITIONS.items()
    ]


def check_aware(at: datetime, what: str) -> None:
    """``ValueError`` unless ``at`` is a timezone-aware datetime."""
    if not isinstance(at, datetime):
        raise ValueError(f"{what} must be a datetime, got {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {at.isoformat()}")


@dataclass(frozen=True, slots=True)
class Event:
    """One append-only entry of an order's audit trail.

    ``actor`` is the role that made the move; ``actor_ref`` optionally identifies who
    (e.g. ``"user:17"``); ``note`` is free text (reason for a cancellation, tracking number).
    """

    order_id: int | str
    from_state: OrderState
    to_state: OrderState
    actor: ActorRole
    at: datetime
    note: str = ""
    actor_ref: str | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "from_state", parse_state(self.from_state, "from"))
        object.__setattr__(self, "to_state", parse_state(self.to_state, "to"))
        object.__setattr__(self, "actor", parse_role(self.actor))
        check_aware(self.at, "event time")


def make_event(
    order_id: int | str,
    current: OrderState | str,
    target: OrderState | str,
    actor: ActorRole | str,
    at: datetime,
    note: str = "",
    actor_ref: str | None = None,
) -> Event:
    """Validate the transition and return the :class:`Event` recording it."""
    dst = transition(current, target, actor)
    return Event(
        order_id, parse_state(current, "current"), dst, parse_role(actor), at, note, actor_ref
    )


def replay(events: Iterable[Event], initial: OrderState | str = OrderState.DRAFT) -> OrderState:
    """Re-derive the current state from an order's event log, checking it is consistent.

    Each event must start where the previous one ended, be a legal transition for its actor,
    and not be earlier than the previous event; otherwise ``ValueError`` names the event.
    """
    state = parse_state(initial, "initial")
    last: datetime | None = None
    order_id: int | str | None = None
    for index, event in enumerate(events):
        if order_id is not None and event.order_id != order_id:
            raise ValueError(
                f"event #{index} belongs to order {event.order_id!r}, not {order_id!r}"
            )
        order_id = event.order_id
        if event.from_state is not state:
            raise ValueError(
                f"event #{index} starts at {event.from_state.value} but the order is {state.value}"
            )
        if last is not None and event.at < last:
            raise ValueError(
                f"event #{index} at {event.at.isoformat()} is earlier than the one before"
            )
        state = transition(state, event.to_state, event.actor)
        last = event.at
    return state
