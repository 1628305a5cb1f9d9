"""One module per schema revision (Alembic loads them by path; importing them does nothing).

Imports nothing from the package.
"""

from __future__ import annotations

__all__: list[str] = []
