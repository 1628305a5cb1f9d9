"""Alpaca option-contract payloads -> ``models.OptionContract``.

``parse_option_contract`` reads ``GET /v2/options/contracts/{symbol_or_id}``;
``parse_option_contracts_page`` reads one page of ``GET /v2/options/contracts`` and returns its
contracts with the ``next_page_token`` (None on the last page). A contract of unknown type
(neither call nor put) is a ``ParseError``: it could not be valued; an unknown exercise style maps
to ``OptionStyle.UNKNOWN``. A contract without a multiplier gets the standard 100.

Pure: no I/O, no clock reads. Imports only ``models``, ``instruments``, ``errors`` and
``alpaca.{schemas,decoding}`` from the package.
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from alpaca_integration.alpaca.decoding import Body, as_bytes, calendar_date, decode, strict_enum
from alpaca_integration.alpaca.schemas import (
    WireOptionContract,
    WireOptionContractsPage,
    WireOptionDeliverable,
)
from alpaca_integration.errors import ParseError
from alpaca_integration.instruments import CONTRACT_MULTIPLIER
from alpaca_integration.models import OptionContract, OptionDeliverable, OptionStyle, OptionType

__all__ = ["OptionContractsPage", "parse_option_contract", "parse_option_contracts_page"]

_CONTRACT = msgspec.json.Decoder(WireOptionContract)
_PAGE = msgspec.json.Decoder(WireOptionContractsPage)
_OPTION_TYPE = {member.value: member for member in OptionType}


class OptionContractsPage(NamedTuple):
    """One page of the contracts listing and the token of the next (None: this was the last)."""

    contracts: list[OptionContract]
    next_page_token: str | None


def _deliverable(wire: WireOptionDeliverable) -> OptionDeliverable:
    return OptionDeliverable(
        type=wire.type,
        symbol=wire.symbol,
        asset_id=wire.asset_id or None,
        amount=wire.amount,
        allocation_percentage=wire.allocation_percentage,
        settlement_type=wire.settlement_type or None,
        settlement_method=wire.settlement_method or None,
        delayed_settlement=wire.delayed_settlement,
    )


def _contract(raw: bytes) -> OptionContract:
    shape = "option contract"
    wire = decode(_CONTRACT, raw, shape)
    expiry = calendar_date(wire.expiration_date, shape, "expiration_date")
    if expiry is None:
        raise ParseError(
            f"option contract {wire.symbol}: expiration_date is empty", shape=shape, value=wire.id
        )
    return OptionContract(
        id=wire.id,
        symbol=wire.symbol,
        name=wire.name or None,
        status=wire.status,
        tradable=wire.tradable,
        underlying=wire.underlying_symbol,
        underlying_asset_id=wire.underlying_asset_id or None,
        root=wire.root_symbol or None,
        expiry=expiry,
        type=strict_enum(_OPTION_TYPE, wire.type, shape, "type", "option type"),
        style=OptionStyle(wire.style),
        strike=wire.strike_price,
        multiplier=CONTRACT_MULTIPLIER if wire.multiplier is None else wire.multiplier,
        size=wire.size,
        open_interest=wire.open_interest,
        open_interest_date=calendar_date(wire.open_interest_date, shape, "open_interest_date"),
        close_price=wire.close_price,
        close_price_date=calendar_date(wire.close_price_date, shape, "close_price_date"),
        deliverables=tuple(_deliverable(item) for item in wire.deliverables or ()),
        raw=raw,
    )


def parse_option_contract(body: Body) -> OptionContract:
    """``GET /v2/options/contracts/{symbol_or_id}`` -> one contract."""
    return _contract(as_bytes(body))


def parse_option_contracts_page(body: Body) -> OptionContractsPage:
    """One page of ``GET /v2/options/contracts``: its contracts in payload order and the next
    page's token (None, or an empty token, means there is no next page)."""
    raw = as_bytes(body)
    wire = decode(_PAGE, raw, "option contracts page")
    contracts = [_contract(bytes(item)) for item in wire.option_contracts]
    return OptionContractsPage(contracts, wire.next_page_token or None)
