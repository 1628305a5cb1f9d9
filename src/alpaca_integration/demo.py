"""``alpacactl demo``: the product's main job, end to end, on a fresh machine with nothing set up.

1. Starts the built-in simulator in-process (random free port; an always-open clock by default,
   or the real NYSE hours with ``clock="market"``; a small liquidity cap so large orders fill in
   parts). It uses the simulator's demo keys and never touches a real Alpaca endpoint.
2. Starts the real monitor (``MonitorService``: trade_updates stream + periodic syncs) writing to a
   fresh SQLite file and the in-memory cache.
3. Runs a scripted trading session through the package's own ``AlpacaClient``: market, limit,
   stop, trailing stop, a bracket, an OCO, partial fills, a replace and a cancel, moving prices
   with the simulator's admin API so the stops and limits trigger.
4. After ``duration`` seconds, stops the monitor, prints account, positions, orders and fills
   tables, compares the store with the simulator's state dump, and says where the data is.

Imports the client, the simulator's testing helpers, the service and the store lazily (inside
``run_demo``); nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from alpaca_integration.models import (
    OrderClass,
    OrderRequest,
    OrderSide,
    OrderType,
    ReplaceRequest,
    StopLoss,
    TakeProfit,
    TimeInForce,
)

__all__ = [
    "DEMO_ACCOUNT",
    "DEMO_CLOCKS",
    "DEMO_SYMBOLS",
    "SessionStats",
    "random_session",
    "run_demo",
    "scripted_session",
]

log = logging.getLogger(__name__)

DEMO_ACCOUNT = "demo"
DEMO_SYMBOLS = ("AAPL", "MSFT", "SPY", "TSLA")
_START_PRICES = {
    "AAPL": Decimal("190.00"),
    "MSFT": Decimal("410.00"),
    "SPY": Decimal("520.00"),
    "TSLA": Decimal("180.00"),
}

SetPrice = Callable[[str, Decimal], Awaitable[None]]


async def scripted_session(
    client: Any,
    set_price: SetPrice,
    *,
    pause: float = 0.5,
    say: Callable[[str], None] = lambda _line: None,
) -> list[str]:
    """Place the demo's orders; returns what was done, one line per step."""
    done: list[str] = []

    async def step(text: str) -> None:
        say(text)
        done.append(text)
        await asyncio.sleep(pause)

    for symbol, price in _START_PRICES.items():
        if symbol != "TSLA":  # TSLA keeps moving: each price step brings new liquidity
            await set_price(symbol, price)

    await client.submit_order(OrderRequest(symbol="AAPL", side=OrderSide.BUY, qty=Decimal(20)))
    await step("market buy 20 AAPL")

    limit = await client.submit_order(
        OrderRequest(
            symbol="MSFT",
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            qty=Decimal(5),
            limit_price=Decimal("400.00"),
            time_in_force=TimeInForce.GTC,
        )
    )
    await step("limit buy 5 MSFT @ 400.00 (rests below the market)")
    await client.replace_order(limit.id, ReplaceRequest(limit_price=Decimal("411.00")))
    await step("replace: MSFT limit raised to 411.00 (marketable: fills)")

    far = await client.submit_order(
        OrderRequest(
            symbol="SPY",
            side=OrderSide.BUY,
            type=OrderType.LIMIT,
            qty=Decimal(3),
            limit_price=Decimal("400.00"),
            time_in_force=TimeInForce.GTC,
        )
    )
    await step("limit buy 3 SPY @ 400.00")
    await client.cancel_order(far.id)
    await step("cancel the SPY limit")

    await client.submit_order(
        OrderRequest(
            symbol="AAPL",
            side=OrderSide.SELL,
            type=OrderType.STOP,
            qty=Decimal(5),
            stop_price=Decimal("185.00"),
            time_in_force=TimeInForce.GTC,
        )
    )
    await step("stop sell 5 AAPL @ 185.00")
    await client.submit_order(
        OrderRequest(
            symbol="AAPL",
            side=OrderSide.SELL,
            type=OrderType.TRAILING_STOP,
            qty=Decimal(5),
            trail_percent=Decimal("2"),
            time_in_force=TimeInForce.GTC,
        )
    )
    await step("trailing stop sell 5 AAPL, trail 2%")
    await set_price("AAPL", Decimal("195.00"))
    await step("AAPL up to 195.00 (the trailing stop's high-water mark follows)")
    await set_price("AAPL", Decimal("184.00"))
    await step("AAPL down to 184.00: the stop and the trailing stop trigger")

    await client.submit_order(
        OrderRequest(
            symbol="SPY",
            side=OrderSide.BUY,
            qty=Decimal(10),
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.BRACKET,
            take_profit=TakeProfit(limit_price=Decimal("530.00")),
            stop_loss=StopLoss(stop_price=Decimal("510.00")),
        )
    )
    await step("bracket buy 10 SPY: take profit 530.00, stop loss 510.00")
    await set_price("SPY", Decimal("531.00"))
    await step("SPY up to 531.00: the take-profit leg fills, the stop leg is canceled")

    await client.submit_order(
        OrderRequest(
            symbol="MSFT",
            side=OrderSide.SELL,
            type=OrderType.LIMIT,
            qty=Decimal(5),
            time_in_force=TimeInForce.GTC,
            order_class=OrderClass.OCO,
            take_profit=TakeProfit(limit_price=Decimal("430.00")),
            stop_loss=StopLoss(stop_price=Decimal("395.00")),
        )
    )
    await step("OCO sell 5 MSFT: limit 430.00 / stop 395.00")
    await set_price("MSFT", Decimal("394.00"))
    await step("MSFT down to 394.00: the OCO's stop fills, its limit is canceled")

    await client.submit_order(OrderRequest(symbol="TSLA", side=OrderSide.BUY, qty=Decimal(300)))
    await step("market buy 300 TSLA: fills in parts under the liquidity cap (100 per step)")
    return done


