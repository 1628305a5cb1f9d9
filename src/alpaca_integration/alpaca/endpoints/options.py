"""Option endpoints: the contracts listing and lookup, and the exercise and do-not-exercise
instructions on a held contract.

An exercise or do-not-exercise instruction is sent at most once: it is resent only when the venue
cannot have acted on it (a 429, or a request that never left). After an unclear failure (a
timeout, a dropped connection, a 5xx) the outcome is looked up, never guessed:

* **exercise**: the venue processes an exercise at once and exercises every available contract of
  the position. The client looks for an ``OPEXC`` (option exercise) activity for the contract
  dated on or after the attempt, then at the position itself: gone, or smaller than before the
  attempt, means the exercise was taken (``established`` says which proved it). Until
  ``order_visibility_wait`` runs out it looks again; then ``InstructionOutcomeUnknownError``.
* **do-not-exercise**: the venue shows no trace of the instruction, so nothing can prove it was
  taken: ``InstructionOutcomeUnknownError``, saying whether the contract is still held (the
  instruction is idempotent: sending it again is safe).

Both read the position first: no long option position, nothing is sent (a short position cannot
be exercised; the venue would refuse). An exercise also reads the account: with options trading
disabled (options level 0) it is refused (``RiskLimitError``, limit ``options_level``) before
anything is sent. This module imports ``models``, ``errors``,
``instruments`` and ``alpaca.*`` from the package; never risk, storage or sync.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import TYPE_CHECKING, Literal, Unpack

import msgspec

from alpaca_integration.alpaca import parse
from alpaca_integration.alpaca.endpoints.account import AccountEndpoints
from alpaca_integration.alpaca.paging import walk_option_contracts
from alpaca_integration.alpaca.parse import EXCHANGE_TIMEZONE, OptionContractsPage
from alpaca_integration.alpaca.placement import PlacementPolicy, look_within_bound
from alpaca_integration.alpaca.queries import (
    MAX_CONTRACTS_PAGE,
    OptionContractFilters,
    option_contracts_query,
)
from alpaca_integration.alpaca.ratelimit import Lane
from alpaca_integration.alpaca.transport import RETRY_WHEN_NOT_ACTED, path_part
from alpaca_integration.errors import (
    AlpacaIntegrationError,
    InstructionOutcomeUnknownError,
    NotFoundError,
    OrderValidationError,
    RequestNotSentError,
    RiskLimitError,
    ServerError,
    TransportError,
)
from alpaca_integration.instruments import instrument_class
from alpaca_integration.models import Activity, AssetClass, OptionContract, Position

__all__ = ["InstructionResult", "OptionEndpoints"]

Instruction = Literal["exercise", "do-not-exercise"]


class InstructionResult(msgspec.Struct, frozen=True, kw_only=True):
    """An exercise or do-not-exercise instruction the venue took. ``contracts`` is the long
    position it applied to (every available contract); ``established`` how that is known: the
    venue's ``answer``, an ``activity`` (OPEXC) or the ``position`` after an unclear answer."""

    symbol: str
    instruction: str
    contracts: Decimal
    established: str


