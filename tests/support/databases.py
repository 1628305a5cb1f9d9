"""Scratch PostgreSQL databases for tests: one per test (the ``postgres_url`` fixture) or one per
module (a test module that builds a store once)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

__all__ = ["fresh_database"]


@contextlib.contextmanager
def fresh_database(server_url: str, prefix: str = "ai_test") -> Iterator[str]:
    """A brand-new empty database named ``<prefix>_<random>`` on the server at ``server_url``;
    yields its plain ``postgresql://`` URL and drops it (closing its connections) at the end."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