@dataclass
class SessionStats:
    """What a random session did (orders accepted, refused by the venue, of unknown outcome)."""

    submitted: int = 0
    refused: int = 0
    unknown_outcome: int = 0
    replaced: int = 0
    canceled: int = 0
    price_moves: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)


async def random_session(
    client: Any,
    set_price: SetPrice,
    *,
    n_orders: int,
    rng: random.Random,
    symbols: Sequence[str] = DEMO_SYMBOLS,
    start_prices: Mapping[str, Decimal] | None = None,
    pause: float = 0.0,
) -> SessionStats:
    """A busy session of every order type and class, replaces and cancels, with price moves.

    Used by the e2e tests, the restart test and the benchmarks. Venue refusals (buying power,
    wash trade, ...) are counted and skipped; an unknown outcome is counted (the sync finds out).
    """
    from alpaca_integration.errors import AlpacaIntegrationError, OrderOutcomeUnknownError

    prices = {s: (start_prices or _START_PRICES).get(s, Decimal("100.00")) for s in symbols}
    for symbol, price in prices.items():
        await set_price(symbol, price)
    stats = SessionStats()
    resting: list[str] = []

    def cents(value: Decimal) -> Decimal:
        return value.quantize(Decimal("0.01"))

    async def move(symbol: str) -> None:
        change = Decimal(rng.randint(-300, 300)) / Decimal(10_000)
        prices[symbol] = cents(prices[symbol] * (1 + change))
        await set_price(symbol, prices[symbol])
        stats.price_moves += 1

    kinds = (
        "market",
        "market",
        "limit_rest",
        "limit_cross",
        "stop",
        "trailing_stop",
        "bracket",
        "oco",
        "replace",
        "cancel",
        "stop_limit",
    )
    for _ in range(n_orders):
        symbol = rng.choice(list(symbols))
        price = prices[symbol]
        kind = rng.choice(kinds)
        side = rng.choice((OrderSide.BUY, OrderSide.SELL))
        qty = Decimal(rng.randint(1, 20))
        request: OrderRequest | None = None
        try:
            if kind == "market":
                request = OrderRequest(symbol=symbol, side=side, qty=qty)
            elif kind in ("limit_rest", "limit_cross"):
                offset = Decimal("0.97") if kind == "limit_rest" else Decimal("1.01")
                if side is OrderSide.SELL:
                    offset = 2 - offset
                request = OrderRequest(
                    symbol=symbol,
                    side=side,
                    type=OrderType.LIMIT,
                    qty=qty,
                    limit_price=cents(price * offset),
                    time_in_force=TimeInForce.GTC,
                )
            elif kind in ("stop", "stop_limit"):
                stop = cents(
                    price * (Decimal("0.99") if side is OrderSide.SELL else Decimal("1.01"))
                )
                request = OrderRequest(
                    symbol=symbol,
                    side=side,
                    type=OrderType.STOP if kind == "stop" else OrderType.STOP_LIMIT,
                    qty=qty,
                    stop_price=stop,
                    limit_price=None if kind == "stop" else stop,
                    time_in_force=TimeInForce.GTC,
                )
            elif kind == "trailing_stop":
                request = OrderRequest(
                    symbol=symbol,
                    side=side,
                    type=OrderType.TRAILING_STOP,
                    qty=qty,
                    trail_percent=Decimal(rng.choice(("0.5", "1", "2"))),
                    time_in_force=TimeInForce.GTC,
                )
            elif kind == "bracket":
                up, down = cents(price * Decimal("1.01")), cents(price * Decimal("0.99"))
                request = OrderRequest(
                    symbol=symbol,
                    side=OrderSide.BUY,
                    qty=qty,
                    time_in_force=TimeInForce.GTC,
                    order_class=OrderClass.BRACKET,
                    take_profit=TakeProfit(limit_price=up),
                    stop_loss=StopLoss(stop_price=down),
                )
            elif kind == "oco":
                request = OrderRequest(
                    symbol=symbol,
                    side=OrderSide.SELL,
                    type=OrderType.LIMIT,
                    qty=qty,
                    time_in_force=TimeInForce.GTC,
                    order_class=OrderClass.OCO,
                    take_profit=TakeProfit(limit_price=cents(price * Decimal("1.01"))),
                    stop_loss=StopLoss(stop_price=cents(price * Decimal("0.99"))),
                )
            elif kind == "replace" and resting:
                order_id = resting.pop(rng.randrange(len(resting)))
                await client.replace_order(
                    order_id, ReplaceRequest(qty=Decimal(rng.randint(1, 20)))
                )
                stats.replaced += 1
            elif kind == "cancel" and resting:
                await client.cancel_order(resting.pop(rng.randrange(len(resting))))
                stats.canceled += 1
            if request is not None:
                order = await client.submit_order(request)
                stats.submitted += 1
                stats.kinds[kind] = stats.kinds.get(kind, 0) + 1
                if kind in ("limit_rest", "stop", "stop_limit", "trailing_stop"):
                    resting.append(order.id)
        except OrderOutcomeUnknownError:
            stats.unknown_outcome += 1
        except AlpacaIntegrationError as exc:
            stats.refused += 1
            name = type(exc).__name__
            stats.refusals[name] = stats.refusals.get(name, 0) + 1
        if rng.random() < 0.3:
            await move(symbol)
        if pause:
            await asyncio.sleep(pause)
    return stats


