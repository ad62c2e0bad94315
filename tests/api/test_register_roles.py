"""Registration: an organization chooses its market roles, never the platform's."""

from __future__ import annotations

from fastapi.testclient import TestClient


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
