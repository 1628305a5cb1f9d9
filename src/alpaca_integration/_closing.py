"""``AsyncClosing``: what every closable resource of the package (the client, the store, the
cache, the streams) does alike: ``async with`` it and ``aclose()`` runs when the block ends.

Standard library only, so any part of the package may use it.
"""

from __future__ import annotations

from typing import Self

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """A resource ``async with`` closes: ``__aexit__`` awaits ``aclose()``, however the block
    ended (the exception, if any, propagates)."""

    async def aclose(self) -> None:
        """Release what it holds; each resource says how."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
