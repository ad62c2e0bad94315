"""Registration: an organization chooses its market roles, never the platform's."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sharefab.services.errors import InvalidInput
from sharefab.services.orgs import register_organization
from sharefab.storage.models import Organization


def test_registering_as_the_platform_operator_is_refused_and_stores_nothing(
    client: TestClient,
) -> None:
    body = {
        "org_name": "Self-Appointed Operator Ltd",
        "roles": ["buyer", "operator"],
        "email": "boss@self-appointed.example.com",
        "password": "long-enough-password",
    }
    response = client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert any(e["field"] == "roles[1]" for e in problem["errors"]), problem
    token = client.post(
        "/api/v1/auth/token",
        data={"username": body["email"], "password": body["password"]},
    )
    assert token.status_code == 401

    body["roles"] = ["buyer"]
    assert client.post("/api/v1/auth/register", json=body).status_code == 201


def test_the_service_refuses_the_operator_role_for_every_caller(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        with pytest.raises(InvalidInput) as refused:
            register_organization(
                session,
                org_name="Back Door Operator Ltd",
                roles=["operator"],
                email="boss@back-door.example.com",
                password="long-enough-password",
            )
        assert [e.field for e in refused.value.errors] == ["roles[0]"]
        assert "granted by the platform" in refused.value.errors[0].message
        assert session.scalar(select(func.count()).select_from(Organization)) == 0
