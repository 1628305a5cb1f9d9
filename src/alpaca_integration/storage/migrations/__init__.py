"""Alembic migrations of the store, shipped inside the package and run programmatically by
``storage.migrate`` (no alembic.ini, no env.py): ``versions/`` holds one module per revision.

Imports nothing from the package.
"""

from __future__ import annotations

__all__: list[str] = []
