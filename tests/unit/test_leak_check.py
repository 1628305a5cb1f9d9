"""The suite's leak check (``tests/conftest.py``, ``support.leaks``) names a socket left open by
the test that left it, even when only a garbage collection would find it."""

from __future__ import annotations

import socket
from typing import Any

from support.leaks import leaked_resources


def _left_in_a_cycle(sock: socket.socket) -> None:
    holder: dict[str, Any] = {"socket": sock}
    holder["self"] = holder  # only the cycle collector frees it


def test_a_socket_left_open_in_a_reference_cycle_is_named_at_once() -> None:
    _left_in_a_cycle(socket.socket())
    left = leaked_resources()
    assert any(line.startswith("unclosed <socket.socket") for line in left), left


def test_a_socket_closed_before_it_is_dropped_is_not_reported() -> None:
    sock = socket.socket()
    number = sock.fileno()
    sock.close()
    _left_in_a_cycle(sock)
    assert not any(f"fd={number}," in line for line in leaked_resources())


def test_a_leaked_socket_is_reported_with_the_code_that_opened_it() -> None:
    def open_and_forget() -> None:
        _left_in_a_cycle(socket.socket())

    open_and_forget()
    left = [line for line in leaked_resources() if line.startswith("unclosed <socket.socket")]
    assert len(left) == 1, left
    assert "(opened at unit/test_leak_check.py:" in left[0], left
    assert "open_and_forget <- unit/test_leak_check.py:" in left[0], left


def test_a_socket_opened_under_a_frame_without_a_path_is_recorded_and_returned() -> None:
    """Frames of frozen modules (``<frozen importlib._bootstrap>``, on every import) have no
    path: recording the origin must not fail there, or the socket is created, dropped by the
    caller (urllib3's IPv6 probe at import, whose exception handler swallowed the error) and
    reported as a leak of whatever test imported it."""
    namespace: dict[str, Any] = {"socket": socket}
    exec(compile("made = socket.socket()", "<frozen probe>", "exec"), namespace)
    made = namespace["made"]
    assert isinstance(made, socket.socket)
    made.close()