class OptionEndpoints(AccountEndpoints):
    """``/v2/options/contracts...`` and ``/v2/positions/{symbol_or_contract_id}/exercise`` /
    ``do-not-exercise``. Built on the account group (positions, activities); ``AlpacaClient``
    provides ``venue_now`` and the placement policy."""

    order_visibility_wait: float

    if TYPE_CHECKING:  # AlpacaClient and the order group provide these

        def venue_now(self) -> dt.datetime: ...

        def _policy(self) -> PlacementPolicy: ...

    # ------------------------------------------------------------------ contracts

    async def list_option_contracts(
        self,
        *,
        limit: int | None = None,
        page_token: str | None = None,
        **filters: Unpack[OptionContractFilters],
    ) -> OptionContractsPage:
        """One page of ``GET /v2/options/contracts`` and the next page's token (None: the last).
        ``filters``: ``queries.OptionContractFilters`` (underlying_symbols, status, expiration
        dates, root_symbol, type, style, strike range, ppind, show_deliverables). The venue's
        defaults: active contracts expiring by the next weekend, 100 a page."""
        query = option_contracts_query(limit=limit, page_token=page_token, **filters)
        body = await self._transport.get("/v2/options/contracts", query)
        return parse.parse_option_contracts_page(body)

    async def iter_option_contracts(
        self, *, page_size: int = MAX_CONTRACTS_PAGE, **filters: Unpack[OptionContractFilters]
    ) -> AsyncIterator[OptionContract]:
        """Every contract matching the filters, across pages (``paging.walk_option_contracts``)."""
        underlying = filters.get("underlying_symbols")
        if underlying is not None and not isinstance(underlying, str):
            filters["underlying_symbols"] = list(underlying)  # read once, asked for every page
        option_contracts_query(limit=page_size, **filters)  # a bad filter fails before any page

        async def fetch(token: str | None) -> OptionContractsPage:
            return await self.list_option_contracts(limit=page_size, page_token=token, **filters)

        async for contract in walk_option_contracts(fetch):
            yield contract

    async def get_option_contract(self, symbol_or_id: str) -> OptionContract:
        """``GET /v2/options/contracts/{symbol_or_id}`` (``NotFoundError`` when unknown)."""
        path = f"/v2/options/contracts/{path_part(symbol_or_id.strip().upper(), 'symbol_or_id')}"
        return parse.parse_option_contract(await self._transport.get(path))

    # ------------------------------------------------------------------ instructions

    async def exercise_position(self, symbol_or_contract_id: str) -> InstructionResult:
        """``POST /v2/positions/{symbol_or_contract_id}/exercise``: exercise every available
        contract of a long option position. Sent at most once; an unclear answer is looked up
        (module docstring). ``InstructionOutcomeUnknownError`` when that cannot tell."""
        return await self._instruct(symbol_or_contract_id, "exercise")

    async def do_not_exercise(self, symbol_or_contract_id: str) -> InstructionResult:
        """``POST /v2/positions/{symbol_or_contract_id}/do-not-exercise``: keep an in-the-money
        long contract from being exercised automatically at expiry. Sent at most once; after an
        unclear answer, ``InstructionOutcomeUnknownError`` (the venue shows no trace of it)."""
        return await self._instruct(symbol_or_contract_id, "do-not-exercise")

    async def _held_contracts(self, symbol_or_contract_id: str, instruction: str) -> Position:
        """The long option position the instruction is for; refused (nothing sent) when there
        is no such position."""
        position = await self.get_position(symbol_or_contract_id)
        asset_class = instrument_class(position.asset_class, position.symbol)
        if asset_class is not AssetClass.US_OPTION or position.qty <= 0:
            held = f"{position.qty} {position.symbol} ({asset_class.value})"
            raise OrderValidationError(
                f"symbol: {instruction} applies to a long option position, the account holds "
                f"{held}. Fix: name a long option contract (a short one is assigned, not "
                "exercised)",
                field="symbol",
            )
        if instruction == "exercise":
            await self._check_options_enabled(position.symbol)
        return position

    async def _check_options_enabled(self, symbol: str) -> None:
        """An exercise needs options trading enabled on the account (options level 1 or more,
        the level that closing a position needs); refused before anything is sent. A
        do-not-exercise only keeps a contract from being exercised and is never refused."""
        level = (await self.get_account()).options_level
        if level is None or level >= 1:
            return
        raise RiskLimitError(
            f"exercise {symbol} refused: options trading is disabled for this account (options "
            "level 0). Fix: have the broker enable options trading, or raise "
            "max_options_trading_level in the account configuration",
            limit="options_level",
        )

    async def _instruct(
        self, symbol_or_contract_id: str, instruction: Instruction
    ) -> InstructionResult:
        held = await self._held_contracts(symbol_or_contract_id, instruction)
        contract = path_part(symbol_or_contract_id.strip().upper(), "symbol_or_contract_id")
        path = f"/v2/positions/{contract}/{instruction}"
        since = self.venue_now()
        try:
            await self._transport.call("POST", path, lane=Lane.ORDER, retry_on=RETRY_WHEN_NOT_ACTED)
        except RequestNotSentError:
            raise  # it never reached the venue: nothing to look up
        except (ServerError, TransportError) as exc:
            return await self._after_unclear(held, instruction, since, exc)
        return InstructionResult(
            symbol=held.symbol, instruction=instruction, contracts=held.qty, established="answer"
        )

    async def _after_unclear(
        self,
        held: Position,
        instruction: Instruction,
        since: dt.datetime,
        cause: AlpacaIntegrationError,
    ) -> InstructionResult:
        """Look the outcome of an unclear instruction up (within the visibility bound)."""
        if instruction == "exercise":

            async def lookup() -> str | None:
                return await self._exercise_evidence(held, since)

            try:
                evidence = await look_within_bound(lookup, self._policy())
            except AlpacaIntegrationError as exc:
                evidence, cause = None, exc
            if evidence is not None:
                return InstructionResult(
                    symbol=held.symbol,
                    instruction=instruction,
                    contracts=held.qty,
                    established=evidence,
                )
        raise InstructionOutcomeUnknownError(
            await self._unknown_message(held, instruction, cause),
            symbol=held.symbol,
            instruction=instruction,
        )

    async def _exercise_evidence(self, held: Position, since: dt.datetime) -> str | None:
        """``activity`` when an OPEXC activity for the contract dated on or after the attempt
        exists; ``position`` when the position is gone or smaller than before; else None."""
        attempt_day = since.astimezone(EXCHANGE_TIMEZONE).date()
        day_before = dt.datetime.combine(
            attempt_day - dt.timedelta(days=1), dt.time(), EXCHANGE_TIMEZONE
        )
        activities = await self.get_activities_by_type("OPEXC", after=day_before, direction="desc")
        for activity in activities:
            if (
                isinstance(activity, Activity)
                and activity.symbol == held.symbol
                and (activity.date is None or activity.date >= attempt_day)
            ):
                return "activity"
        try:
            now = await self.get_position(held.symbol)
        except NotFoundError:
            return "position"
        return "position" if now.qty < held.qty else None

    async def _unknown_message(
        self, held: Position, instruction: Instruction, cause: AlpacaIntegrationError
    ) -> str:
        """What to tell the user when the outcome is unknown, by what the position shows now."""
        try:
            still = (await self.get_position(held.symbol)).qty
        except NotFoundError:
            still = Decimal(0)
        except AlpacaIntegrationError:
            still = None
        shown = "cannot be read" if still is None else f"now shows {still} contracts"
        advice = (
            "check the position and the OPEXC activities before exercising again"
            if instruction == "exercise"
            else "the instruction is idempotent: sending it again is safe while the contract "
            "is held"
        )
        return (
            f"{instruction} {held.symbol}: outcome unknown after {cause}. The position held "
            f"{held.qty} contracts before and {shown}; {advice}"
        )
