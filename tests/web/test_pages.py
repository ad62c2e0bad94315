"""The pages as a signed-in user and as a visitor sees them."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi.testclient import TestClient

from sharefab.domain.taxonomy import load_taxonomy
from sharefab.web.auth import COOKIE_NAME

if TYPE_CHECKING:
    from tests.web.conftest import SignIn, WebWorld


def test_private_pages_redirect_to_sign_in(client: TestClient, world: WebWorld) -> None:
    for path in ("/catalogue?capability=separating", f"/resources/{world.public_id}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")


def test_sign_in_sets_http_only_cookie_and_sign_out_clears_it(
    client: TestClient, world: WebWorld
) -> None:
    response = client.post(
        "/signin",
        data={"email": world.buyer_email, "password": world.password, "next": "/clusters"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/clusters"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    page = client.get("/catalogue")
    assert page.status_code == 200
    assert world.buyer_email in page.text and "Beta Buyer" in page.text
    out = client.post("/signout", follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/catalogue", follow_redirects=False).status_code == 303


def test_wrong_password_shows_the_form_again_with_an_error(
    client: TestClient, world: WebWorld
) -> None:
    response = client.post(
        "/signin",
        data={"email": world.buyer_email, "password": "wrong password"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert "incorrect e-mail or password" in response.text
    assert COOKIE_NAME not in response.headers.get("set-cookie", "")


def test_sign_in_never_redirects_off_site(client: TestClient, world: WebWorld) -> None:
    response = client.post(
        "/signin",
        data={"email": world.buyer_email, "password": world.password, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/catalogue"


def _result_names(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<a href="/resources/\d+">([^<]+)</a>', body)


def test_catalogue_finds_a_resource_by_parent_capability(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.buyer_email)
    page = client.get("/catalogue", params={"capability": "separating.machining"})
    assert page.status_code == 200
    assert _result_names(page.text) == ["Alpha DMU 50 five-axis"]  # not the private lathe
    none = client.get("/catalogue", params={"capability": "joining.welding"})
    assert _result_names(none.text) == []


def test_catalogue_finds_a_resource_by_chinese_name(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.buyer_email)
    name_zh = load_taxonomy().get("separating.machining.milling").name_zh
    page = client.get("/catalogue?capability=" + quote(name_zh))
    assert page.status_code == 200
    assert _result_names(page.text) == ["Alpha DMU 50 five-axis"]
    assert name_zh in page.text


def test_catalogue_filters_by_material_cluster_and_dates(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.buyer_email)
    day = world.window_start.date()
    base = {"capability": "separating.machining", "cluster": str(world.cluster_id)}
    hit = client.get("/catalogue", params={**base, "material": "steel"})
    assert _result_names(hit.text) == ["Alpha DMU 50 five-axis"]
    assert " km</td>" in hit.text
    miss = client.get("/catalogue", params={**base, "material": "titanium"})
    assert _result_names(miss.text) == []
    window_day = {"available_from": day.isoformat(), "available_to": day.isoformat()}
    assert _result_names(client.get("/catalogue", params={**base, **window_day}).text)
    far = day.replace(year=day.year + 1).isoformat()
    later = {"available_from": far, "available_to": far}
    assert _result_names(client.get("/catalogue", params={**base, **later}).text) == []


def test_catalogue_explains_bad_input(client: TestClient, world: WebWorld, sign_in: SignIn) -> None:
    sign_in(client, world.buyer_email)
    page = client.get(
        "/catalogue",
        params={"capability": "no-such-process-xyz", "available_from": "tomorrow"},
    )
    assert page.status_code == 200
    assert "nothing in the taxonomy matches" in page.text
    assert "available_from" in page.text and "is not a date" in page.text


def test_resource_page_shows_windows_and_hides_bookings_from_others(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.buyer_email)
    page = client.get(f"/resources/{world.public_id}")
    assert page.status_code == 200
    assert "Alpha DMU 50 five-axis" in page.text
    assert page.text.count('class="tl-bar window"') >= 3
    assert "3 windows, 36.0 idle hours published" in page.text
    assert "ORD-TEST-1" not in page.text and 'class="tl-bar booked"' not in page.text
    assert "1 Test Road" not in page.text


def test_owner_sees_bookings_and_private_details(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.provider_email)
    page = client.get(f"/resources/{world.public_id}")
    assert "ORD-TEST-1" in page.text and 'class="tl-bar booked"' in page.text
    assert "1 Test Road" in page.text
    private = client.get(f"/resources/{world.private_id}")
    assert private.status_code == 200 and "Alpha secret lathe" in private.text


def test_another_tenants_private_resource_is_a_404_page(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    sign_in(client, world.buyer_email)
    page = client.get(f"/resources/{world.private_id}")
    assert page.status_code == 404
    assert "Not found" in page.text and "Alpha secret lathe" not in page.text
    assert client.get("/resources/999999").status_code == 404


def test_cluster_page_carries_the_chart_data(client: TestClient, world: WebWorld) -> None:
    listing = client.get("/clusters")
    assert listing.status_code == 200 and "Suzhou Test Park" in listing.text
    page = client.get(f"/clusters/{world.cluster_id}")
    assert page.status_code == 200
    data = re.search(
        r'<script type="application/json" id="chart-data">(.*?)</script>', page.text, re.S
    )
    assert data is not None
    charts = json.loads(data.group(1))
    bars = charts["chart-capabilities"]["data"][0]
    assert bars["customdata"] == ["separating.machining.milling.5axis"]  # public only
    assert bars["x"] == [1]
    idle = charts["chart-idle"]["data"][0]
    assert len(idle["x"]) == 14 and abs(sum(idle["y"]) - 36.0) < 0.2
    assert '<script src="/vendor/plotly.min.js">' in page.text
    assert client.get(f"/clusters/{world.cluster_id + 1000}").status_code == 404


def test_plotly_and_stylesheet_are_served_locally(client: TestClient) -> None:
    js = client.get("/vendor/plotly.min.js")
    assert js.status_code == 200 and "plotly" in js.text[:2000].lower()
    css = client.get("/static/sharefab.css")
    assert css.status_code == 200 and ".timeline" in css.text


def test_browser_errors_are_pages_and_api_errors_stay_problem_json(
    client: TestClient, world: WebWorld, sign_in: SignIn
) -> None:
    html = {"accept": "text/html"}
    missing = client.get("/no-such-page", headers=html)
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    sign_in(client, world.buyer_email)
    bad_id = client.get("/resources/not-a-number", headers=html)
    assert bad_id.status_code == 404 and "Not found" in bad_id.text
    bad_page = client.get("/catalogue?page=x", headers=html)
    assert bad_page.status_code == 400 and "(page)" in bad_page.text
    api = client.get("/api/v1/no-such-route", headers=html)
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/problem+json")
