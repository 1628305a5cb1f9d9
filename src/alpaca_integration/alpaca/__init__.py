"""Everything that knows Alpaca's wire format: schemas, parsing, request building, and (in
sibling modules) the HTTP client, the rate limiter and the trade_updates stream.

``parse`` and ``requests`` are pure functions over bytes and models; import them from their
modules (``from alpaca_integration.alpaca.parse import parse_order``). This package's ``__init__``
imports nothing, so importing the client does not pay for anything it does not use.
"""

from __future__ import annotations

__all__: list[str] = []
