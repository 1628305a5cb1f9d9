"""A redis-server of a test's own, to play outages and restarts (never the shared server)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import redis

__all__ = ["ThrowawayRedis"]

START_TRIES = 5
START_DEADLINE = 20.0  # seconds per try: a busy CI machine starts processes slowly


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayRedis:
    """A redis-server of our own on a free port: ``stop()`` is an outage (its data is lost, as
    in a restart), ``start()`` brings it back empty on the same port."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._handed_out = False  # once started, tests hold self.url: the port must not change

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server; a port taken between choosing and binding it is
        retried on a new port before the first start, on the same port after it."""
        exits: list[str] = []
        for attempt in range(START_TRIES):
            if attempt and not self._handed_out:
                self.port = _free_port()
            outcome = self._start_once()
            if outcome is None:
                self._handed_out = True
                return
            exits.append(f"port {self.port}: {outcome}")
            time.sleep(0.2 * (attempt + 1))
        raise RuntimeError(
            f"the throwaway redis-server did not start after {START_TRIES} tries ("
            + "; ".join(exits)
            + "): check that redis-server runs here"
        )

    def _start_once(self) -> str | None:
        """None once the server answers PING; otherwise why this try failed (process stopped)."""
        process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_DEADLINE
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                # Most likely someone else bound the port first: the caller tries again.
                return f"exited with code {code}"
            with contextlib.suppress(Exception):
                client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
                try:
                    # Ours, not another server that holds the port (ours then exits).
                    if int(client.info("server")["process_id"]) == process.pid:
                        self.process = process
                        return None
                finally:
                    client.close()
            time.sleep(0.05)
        process.kill()
        process.wait(timeout=10)
        return f"no answer within {START_DEADLINE:g} s"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)
