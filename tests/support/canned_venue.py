"""A venue of canned answers on a real local socket, for commands whose endpoints the simulator
does not serve yet: each (method, path) answers a fixed status and JSON body, and every request
is recorded (method, path, query, body)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

__all__ = ["CannedVenue", "Seen", "canned_venue", "serving"]


@dataclass(frozen=True)
class Seen:
    """One request the venue received."""

    method: str
    path: str
    query: dict[str, str]
    body: Any


@dataclass
class CannedVenue:
    """Answers by (method, raw path); anything else is a 404 in Alpaca's error shape."""

    base_url: str = ""
    answers: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def answer(self, method: str, path: str, status: int, body: Any = None) -> None:
        self.answers[(method, path)] = (status, body)

    def requests(self, method: str) -> list[Seen]:
        return [request for request in self.seen if request.method == method]


def _handler(venue: CannedVenue) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _respond(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            venue.seen.append(
                Seen(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    json.loads(raw) if raw else None,
                )
            )
            status, body = venue.answers.get(
                (self.command, parts.path), (404, {"code": 40410000, "message": "not found"})
            )
            content = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PATCH = do_DELETE = _respond

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def canned_venue() -> Iterator[CannedVenue]:
    """A ``CannedVenue`` serving on 127.0.0.1 (a free port) until the block ends."""
    venue = CannedVenue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(venue))
    venue.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield venue


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    """Serve ``server`` from a background thread until the block ends, then close it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
