"""Order state machine: who may move an order where, and the append-only event log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sharefab.domain.orders import (
    CANCELLABLE_STATES,
    TERMINAL_STATES,
    ActorRole,
    Event,
    IllegalTransition,
    OrderState,
    allowed_targets,
    make_event,
    replay,
    roles_for,
    transition,
    transition_table,
)

S = OrderState
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)

HAPPY_PATH = [
    (S.QUOTED, "system"),
    (S.ACCEPTED, "buyer"),
    (S.SCHEDULED, "system"),
    (S.IN_PRODUCTION, "provider"),
    (S.INSPECTED, "provider"),
    (S.SHIPPED, "provider"),
    (S.DELIVERED, "buyer"),
    (S.SETTLED, "system"),
]


def test_happy_path_is_allowed_and_replays_to_settled() -> None:
    state = S.DRAFT
    events = []
    for i, (target, role) in enumerate(HAPPY_PATH):
        events.append(make_event(7, state, target, role, T0 + timedelta(hours=i)))
        state = transition(state, target, role)
    assert state is S.SETTLED
    assert replay(events) is S.SETTLED
    assert [e.to_state for e in events] == [t for t, _ in HAPPY_PATH]


def test_buyer_may_cancel_before_production_but_not_after() -> None:
    for state in (S.DRAFT, S.QUOTED, S.ACCEPTED, S.SCHEDULED):
        assert transition(state, S.CANCELLED, ActorRole.BUYER) is S.CANCELLED
    with pytest.raises(IllegalTransition) as err:
        transition(S.IN_PRODUCTION, S.CANCELLED, "buyer")
    assert err.value.allowed == []
    assert err.value.allowed_for_others == [ActorRole.OPERATOR]
    assert "may be set only by operator" in str(err.value)


def test_operator_may_cancel_during_production_but_nobody_after_shipping() -> None:
    assert transition(S.IN_PRODUCTION, S.CANCELLED, "operator") is S.CANCELLED
    assert transition(S.INSPECTED, S.CANCELLED, "operator") is S.CANCELLED
    for state in (S.SHIPPED, S.DELIVERED, S.SETTLED):
        assert S.CANCELLED not in allowed_targets(state)
        for role in ActorRole:
            with pytest.raises(IllegalTransition):
                transition(state, S.CANCELLED, role)


def test_illegal_transition_message_lists_the_allowed_targets() -> None:
    with pytest.raises(IllegalTransition) as err:
        transition(S.SHIPPED, S.SETTLED, "operator")
    assert err.value.current is S.SHIPPED and err.value.target is S.SETTLED
    assert err.value.allowed == [S.DELIVERED, S.DISPUTED]
    assert "allowed for operator: delivered, disputed" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_provider_cannot_confirm_its_own_delivery_or_accept_for_the_buyer() -> None:
    with pytest.raises(IllegalTransition, match="may be set only by buyer, operator, system"):
        transition(S.SHIPPED, S.DELIVERED, "provider")
    with pytest.raises(IllegalTransition):
        transition(S.QUOTED, S.ACCEPTED, "provider")


def test_disputes_open_after_shipping_and_only_the_operator_resolves_with_money() -> None:
    assert transition(S.SHIPPED, S.DISPUTED, "buyer") is S.DISPUTED
    assert transition(S.DELIVERED, S.DISPUTED, "buyer") is S.DISPUTED
    with pytest.raises(IllegalTransition):
        transition(S.IN_PRODUCTION, S.DISPUTED, "buyer")
    assert allowed_targets(S.DISPUTED, "operator") == [S.DELIVERED, S.SETTLED, S.CANCELLED]
    assert allowed_targets(S.DISPUTED, "buyer") == [S.DELIVERED]  # withdraw the dispute
    assert allowed_targets(S.DISPUTED, "provider") == []


def test_failed_inspection_can_send_the_order_back_to_production() -> None:
    assert transition(S.INSPECTED, S.IN_PRODUCTION, "provider") is S.IN_PRODUCTION


def test_terminal_states_have_no_way_out() -> None:
    assert {S.SETTLED, S.CANCELLED} == TERMINAL_STATES
    for state in TERMINAL_STATES:
        assert allowed_targets(state) == []
    assert S.SHIPPED not in CANCELLABLE_STATES


def test_every_state_except_terminal_ones_has_a_successor_and_table_is_exported() -> None:
    for state in OrderState:
        if state not in TERMINAL_STATES:
            assert allowed_targets(state), state
    rows = transition_table()
    assert {"from": "quoted", "to": "accepted", "roles": ["buyer"]} in rows
    assert roles_for("delivered", "settled") == {ActorRole.SYSTEM, ActorRole.OPERATOR}


def test_unknown_names_are_clear_value_errors() -> None:
    with pytest.raises(ValueError, match="unknown current order state 'shipping'"):
        transition("shipping", "delivered", "buyer")
    with pytest.raises(ValueError, match="unknown actor role 'admin'"):
        transition("shipped", "delivered", "admin")


def test_events_need_aware_times_and_replay_catches_gaps() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Event(1, S.DRAFT, S.QUOTED, ActorRole.SYSTEM, datetime(2026, 1, 1))
    e1 = make_event(1, S.DRAFT, S.QUOTED, "system", T0)
    e3 = make_event(1, S.ACCEPTED, S.SCHEDULED, "system", T0 + timedelta(hours=2))
    with pytest.raises(ValueError, match="starts at accepted but the order is quoted"):
        replay([e1, e3])
    e2_early = make_event(1, S.QUOTED, S.ACCEPTED, "buyer", T0 - timedelta(hours=1))
    with pytest.raises(ValueError, match="earlier"):
        replay([e1, e2_early])
    other = make_event(2, S.QUOTED, S.ACCEPTED, "buyer", T0 + timedelta(hours=1))
    with pytest.raises(ValueError, match="belongs to order 2"):
        replay([e1, other])


def test_a_forged_event_with_a_wrong_actor_does_not_replay() -> None:
    forged = Event(1, S.DRAFT, S.QUOTED, ActorRole.PROVIDER, T0)
    with pytest.raises(IllegalTransition):
        replay([forged])
