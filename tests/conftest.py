"""Shared fixtures. Service-backed tests skip when a service is missing, except under
``SHAREFAB_REQUIRE_SERVICES=1`` (CI), where they fail instead."""

from __future__ import annotations

import os
import socket

import pytest

REQUIRE_SERVICES = os.environ.get("SHAREFAB_REQUIRE_SERVICES", "") not in ("", "0", "false")
POSTGRES_URL = os.environ.get(
    "SHAREFAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MQTT_HOST = os.environ.get("SHAREFAB_TEST_MQTT_HOST", "127.0.0.1")
MQTT_PORT = int(os.environ.get("SHAREFAB_TEST_MQTT_PORT", "1883"))


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def service_missing(what: str) -> None:
    """Skip the calling test, or fail it when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required (SHAREFAB_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{what} not reachable")


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of a reachable PostgreSQL database for tests."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # any connection failure means "not reachable"
        service_missing(f"PostgreSQL at {POSTGRES_URL} ({exc.__class__.__name__})")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def mqtt_broker() -> tuple[str, int]:
    """(host, port) of a reachable MQTT broker."""
    if not _port_open(MQTT_HOST, MQTT_PORT):
        service_missing(f"MQTT broker at {MQTT_HOST}:{MQTT_PORT}")
    return MQTT_HOST, MQTT_PORT
