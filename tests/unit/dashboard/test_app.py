"""The dashboard over HTTP, in process (``create_app`` with a real SQLite store): who may read
it, what every answer carries, what a bad request or an unreadable store shows, and that a
fragment is the region a reload would show."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from alpaca_integration.cache import InMemoryCache
from alpaca_integration.dashboard import create_app
from alpaca_integration.dashboard.security import COOKIE_NAME, TokenGuard, safe_next
from alpaca_integration.storage import Store
from support.storage_builders import at, make_order, make_position, make_snapshot

ACCOUNT = "default"
TOKEN = "unit-test-token-0123456789abcdef"


async def _filled(store: Store) -> None:
    orders = [
        make_order(id=f"o-{n}", client_order_id=f"ai-{n}", created_at=at(n)) for n in range(60)
    ]
    await store.apply(ACCOUNT, orders=orders, snapshot=make_snapshot(), positions=[make_position()])


async def test_without_a_token_only_local_requests_are_answered(
    sqlite_store: Store, http: Any
) -> None:
    """No token: a loopback client addressing a loopback host reads; another client, or a
    foreign Host header (DNS rebinding), gets 403."""
    app = create_app(sqlite_store, InMemoryCache(), None)
    assert (await http(app).get("/")).status_code == 200
    assert (await http(app, host="localhost:8766").get("/orders")).status_code == 200
    assert (await http(app, client="192.168.1.20").get("/")).status_code == 403
    assert (await http(app, host="attacker.example:8766").get("/")).status_code == 403
    assert (await http(app, host="attacker.example").get("/events")).status_code == 403


async def test_with_a_token_every_request_needs_it(sqlite_store: Store, http: Any) -> None:
    """Token set: no credentials or a wrong bearer is 401 (the login form for a page); the right
    bearer reads, from any address."""
    app = create_app(sqlite_store, InMemoryCache(), None, token=TOKEN)
    client = http(app, client="10.0.0.7", host="dashboard.lan:8766")
    page = await client.get("/orders", headers={"accept": "text/html"})
    assert page.status_code == 401
    assert 'name="token"' in page.text
    assert (await client.get("/fragment/orders")).status_code == 401
    assert (await client.get("/events")).status_code == 401
    wrong = await client.get("/", headers={"authorization": "Bearer wrong-token-0123456789"})
    assert wrong.status_code == 401
    right = await client.get("/", headers={"authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 200


async def test_the_login_form_sets_a_session_cookie_that_is_not_the_token(
    sqlite_store: Store, http: Any
) -> None:
    """A wrong token is refused with 401; the right one redirects to the page asked for with an
    HttpOnly, SameSite=Strict cookie (an HMAC, not the token), which then reads the pages;
    logging out ends it."""
    app = create_app(sqlite_store, InMemoryCache(), None, token=TOKEN)
    client = http(app, client="10.0.0.7", host="dashboard.lan:8766")
    form = {"content-type": "application/x-www-form-urlencoded"}
    refused = await client.post("/login", content="token=nope&next=/fills", headers=form)
    assert refused.status_code == 401
    accepted = await client.post("/login", content=f"token={TOKEN}&next=/fills", headers=form)
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/fills"
    cookie = accepted.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert TOKEN not in cookie
    assert (await client.get("/fills")).status_code == 200
    await client.post("/logout")
    assert client.cookies.get(COOKIE_NAME) is None
    assert (await client.get("/fills")).status_code == 401


def test_the_login_form_never_redirects_off_the_dashboard() -> None:
    """``next`` may only be a path of this server (no //host, no scheme, no backslash)."""
    assert safe_next("/orders?status=open") == "/orders?status=open"
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "", None):
        assert safe_next(target) == "/"


def test_a_short_token_is_refused() -> None:
    """A token shorter than 16 characters cannot protect a dashboard on a network."""
    with pytest.raises(ValueError, match="at least 16"):
        TokenGuard("short")


async def test_every_answer_carries_the_security_headers(sqlite_store: Store, http: Any) -> None:
    """Pages, fragments, assets and error pages all forbid framing, sniffing and foreign
    scripts; data is never cached."""
    client = http(create_app(sqlite_store, InMemoryCache(), None))
    for path in ("/", "/fragment/orders", "/static/dashboard.js", "/no-such-page"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/")).headers["cache-control"] == "no-store"


async def test_plotly_is_served_from_the_installed_package(sqlite_store: Store, http: Any) -> None:
    """The chart library comes from this server (the plotly package's file), cacheable."""
    from importlib import resources

    response = await http(create_app(sqlite_store, InMemoryCache(), None)).get(
        "/static/plotly.min.js"
    )
    shipped = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
    assert response.status_code == 200
    assert response.content == shipped
    assert "immutable" in response.headers["cache-control"]


async def test_a_fragment_is_the_region_a_reload_shows(sqlite_store: Store, http: Any) -> None:
    """The orders fragment with a page's query shows the same orders, in the same order, as the
    page itself."""
    await _filled(sqlite_store)
    client = http(create_app(sqlite_store, InMemoryCache(), None))
    page = await client.get("/orders")
    older = re.search(r'href="/orders\?(before=[^"]+)"', page.text)
    assert older is not None
    query = older.group(1).replace("&amp;", "&")
    second_page = await client.get(f"/orders?{query}")
    fragment = await client.get(f"/fragment/orders?{query}")

    def ids(html: str) -> list[str]:
        return re.findall(r'data-order-id="([^"]+)"', html)

    assert ids(fragment.text) == ids(second_page.text)
    assert ids(second_page.text) == [f"o-{n}" for n in range(9, -1, -1)]
    assert ids(page.text) == [f"o-{n}" for n in range(59, 9, -1)]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/orders?before=not-a-cursor", 400),
        ("/orders?status=teleported", 400),
        ("/orders?from=yesterday", 400),
        ("/fills?side=sideways", 400),
        ("/?account=nobody", 404),
        ("/fragment/no-such-region", 404),
    ],
)
async def test_a_bad_request_gets_an_error_page(
    sqlite_store: Store, http: Any, path: str, status: int
) -> None:
    """Damaged links, unknown filter values and unknown accounts answer an error page, not a
    failure."""
    response = await http(create_app(sqlite_store, InMemoryCache(), None)).get(path)
    assert response.status_code == status
    assert "<h1>" in response.text


async def test_an_unreadable_store_answers_503_without_naming_the_database(
    tmp_path: Path, http: Any
) -> None:
    """When the store cannot be read, the page says so with 503 and shows neither the
    database's location nor the database's own error text."""
    path = tmp_path / "secret-location.db"
    store = await Store.open(f"sqlite:///{path}")
    app = create_app(store, InMemoryCache(), None)
    try:
        await _filled(store)
        with sqlite3.connect(path) as connection:
            connection.execute("DROP TABLE orders")
        response = await http(app).get("/orders")
    finally:
        await app.state.dashboard.aclose()
        await store.aclose()
    assert response.status_code == 503
    assert "secret-location" not in response.text
    assert "no such table" not in response.text
    assert str(tmp_path) not in response.text
