"""Who may read the dashboard, and the headers every answer carries.

* **No token** (the default, for a dashboard bound to 127.0.0.1): only loopback clients asking
  for a loopback host name are answered; anything else gets 403. The host check stops a web page
  elsewhere from reading the dashboard through DNS rebinding.
* **A token** (``ALPACA_DASHBOARD_TOKEN``; required to bind any other address): every request
  needs it, as ``Authorization: Bearer <token>`` or as the session cookie the login form sets.
  Both are compared with ``hmac.compare_digest``. The cookie holds an HMAC of the token, never
  the token itself; it is HttpOnly and SameSite=Strict. A page request without them gets 401
  with the login form; any other request a plain 401.

Every answer carries a strict Content-Security-Policy (scripts only from this server), no
framing, no sniffing, no referrer, and ``Cache-Control: no-store`` for data.

Imports nothing from the package.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

__all__ = [
    "COOKIE_NAME",
    "LOOPBACK_NAMES",
    "MIN_TOKEN_LENGTH",
    "SECURITY_HEADERS",
    "TokenGuard",
    "denied",
    "is_local_host",
    "login_token",
    "safe_next",
    "with_headers",
]

COOKIE_NAME = "alpaca_dashboard"
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; font-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
_PUBLIC_PATHS = ("/login", "/static/")


def is_local_host(host: str) -> bool:
    """True for names and addresses that only this machine can reach (``127.0.0.1``,
    ``localhost``, ``::1``); ``0.0.0.0``, ``::`` and every other address are not local."""
    name = host.strip().lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name of a Host header without its port (``[::1]:8766`` -> ``::1``)."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")] if "]" in host_header else host_header
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def safe_next(target: str | None) -> str:
    """Where the login form may send the browser back to: a path on this server only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class TokenGuard:
    """Checks a request's right to read (see the module docstring)."""

    def __init__(self, token: str | None) -> None:
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the dashboard token must be at least {MIN_TOKEN_LENGTH} characters long"
            )
        self._token = token.encode() if token is not None else None
        self._session = (
            hmac.new(self._token, b"alpaca-dashboard-session", hashlib.sha256).hexdigest()
            if self._token is not None
            else None
        )

    @property
    def required(self) -> bool:
        return self._token is not None

    def token_matches(self, presented: str) -> bool:
        if self._token is None:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    @property
    def session_value(self) -> str:
        """The login cookie's value (an HMAC of the token)."""
        if self._session is None:
            raise RuntimeError("no token: there is no session to open")
        return self._session

    def allows(self, request: Request) -> bool:
        if self._token is None or self._session is None:
            client = request.client.host if request.client is not None else ""
            host = _host_name(request.headers.get("host", ""))
            return is_local_host(client) and is_local_host(host)
        authorization = request.headers.get("authorization", "")
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(presented.strip()):
            return True
        cookie = request.cookies.get(COOKIE_NAME, "")
        return hmac.compare_digest(cookie.encode(), self._session.encode())

    @staticmethod
    def is_public(path: str) -> bool:
        return any(path == p or (p.endswith("/") and path.startswith(p)) for p in _PUBLIC_PATHS)


async def login_token(request: Request) -> tuple[str, str]:
    """The token and the ``next`` path a login form posted (a small urlencoded body)."""
    body = await request.body()
    fields = parse_qs(body[:4096].decode("utf-8", "replace"), max_num_fields=4)
    return fields.get("token", [""])[0], safe_next(fields.get("next", ["/"])[0])


def with_headers(response: Response, *, cache: bool = False) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not cache:
        response.headers.setdefault("cache-control", "no-store")
    return response


def denied(request: Request, guard: TokenGuard) -> Response:
    """401 (a token is required) or 403 (only local requests are answered)."""
    if guard.required:
        return PlainTextResponse(
            "401 unauthorized: this dashboard needs its token (Authorization: Bearer, or log in "
            "at /login)",
            status_code=401,
            headers={"www-authenticate": 'Bearer realm="alpaca-dashboard"'},
        )
    return PlainTextResponse(
        "403 forbidden: this dashboard answers requests from this machine only; serve it with "
        "ALPACA_DASHBOARD_TOKEN set to open it to others",
        status_code=403,
    )