DEMO_CLOCKS = ("always-open", "market")


def _fresh_db_path(db_path: Path) -> Path:
    """The absolute path of the demo's SQLite file, removed (with its journal files) if present."""
    db_path = db_path.resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            db_path.with_name(db_path.name + suffix).unlink()
    return db_path


def _render(console: Any, store_dump: dict[str, Any], db_path: Path) -> None:
    from rich.table import Table

    account = store_dump.get("account") or {}
    table = Table(title="Account")
    table.add_column("field")
    table.add_column("value", justify="right")
    for name in ("cash", "equity", "buying_power", "long_market_value", "short_market_value"):
        if name in account:
            table.add_row(name, str(account[name]))
    console.print(table)

    positions = Table(title="Positions")
    for column in ("symbol", "qty", "avg entry"):
        positions.add_column(column, justify="right")
    for symbol, position in sorted(store_dump.get("positions", {}).items()):
        positions.add_row(symbol, str(position["qty"]), str(position["avg_entry_price"]))
    console.print(positions)

    orders = Table(title="Orders")
    for column in ("submitted", "symbol", "side", "type", "class", "qty", "filled", "status"):
        orders.add_column(column)
    rows = sorted(store_dump.get("orders", {}).values(), key=lambda o: str(o.get("created_at")))
    for order in rows:
        orders.add_row(
            str(order.get("created_at", ""))[11:19],
            str(order.get("symbol", "")),
            str(order.get("side", "")),
            str(order.get("type", "")),
            str(order.get("order_class", "")),
            str(order.get("qty", "")),
            str(order.get("filled_qty", "")),
            str(order.get("status", "")),
        )
    console.print(orders)

    fills = Table(title="Fills")
    for column in ("time", "symbol", "side", "qty", "price", "fee"):
        fills.add_column(column, justify="right")
    for fill in sorted(store_dump.get("fills", []), key=lambda f: str(f.get("timestamp"))):
        fills.add_row(
            str(fill.get("timestamp", ""))[11:23],
            str(fill.get("symbol", "")),
            str(fill.get("side", "")),
            str(fill.get("qty", "")),
            str(fill.get("price", "")),
            str(fill.get("fee", "")),
        )
    console.print(fills)


