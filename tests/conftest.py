"""Shared test harness: real PostgreSQL and Redis, found or started.

Addresses come from ``ALPACA_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/
postgres``) and ``ALPACA_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``). Where nothing
answers, a throwaway server is started from the local binaries (PostgreSQL as the ``postgres`` user
when running as root). Where that fails too, tests that need the service are skipped, except under
``CI=true``, where a missing service fails the run.

Tests share servers with other runs on the same machine: each test gets its own PostgreSQL database
(``postgres_url``) and its own Redis key namespace (``redis_namespace``); nothing is ever flushed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from support.databases import fresh_database
from support.leaks import leaked_resources, sockets_opened, track_sockets

if TYPE_CHECKING:
    from alpaca_integration.storage import Store

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SHARED_SPEC = Path(__file__).resolve().parents[1].parent / "shared" / "alpaca" / "trading-api.json"
DATA_DIR = Path(__file__).resolve().parent / "data"


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true and could not be reached or started")
    pytest.skip(f"{what} not available (set the address or install the server)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- leaks

# Where tests open real sockets (servers, clients, WebSockets, databases): each such test is
# checked right after its teardown; so is any other test that opened a socket.
_SOCKET_DIRS = ("e2e", "integration")
track_sockets()


@pytest.fixture(autouse=True)
def _nothing_left_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """A socket, transport or file a test leaves open fails that test, at its teardown, naming
    what was left and, for a socket, the code that opened it; never a later test that happens to
    trigger the collection."""
    opened = sockets_opened()
    yield
    if sockets_opened() == opened and not any(
        part in _SOCKET_DIRS for part in request.node.path.parts
    ):
        return
    left = leaked_resources()
    if left:
        pytest.fail(f"left open by {request.node.nodeid}: " + "; ".join(left), pytrace=False)


# --------------------------------------------------------------------------- PostgreSQL


def _pg_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("select 1")
        return True
    except Exception:
        return False


def _start_throwaway_postgres() -> tuple[str, Path] | None:
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        return None
    bindir = Path(initdbs[-1]).parent
    datadir = Path(tempfile.mkdtemp(prefix="ai-pg-"))
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    try:
        subprocess.run(
            [
                *as_pg,
                str(bindir / "initdb"),
                "-D",
                str(datadir / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_pg,
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir / "data"),
                "-w",
                "-l",
                str(datadir / "log"),
                "-o",
                f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database (``postgres``)."""
    url = os.environ.get(
        "ALPACA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    if _pg_answers(url):
        yield url
        return
    started = _start_throwaway_postgres()
    if started is None:
        _missing(f"PostgreSQL at {url}")
        return
    url, datadir = started
    try:
        yield url
    finally:
        as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]).parent
        subprocess.run(
            [
                *as_pg,
                str(bindir / "pg_ctl"),
                "-D",
                str(datadir / "data"),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(datadir, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A plain ``postgresql://`` URL of a brand-new empty database, dropped after the test."""
    with fresh_database(postgres_server_url) as url:
        yield url


# --------------------------------------------------------------------------- Redis


def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis server (shared: use ``redis_namespace`` for keys, never flush)."""
    url = os.environ.get("ALPACA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        _missing(f"Redis at {url}")
        return
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            _missing(f"Redis (could not start {binary})")
            return
        time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


@pytest.fixture
def redis_namespace() -> str:
    """A key prefix no other test or run uses."""
    return f"aitest{uuid.uuid4().hex[:10]}"


# --------------------------------------------------------------------------- spec


@pytest.fixture(scope="session")
def trading_spec_path() -> Path:
    """Alpaca's OpenAPI spec beside the repo (../shared); skipped only outside CI when absent."""
    if not SHARED_SPEC.is_file():
        if IN_CI:
            pytest.fail(f"{SHARED_SPEC} is required under CI=true")
        pytest.skip(f"{SHARED_SPEC} is absent")
    return SHARED_SPEC


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store in a fresh SQLite file (for tests that need no second dialect), closed after."""
    from alpaca_integration.storage import Store

    opened = await Store.open(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        yield opened
    finally:
        await opened.aclose()
