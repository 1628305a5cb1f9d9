"""Lazy exports for a package's ``__init__``: a public name is imported from its home module on
first use, so importing the package stays cheap.

Standard library only, so any part of the package may use it (the simulator too).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_attribute"]


def lazy_attribute(
    package: str,
    homes: Mapping[str, str],
    name: str,
    namespace: MutableMapping[str, Any] | None = None,
) -> Any:
    """``name`` imported from ``homes[name]`` (what a package's ``__getattr__`` returns); an
    ``AttributeError`` for a name the package does not export. With ``namespace`` (the package's
    ``globals()``) the value is kept there, so the next lookup does not come back here."""
    home = homes.get(name)
    if home is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    if namespace is not None:
        namespace[name] = value
    return value
