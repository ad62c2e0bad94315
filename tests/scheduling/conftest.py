"""Fixtures for the scheduling tests: the canonical instances of ``sched_instances``."""

from __future__ import annotations

import pytest
from sched_instances import (
    ALL_INSTANCES,
    Instance,
    make_calendar,
    make_lots,
    make_oven,
    make_tiny_fjsp,
    make_transport,
)


@pytest.fixture
def tiny_fjsp() -> Instance:
    return make_tiny_fjsp()


@pytest.fixture
def calendar_instance() -> Instance:
    return make_calendar()


@pytest.fixture
def transport_instance() -> Instance:
    return make_transport()


@pytest.fixture
def lot_instance() -> Instance:
    return make_lots()


@pytest.fixture
def oven_instance() -> Instance:
    return make_oven()


@pytest.fixture(params=sorted(ALL_INSTANCES))
def any_instance(request: pytest.FixtureRequest) -> Instance:
    """Each canonical instance in turn."""
    return ALL_INSTANCES[request.param]()
