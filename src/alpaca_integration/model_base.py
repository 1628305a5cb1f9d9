"""The base of every model built from a venue payload: the payload kept verbatim for audit; and
the base of the enums whose unknown values read as ``UNKNOWN``.

``VenueModel`` is a frozen, keyword-only ``msgspec.Struct`` with one field, ``raw`` (the JSON
bytes the model was built from; empty when built locally), and ``raw_json()`` to decode it. It
lives apart from ``models`` so the model modules (``models``, ``reference_models``) can share it
without importing each other in a circle.

Imports nothing from the package.
"""

from __future__ import annotations

import enum
from typing import Any, Self

import msgspec

__all__ = ["OpenStrEnum", "VenueModel"]


class OpenStrEnum(enum.StrEnum):
    """A string enum the venue may extend: a value this code does not know reads as the
    subclass's ``UNKNOWN`` member (which every subclass defines) rather than failing."""

    @classmethod
    def _missing_(cls, value: object) -> Self:
        return cls["UNKNOWN"]


class VenueModel(msgspec.Struct, frozen=True, kw_only=True):
    """A model that keeps the venue's payload it was built from in ``raw``."""

    raw: bytes = b""

    def raw_json(self) -> Any:
        """The venue's payload this model was built from, decoded (None if built locally)."""
        return msgspec.json.decode(self.raw) if self.raw else None
