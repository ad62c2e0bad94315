"""Credit scores computed from evidence stored on the platform (via :mod:`sharefab.domain.credit`).

Evidence per organization, derived from the marketplace tables (nothing is stored twice):

* **deliveries** (as a provider): every order it worked on that reached ``delivered``; on time
  when the first ``delivered`` event is no later than the order's promised date;
* **inspections** (as a provider): inspection records of its work orders (a record without a
  work order counts for every provider of the order);
* **commitments** (both roles): every closed order (``settled`` or ``cancelled``) it took part
  in; a cancellation made by a user of the organization itself is its own failure, by the
  platform operator half a failure, by the counterparty or the system no evidence;
* **ratings** (as a provider): the buyer's stars on orders it worked on;
* **payments** (as a buyer): every accepted order is paid into escrow at acceptance, which is
  on time by construction.

:func:`credit_scores` scores many organizations with a handful of queries and keeps the result
per process until the evidence changes (a cheap version query over the evidence tables), so
quoting can filter and rank thousands of providers without recomputing.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Collection, Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.domain.credit import (
    CancelledBy,
    CommitmentEvidence,
    CreditEvidence,
    CreditScore,
    DeliveryEvidence,
    InspectionEvidence,
    OrgRole,
    PaymentEvidence,
    RatingEvidence,
    cancelled_by_from_role,
    compute_credit,
)
from sharefab.services.errors import NotFound
from sharefab.storage.market_models import Inspection, Order, OrderEvent, Rating, WorkOrder
from sharefab.storage.models import Organization
from sharefab.storage.types import utc_now

_CHUNK = 900


def scoring_roles(roles: Iterable[str]) -> list[OrgRole]:
    """The credit roles of an organization's platform roles (buyer when it has neither)."""
    out = [OrgRole(r) for r in roles if r in ("provider", "buyer")]
    return out or [OrgRole.BUYER]


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _who(scored_as: OrgRole, org_id: int, actor_role: str, actor_org: int | None) -> CancelledBy:
    if actor_org is not None and actor_org == org_id and actor_role in ("buyer", "provider"):
        return CancelledBy.SELF
    if actor_role in ("buyer", "provider") and actor_org is not None:
        return CancelledBy.COUNTERPARTY
    return cancelled_by_from_role(scored_as, actor_role)


