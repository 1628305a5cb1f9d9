"""Resources a test left open, found where they were left (not in a later test's setup), and for
a socket, the code that opened it.

A socket, transport or file that is never closed warns (``ResourceWarning``) only when it is
collected. Held in a reference cycle (a transport and its protocol, a client and its pool), that
happens at the next full garbage collection, in whatever test runs then; under the suite's
``filterwarnings = error`` that later test fails for nothing it did (issue 11 item 21: a socket
leaked earlier failed ``test_sim_stream``'s first setup). ``leaked_resources`` collects right
away and returns what was left open, so the check fails the test that leaked it.

The warning names the socket (its fd and addresses), not who opened it, and by then the test
that did is over. ``track_sockets`` (installed for the whole test session by ``conftest.py``)
remembers, for every socket still open, the frames of the project's code that opened it, so the
report says where the leak comes from. It also numbers the sockets opened, so the check runs after
any test that leaves one of its sockets unclosed at its teardown, in every directory, not only
where sockets are expected (a test whose sockets were all closed costs no collection).
"""

from __future__ import annotations

import gc
import socket
import sys
import threading
import warnings
from typing import Any

__all__ = ["leaked_resources", "sockets_opened", "still_open_since", "track_sockets"]

# id(socket) -> (its number, where it was opened), for the sockets not closed yet. Keyed by id,
# not by a weak reference: the cycle collector clears weak references before it runs the
# finalizer that warns.
_origins: dict[int, tuple[int, str]] = {}
_lock = threading.Lock()
_opened = 0
_OURS = ("/tests/", "/src/alpaca_integration/", "/benchmarks/", "/scripts/")


def _where(frame: Any, depth: int = 40) -> str:
    """The project's frames among the innermost ``depth`` (innermost first), else the innermost
    outside the socket module."""
    ours: list[str] = []
    first = ""
    while frame is not None and depth > 0:
        code = frame.f_code
        name = code.co_filename
        here = f"{'/'.join(name.rsplit('/', 2)[-2:])}:{frame.f_lineno} {code.co_name}"
        if not first and not name.endswith("socket.py"):
            first = here
        if any(part in name for part in _OURS) and "/support/leaks.py" not in name:
            ours.append(here)
            if len(ours) == 4:
                break
        frame, depth = frame.f_back, depth - 1
    return " <- ".join(ours) if ours else first


def track_sockets() -> None:
    """Record where each ``socket.socket`` is opened until it is closed or detached. Idempotent."""
    cls: Any = socket.socket
    if getattr(cls, "_leak_tracked", False):
        return
    init, close, detach = cls.__init__, cls.close, cls.detach

    def tracked_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        global _opened
        init(self, *args, **kwargs)
        try:
            origin = _where(sys._getframe(1))
        except Exception as exc:  # never let the bookkeeping break the socket it records
            origin = f"(origin unknown: {type(exc).__name__})"
        with _lock:
            _opened += 1
            _origins[id(self)] = (_opened, origin)

    def tracked_close(self: socket.socket) -> None:
        with _lock:
            _origins.pop(id(self), None)
        close(self)

    def tracked_detach(self: socket.socket) -> int:
        with _lock:
            _origins.pop(id(self), None)
        return int(detach(self))

    cls.__init__, cls.close, cls.detach = tracked_init, tracked_close, tracked_detach
    cls._leak_tracked = True


def sockets_opened() -> int:
    """How many sockets were opened since ``track_sockets`` (0 when it is not installed)."""
    return _opened


def still_open_since(mark: int) -> bool:
    """Whether a socket opened after ``sockets_opened()`` returned ``mark`` is not closed yet."""
    with _lock:
        return any(number > mark for number, _ in _origins.values())


def _origin(source: Any) -> str:
    sock = getattr(source, "_sock", source)  # an asyncio transport holds its socket
    with _lock:
        found = _origins.pop(id(sock), None) if isinstance(sock, socket.socket) else None
    where = found[1] if found else ""
    return f" (opened at {where})" if where else ""


def leaked_resources() -> list[str]:
    """Collect garbage now; the ResourceWarnings it raised (one line each, with where a socket
    was opened when ``track_sockets`` is installed)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [
        str(warning.message).splitlines()[0] + _origin(warning.source)
        for warning in caught
        if issubclass(warning.category, ResourceWarning)
    ]
