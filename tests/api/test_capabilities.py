"""The process taxonomy over HTTP (no sign-in needed, no database writes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import assert_problem
from fastapi.testclient import TestClient

from sharefab.api.app import create_app
from sharefab.config import Settings

API = "/api/v1"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """These routes never touch the database: one app, no schema needed."""
    path: Path = tmp_path_factory.mktemp("taxonomy") / "unused.db"
    with TestClient(create_app(Settings(env="test", database_url=f"sqlite:///{path}"))) as c:
        yield c


def test_search_by_english_and_chinese_name(client: TestClient) -> None:
    english = client.get(f"{API}/capabilities", params={"q": "milling"}).json()
    chinese = client.get(f"{API}/capabilities", params={"q": "铣"}).json()
    assert english["data"][0]["code"] == "separating.machining.milling"
    assert chinese["data"][0]["code"] == "separating.machining.milling"
    assert "separating.machining.milling.5axis" in {n["code"] for n in chinese["data"]}
    assert english["version"]


def test_listing_pages_through_the_whole_taxonomy(client: TestClient) -> None:
    first = client.get(f"{API}/capabilities", params={"limit": 50}).json()
    assert first["count"] >= 80 and len(first["data"]) == 50
    rest = client.get(f"{API}/capabilities", params={"limit": 500, "offset": 50}).json()
    codes = [n["code"] for n in first["data"] + rest["data"]]
    assert len(codes) == len(set(codes)) == first["count"]


def test_one_node_with_children_and_attributes(client: TestClient) -> None:
    node = client.get(f"{API}/capabilities/separating.machining.milling").json()
    assert node["parent"] == "separating.machining"
    assert "separating.machining.milling.5axis" in node["children"]
    assert node["name_zh"]
    envelope = node["attributes"]["envelope_mm"]
    assert envelope["unit"] == "mm" and envelope["type"] == "vector3"


def test_unknown_code_is_404_with_suggestions(client: TestClient) -> None:
    response = client.get(f"{API}/capabilities/separating.machining.miling")
    body = assert_problem(response, 404, "code")
    assert "separating.machining.milling" in body["detail"]