def gather_evidence(
    session: Session, org_ids: Collection[int] | None = None
) -> dict[int, dict[OrgRole, CreditEvidence]]:
    """Evidence per organization and role, for ``org_ids`` (``None``: every organization with
    any marketplace history). Organizations without history are absent."""
    wo_stmt = select(WorkOrder.id, WorkOrder.provider_org_id, WorkOrder.order_id)
    ord_stmt = select(
        Order.id, Order.buyer_org_id, Order.state, Order.promised_at, Order.created_at
    )
    wos: list[tuple[int, int, int]] = []
    buyer_orders: list[tuple[int, int, str, datetime, datetime]] = []
    if org_ids is None:
        wos = [tuple(r) for r in session.execute(wo_stmt)]  # type: ignore[misc]
        buyer_orders = [tuple(r) for r in session.execute(ord_stmt)]  # type: ignore[misc]
    else:
        for chunk in _chunks(sorted(set(org_ids))):
            wos += session.execute(wo_stmt.where(WorkOrder.provider_org_id.in_(chunk))).all()
            buyer_orders += session.execute(ord_stmt.where(Order.buyer_org_id.in_(chunk))).all()
    order_ids = sorted({o for _w, _p, o in wos} | {o[0] for o in buyer_orders})
    orders: dict[int, tuple[int, str, datetime, datetime]] = {}
    events: dict[int, list[tuple[str, str, int | None, datetime]]] = defaultdict(list)
    inspections: dict[int, list[tuple[int | None, bool, datetime]]] = defaultdict(list)
    ratings: dict[int, tuple[int, datetime]] = {}
    for chunk in _chunks(order_ids):
        for oid, buyer, state, promised, created in session.execute(
            ord_stmt.where(Order.id.in_(chunk))
        ):
            orders[oid] = (buyer, state, promised, created)
        for oid, to_state, role, actor_org, at in session.execute(
            select(
                OrderEvent.order_id,
                OrderEvent.to_state,
                OrderEvent.actor_role,
                OrderEvent.actor_org_id,
                OrderEvent.at,
            )
            .where(
                OrderEvent.order_id.in_(chunk),
                OrderEvent.to_state.in_(("delivered", "settled", "cancelled")),
            )
            .order_by(OrderEvent.id)
        ):
            events[oid].append((to_state, role, actor_org, at))
        for oid, wo_id, passed, at in session.execute(
            select(
                Inspection.order_id, Inspection.work_order_id, Inspection.passed, Inspection.at
            ).where(Inspection.order_id.in_(chunk))
        ):
            inspections[oid].append((wo_id, passed, at))
        for oid, stars, at in session.execute(
            select(Rating.order_id, Rating.stars, Rating.at).where(Rating.order_id.in_(chunk))
        ):
            ratings[oid] = (stars, at)

    def commitment(oid: int, role: OrgRole, org: int) -> CommitmentEvidence | None:
        for to_state, actor_role, actor_org, at in events[oid]:
            if to_state == "cancelled":
                return CommitmentEvidence(at, _who(role, org, actor_role, actor_org))
            if to_state == "settled":
                return CommitmentEvidence(at)
        return None

    wanted = None if org_ids is None else set(org_ids)
    out: dict[int, dict[OrgRole, CreditEvidence]] = {}
    provider_orders: dict[int, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    for wo_id, provider, oid in wos:
        if wanted is None or provider in wanted:
            provider_orders[provider][oid].add(wo_id)
    for provider, by_order in provider_orders.items():
        deliveries, insp, commits, stars = [], [], [], []
        for oid, own_wos in by_order.items():
            _buyer, _state, promised, _created = orders[oid]
            delivered = next((at for s, _r, _o, at in events[oid] if s == "delivered"), None)
            if delivered is not None:
                deliveries.append(DeliveryEvidence(delivered, delivered <= promised))
            insp += [
                InspectionEvidence(at, passed)
                for wo_id, passed, at in inspections[oid]
                if wo_id is None or wo_id in own_wos
            ]
            if (c := commitment(oid, OrgRole.PROVIDER, provider)) is not None:
                commits.append(c)
            if oid in ratings:
                stars.append(RatingEvidence(ratings[oid][1], ratings[oid][0]))
        out.setdefault(provider, {})[OrgRole.PROVIDER] = CreditEvidence(
            deliveries, insp, commits, stars
        )
    by_buyer: dict[int, list[int]] = defaultdict(list)
    for oid, (buyer, _s, _p, _c) in orders.items():
        if wanted is None or buyer in wanted:
            by_buyer[buyer].append(oid)
    for buyer, oids in by_buyer.items():
        commits = [c for oid in oids if (c := commitment(oid, OrgRole.BUYER, buyer)) is not None]
        payments = [PaymentEvidence(orders[oid][3], True) for oid in oids]
        out.setdefault(buyer, {})[OrgRole.BUYER] = CreditEvidence(
            commitments=commits, payments=payments
        )
    return out


def _merge(by_role: dict[OrgRole, CreditEvidence]) -> CreditEvidence:
    p = by_role.get(OrgRole.PROVIDER, CreditEvidence())
    b = by_role.get(OrgRole.BUYER, CreditEvidence())
    return CreditEvidence(
        deliveries=p.deliveries,
        inspections=p.inspections,
        commitments=[*p.commitments, *b.commitments],
        ratings=p.ratings,
        payments=b.payments,
    )


def org_credit(session: Session, org_id: int, as_of: datetime | None = None) -> CreditScore:
    """The explained credit score of organization ``org_id`` (404 if it does not exist)."""
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound("organization", org_id)
    evidence = gather_evidence(session, [org_id]).get(org_id, {})
    return compute_credit(_merge(evidence), scoring_roles(org.roles), as_of or utc_now())


def evidence_version(session: Session) -> tuple[int, int, int]:
    """Changes whenever credit evidence may have changed (events, inspections, ratings)."""
    row = session.execute(_EVIDENCE_VERSION).one()
    return int(row[0]), int(row[1]), int(row[2])


#: The three columns of :func:`evidence_version` (quoting reads them with its own versions).
EVIDENCE_VERSION_COLUMNS = (
    select(func.coalesce(func.max(OrderEvent.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(Inspection.id), 0)).scalar_subquery(),
    select(func.coalesce(func.max(Rating.id), 0)).scalar_subquery(),
)
#: Built once: SQLAlchemy then reuses its cache key and compiled form.
_EVIDENCE_VERSION = select(*EVIDENCE_VERSION_COLUMNS)


class _ScoreCache:
    """Scores of organizations with history, per database, until the evidence changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[tuple[int, int, int], datetime, dict[int, int]]] = {}

    def clear(self) -> None:
        """Forget every cached score."""
        with self._lock:
            self._entries.clear()

    def scores(
        self, session: Session, version: tuple[int, int, int] | None = None
    ) -> dict[int, int]:
        key = str(session.get_bind().engine.url)
        version = version or evidence_version(session)
        now = utc_now()
        with self._lock:
            entry = self._entries.get(key)
            # Time decay moves scores slowly: recompute at least hourly.
            if entry and entry[0] == version and (now - entry[1]).total_seconds() < 3600:
                return entry[2]
        evidence = gather_evidence(session)
        roles = (
            dict(
                session.execute(
                    select(Organization.id, Organization.roles).where(
                        Organization.id.in_(list(evidence))
                    )
                ).all()
            )
            if evidence
            else {}
        )
        scores = {
            org: compute_credit(_merge(ev), scoring_roles(roles.get(org, [])), now).score
            for org, ev in evidence.items()
        }
        with self._lock:
            self._entries[key] = (version, now, scores)
        return scores


_CACHE = _ScoreCache()


def clear_cache() -> None:
    """Forget cached scores (tests reusing a database URL; bulk imports)."""
    _CACHE.clear()


@lru_cache(maxsize=64)
def _prior(roles: frozenset[str]) -> int:
    return compute_credit(CreditEvidence(), scoring_roles(roles), utc_now()).score


def prior_score(roles: Iterable[str]) -> int:
    """The score of an organization with these roles and no evidence yet."""
    return _prior(frozenset(roles))


def credit_scores(
    session: Session,
    orgs: dict[int, Iterable[str]],
    version: tuple[int, int, int] | None = None,
) -> dict[int, int]:
    """Scores 0-1000 of the organizations ``{org_id: roles}`` (prior for those without history).
    ``version`` is :func:`evidence_version` if the caller read it already."""
    known = _CACHE.scores(session, version)
    priors: dict[Any, int] = {}
    out = {}
    for org, roles in orgs.items():
        score = known.get(org)
        if score is None:
            score = priors.get(roles)
            if score is None:
                score = priors[roles] = prior_score(roles)
        out[org] = score
    return out
