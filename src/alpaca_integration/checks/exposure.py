"""Exposure: what an account holds now, and which risk limits its positions exceed.

:func:`measure_exposure` turns positions into an :class:`ExposureSnapshot` (gross, net, long,
short, per symbol), :func:`exposure_breaches` compares it with the limits (one named step per kind
of limit), and :func:`record_exposure` writes both as rows (``exposure_snapshots``,
``risk_breaches``) for the account flow and the monitor.

Imports ``models`` and ``checks.risk_limits``; the store is reached only through the two insert
methods :func:`record_exposure` calls. Never the client, sync, the simulator, the flows or the CLI.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

import msgspec

from alpaca_integration.checks.risk_limits import RiskLimits
from alpaca_integration.models import Position
from alpaca_integration.storage.records import ExposureFigures
from alpaca_integration.sync.ports import ExposureStore

__all__ = [
    "ExposureSnapshot",
    "RiskBreach",
    "exposure_breaches",
    "measure_exposure",
    "record_exposure",
]

_ZERO = Decimal(0)


class ExposureSnapshot(ExposureFigures, frozen=True, kw_only=True):
    """An account's exposure as measured (the figures of ``storage.records.ExposureFigures``)."""


class RiskBreach(msgspec.Struct, frozen=True, kw_only=True):
    """A limit that the account's current state exceeds (a row of ``risk_breaches``)."""

    account: str
    at: dt.datetime
    limit_name: str
    subject: str
    value: Decimal
    limit: Decimal
    detail: str


def measure_exposure(
    positions: Iterable[Position], *, account: str, at: dt.datetime
) -> ExposureSnapshot:
    """Exposure from positions: each valued at its market value (else qty x current price x
    multiplier: an option contract is worth 100 shares' premium)."""
    if at.tzinfo is None:
        raise ValueError("measure_exposure needs a timezone-aware 'at' (UTC)")
    per_symbol: dict[str, Decimal] = {}
    quantities: dict[str, Decimal] = {}
    unpriced: list[str] = []
    for position in positions:
        quantities[position.symbol] = quantities.get(position.symbol, _ZERO) + position.qty
        if position.market_value is not None:
            # The venue keeps the sign on short market values in some versions and not in
            # others: the sign always follows the position's quantity here.
            value = abs(position.market_value) * (-1 if position.qty < 0 else 1)
        elif position.current_price is not None:
            value = position.qty * position.current_price * position.multiplier
        else:
            unpriced.append(position.symbol)
            continue
        per_symbol[position.symbol] = per_symbol.get(position.symbol, _ZERO) + value
    long = sum((v for v in per_symbol.values() if v > 0), _ZERO)
    short = -sum((v for v in per_symbol.values() if v < 0), _ZERO)
    return ExposureSnapshot(
        account=account,
        at=at.astimezone(dt.UTC),
        gross=long + short,
        net=long - short,
        long=long,
        short=short,
        per_symbol=per_symbol,
        quantities=quantities,
        unpriced=tuple(sorted(unpriced)),
    )


def _breach(
    snapshot: ExposureSnapshot, name: str, subject: str, value: Decimal, limit: Decimal, detail: str
) -> RiskBreach:
    return RiskBreach(
        account=snapshot.account,
        at=snapshot.at,
        limit_name=name,
        subject=subject,
        value=value,
        limit=limit,
        detail=detail,
    )


def _symbol_breaches(
    snapshot: ExposureSnapshot, symbol: str, limits: RiskLimits
) -> list[RiskBreach]:
    """allowed_symbols, shorting_allowed, max_position_qty, max_position_notional for one held
    symbol."""
    qty = snapshot.quantities[symbol]
    out = []
    if limits.allowed_symbols is not None and symbol not in limits.allowed_symbols:
        detail = f"position of {qty} in a symbol not allowed"
        out.append(_breach(snapshot, "allowed_symbols", symbol, qty, _ZERO, detail))
    if not limits.shorting_allowed and qty < 0:
        detail = f"short position of {qty} while shorting is not allowed"
        out.append(_breach(snapshot, "shorting_allowed", symbol, qty, _ZERO, detail))
    qty_limit = limits.position_qty_limit(symbol)
    if qty_limit is not None and abs(qty) > qty_limit:
        detail = f"position {qty} beyond {qty_limit}"
        out.append(_breach(snapshot, "max_position_qty", symbol, abs(qty), qty_limit, detail))
    notional_limit = limits.position_notional_limit(symbol)
    value = snapshot.per_symbol.get(symbol)
    if notional_limit is not None and value is not None and abs(value) > notional_limit:
        detail = f"position worth {value} beyond {notional_limit}"
        out.append(
            _breach(snapshot, "max_position_notional", symbol, abs(value), notional_limit, detail)
        )
    return out


def _account_breaches(snapshot: ExposureSnapshot, limits: RiskLimits) -> list[RiskBreach]:
    """max_gross_exposure and max_net_exposure over the whole account."""
    out = []
    gross_limit, net_limit = limits.max_gross_exposure, limits.max_net_exposure
    if gross_limit is not None and snapshot.gross > gross_limit:
        detail = f"gross exposure {snapshot.gross} beyond {gross_limit}"
        out.append(
            _breach(snapshot, "max_gross_exposure", "account", snapshot.gross, gross_limit, detail)
        )
    if net_limit is not None and abs(snapshot.net) > net_limit:
        detail = f"net exposure {snapshot.net} beyond {net_limit}"
        out.append(
            _breach(snapshot, "max_net_exposure", "account", abs(snapshot.net), net_limit, detail)
        )
    return out


def exposure_breaches(snapshot: ExposureSnapshot, limits: RiskLimits) -> list[RiskBreach]:
    """Every limit the snapshot exceeds now (position, gross, net, shorting, allowed symbols)."""
    out: list[RiskBreach] = []
    for symbol in sorted(snapshot.quantities):
        if snapshot.quantities[symbol] != 0:
            out.extend(_symbol_breaches(snapshot, symbol, limits))
    return out + _account_breaches(snapshot, limits)


async def record_exposure(
    store: ExposureStore,
    account: str,
    positions: Iterable[Position],
    limits: RiskLimits | None,
    *,
    at: dt.datetime,
) -> tuple[ExposureSnapshot, list[RiskBreach]]:
    """Measure exposure, compare with the limits, and write the snapshot and every breach as rows
    (the account flow calls this after each account sync)."""
    snapshot = measure_exposure(positions, account=account, at=at)
    breaches = exposure_breaches(snapshot, limits) if limits is not None else []
    await store.insert_exposure_snapshot(snapshot)
    if breaches:
        await store.insert_risk_breaches(breaches)
    return snapshot, breaches