async def run_demo(
    *,
    duration: float = 60.0,
    db_path: Path = Path("alpaca_demo.db"),
    seed: int = 7,
    update_interval: float = 5.0,
    quiet: bool = False,
    clock: str = "always-open",
) -> int:
    """Run the whole demo; 0 when the store equals the simulator at the end, 1 otherwise.

    ``clock`` is ``always-open`` (the default: the same run at any hour, every order can fill) or
    ``market`` (the simulator follows the real NYSE calendar; outside regular hours the demo
    stops at once, returning 1 with a message, since its scripted session needs fills).
    """
    if clock not in DEMO_CLOCKS:
        raise ValueError(
            f"clock must be one of {', '.join(DEMO_CLOCKS)}, got {clock!r}: "
            "use always-open for a run that behaves the same at any hour"
        )
    from rich.console import Console

    from alpaca_integration.checks.risk import client_for_account
    from alpaca_integration.config import AccountConfig
    from alpaca_integration.monitor.runtime import close_store_and_cache, open_store_and_cache
    from alpaca_integration.monitor.service import MonitorService
    from alpaca_integration.simulator import SimConfig
    from alpaca_integration.simulator import testing as sim_testing
    from alpaca_integration.sync.compare import compare_with_venue, normalize_store_dump

    console = Console(quiet=quiet)
    db_path = await asyncio.to_thread(_fresh_db_path, db_path)
    config = SimConfig(
        seed=seed,
        symbols=list(DEMO_SYMBOLS),
        clock="market" if clock == "market" else "always-open",
        liquidity_cap=Decimal(100),
    )
    started = time.monotonic()
    with sim_testing.running_simulator(config) as sim:
        console.print(f"[bold]simulator[/] at {sim.base_url} (clock: {clock})")
        account = AccountConfig(
            name=DEMO_ACCOUNT,
            api_key=sim_testing.SIM_API_KEY,
            secret_key=sim_testing.SIM_SECRET_KEY,
            base_url=sim.base_url,
            stream_url=sim.stream_url,
        )
        if clock == "market":
            async with client_for_account(account) as client:
                market = await client.get_clock()
            if not market.is_open:
                # The scripted session needs fills (a replace, stops, brackets): with the market
                # closed it would stop at its first replace with a venue rejection.
                console.print(
                    f"[red]the market is closed now[/] (NYSE hours; next open "
                    f"{market.next_open.isoformat()}): the scripted session needs an open "
                    "market. Run `alpacactl demo --clock always-open` (the default) instead."
                )
                return 1
        store, cache = await open_store_and_cache(f"sqlite:///{db_path}", None)
        try:
            service = MonitorService(
                [account], store, cache, update_interval=update_interval, silence_timeout=10.0
            )
            runner = asyncio.create_task(service.run())
            await service.wait_started()
            console.print(
                f"[bold]monitor[/] running: trade_updates stream + a REST sync every "
                f"{update_interval:g} s, writing to {db_path}"
            )

            async def set_price(symbol: str, price: Decimal) -> None:
                await asyncio.to_thread(sim.set_price, symbol, price)

            async with client_for_account(account) as client:
                await scripted_session(
                    client, set_price, pause=0.5, say=lambda line: console.print(f"  {line}")
                )
            remaining = duration - (time.monotonic() - started)
            if remaining > 0:
                console.print(f"monitoring for {remaining:.0f} more seconds ...")
                await asyncio.sleep(remaining)
            engine = service.engines[0]
            service.stop()
            await runner
            # The venue is quiet now: one last catch-up makes the final comparison meaningful.
            async with client_for_account(account) as client:
                engine.client = client
                await engine.sync_all()
            store_dump = await store.dump(DEMO_ACCOUNT)
            venue_dump = await asyncio.to_thread(sim.dump, sim_testing.SIM_API_KEY)
            differences = compare_with_venue(normalize_store_dump(store_dump), venue_dump)
            _render(console, store_dump, db_path)
            events = engine.events_applied
        finally:
            await close_store_and_cache(store, cache)
    console.print(f"stream events applied: {events}")
    if differences:
        console.print(f"[red]store differs from the simulator in {len(differences)} place(s):[/]")
        for line in differences[:20]:
            console.print(f"  {line}")
        console.print(f"data written to {db_path}")
        return 1
    n_orders = len(store_dump.get("orders", {}))
    n_fills = len(store_dump.get("fills", []))
    console.print(
        f"[green]store equals the simulator's state[/]: {n_orders} orders, {n_fills} fills, "
        f"{len(store_dump.get('positions', {}))} positions, cash {store_dump.get('cash')}"
    )
    console.print(f"data written to {db_path} (SQLite; open it with `sqlite3 {db_path}`)")
    return 0
