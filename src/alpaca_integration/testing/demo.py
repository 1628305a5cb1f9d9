"""``alpacactl demo``: the product's main job, end to end, on a fresh machine with nothing set up.

1. Starts the built-in simulator in-process (random free port; an always-open clock by default,
   or the real NYSE hours with ``clock="market"``; a small liquidity cap so large orders fill in
   parts). It uses the simulator's demo keys and never touches a real Alpaca endpoint.
2. Starts the real monitor (``MonitorService``: trade_updates stream + periodic syncs) writing to a
   fresh SQLite file and the in-memory cache.
3. Runs the scripted trading session (``testing.sessions``) through the package's own
   ``AlpacaClient``, moving prices with the simulator's admin API so the stops and limits trigger.
4. After ``duration`` seconds, stops the monitor, prints account, positions, orders and fills
   tables, compares the store with the simulator's state dump (``testing.compare``), and says
   where the data is.
5. With ``beside`` (``alpacactl demo --dashboard``): the dashboard is served over the demo's
   store and cache from the start (``beside(store, cache, statuses)``, entered once the monitor
   exists), and after the comparison the simulator and a monitor keep running until SIGINT or
   SIGTERM, so the dashboard stays live and orders placed at the simulator show up in it.

Imports the client, the simulator's testing helpers, the monitor and rich lazily (inside
``run_demo``); nothing here runs at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alpaca_integration.testing.sessions import DEMO_SYMBOLS, scripted_session

if TYPE_CHECKING:
    from alpaca_integration.cache import Cache
    from alpaca_integration.config import AccountConfig
    from alpaca_integration.monitor.service import MonitorService
    from alpaca_integration.storage import Store, StoreDump

__all__ = ["DEMO_ACCOUNT", "DEMO_CLOCKS", "DEMO_SYMBOLS", "Beside", "run_demo"]

DEMO_ACCOUNT = "demo"
DEMO_CLOCKS = ("always-open", "market")
# run_demo's answers, as alpacactl's exit codes: equal, could not run (market closed), differs.
_EQUAL, _CANNOT_RUN, _DIFFERS = 0, 1, 3


@dataclass
class _Outcome:
    """What the demo found at the end: the store's dump, its differences from the venue, and how
    many stream events the monitor applied."""

    store_dump: StoreDump
    differences: list[str]
    events: int
    # The exit code already concluded (the outcome was printed before the demo lingered).
    code: int | None = None


# Served beside the demo's monitor (``alpacactl demo --dashboard``): see ``run_demo``.
Beside = Callable[["Store", "Cache", Callable[[], Sequence[Any]]], AbstractAsyncContextManager[Any]]


def _fresh_db_path(db_path: Path) -> Path:
    """The absolute path of the demo's SQLite file, removed (with its journal files) if present."""
    db_path = db_path.resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            db_path.with_name(db_path.name + suffix).unlink()
    return db_path


# --------------------------------------------------------------------------- tables


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]], **column: Any) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for name in columns:
        table.add_column(name, **column)
    for row in rows:
        table.add_row(*row)
    return table


def _render(console: Any, store_dump: StoreDump) -> None:
    account = store_dump.get("account") or {}
    names = ("cash", "equity", "buying_power", "long_market_value", "short_market_value")
    console.print(
        _table("Account", ("field", "value"), [(n, str(account[n])) for n in names if n in account])
    )
    positions = sorted(store_dump.get("positions", {}).items())
    console.print(
        _table(
            "Positions",
            ("symbol", "qty", "avg entry"),
            [(s, str(p["qty"]), str(p["avg_entry_price"])) for s, p in positions],
            justify="right",
        )
    )
    orders = sorted(store_dump.get("orders", {}).values(), key=lambda o: str(o.get("created_at")))
    order_fields = ("symbol", "side", "type", "order_class", "qty", "filled_qty", "status")
    console.print(
        _table(
            "Orders",
            ("submitted", "symbol", "side", "type", "class", "qty", "filled", "status"),
            [
                (str(o.get("created_at", ""))[11:19], *(str(o.get(f, "")) for f in order_fields))
                for o in orders
            ],
        )
    )
    fills = sorted(store_dump.get("fills", []), key=lambda f: str(f.get("timestamp")))
    fill_fields = ("symbol", "side", "qty", "price", "fee")
    console.print(
        _table(
            "Fills",
            ("time", *fill_fields),
            [
                (str(f.get("timestamp", ""))[11:23], *(str(f.get(n, "")) for n in fill_fields))
                for f in fills
            ],
            justify="right",
        )
    )


# --------------------------------------------------------------------------- the run


async def _market_is_open(account: Any, console: Any) -> bool:
    """With NYSE hours, whether the market is open now (saying what to do when it is not)."""
    from alpaca_integration.checks.risk import client_for_account

    async with client_for_account(account) as client:
        market = await client.get_clock()
    if not market.is_open:
        # The scripted session needs fills (a replace, stops, brackets): with the market closed
        # it would stop at its first replace with a venue rejection.
        console.print(
            f"[red]the market is closed now[/] (NYSE hours; next open "
            f"{market.next_open.isoformat()}): the scripted session needs an open market. Run "
            "`alpacactl demo --clock always-open` (the default) instead."
        )
    return bool(market.is_open)


async def _monitored_session(
    sim: Any,
    account: Any,
    db_path: Path,
    *,
    duration: float,
    started: float,
    update_interval: float,
    say: Callable[[str], None],
    beside: Beside | None = None,
    conclude: Callable[[_Outcome], int] | None = None,
) -> _Outcome:
    """The monitor running while the scripted session trades; one last catch-up once the venue
    is quiet, then the store compared with the venue. With ``beside``: served from the start,
    and after the comparison (``conclude`` prints it) the venue and a monitor keep running
    until SIGINT/SIGTERM."""
    from alpaca_integration.monitor.runtime import opened_store_and_cache
    from alpaca_integration.monitor.service import MonitorService

    services: list[MonitorService] = []

    def statuses() -> Sequence[Any]:
        return services[-1].statuses() if services else ()

    def monitor(store: Store, cache: Cache) -> MonitorService:
        services.append(
            MonitorService(
                [account], store, cache, update_interval=update_interval, silence_timeout=10.0
            )
        )
        return services[-1]

    async with (
        opened_store_and_cache(f"sqlite:///{db_path}", None) as (store, cache),
        contextlib.AsyncExitStack() as served,
    ):
        service = monitor(store, cache)
        if beside is not None:
            await served.enter_async_context(beside(store, cache, statuses))
        outcome = await _session(
            sim,
            account,
            store,
            service,
            db_path=db_path,
            duration=duration,
            started=started,
            say=say,
        )
        if beside is None or conclude is None:
            return outcome
        outcome.code = conclude(outcome)
        lingering = monitor(store, cache)
        runner = asyncio.create_task(lingering.run())
        try:
            await lingering.wait_started()
            say(
                f"the simulator ({sim.base_url}) and the monitor keep running and the dashboard "
                "shows them live: press Ctrl-C to stop"
            )
            await _until_interrupted()
        finally:
            lingering.stop()
            await runner
        return outcome


async def _until_interrupted() -> None:
    """Until SIGINT or SIGTERM (the demo then ends as it would have, with its exit code)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _session(
    sim: Any,
    account: AccountConfig,
    store: Store,
    service: MonitorService,
    *,
    db_path: Path,
    duration: float,
    started: float,
    say: Callable[[str], None],
) -> _Outcome:
    """The scripted session under ``service``; then the venue let go quiet, one last catch-up,
    and the store compared with the venue."""
    from alpaca_integration.checks.risk import client_for_account
    from alpaca_integration.testing.compare import compare_with_venue, store_view

    async def set_price(symbol: str, price: Decimal) -> None:
        await asyncio.to_thread(sim.set_price, symbol, price)

    runner = asyncio.create_task(service.run())
    await service.wait_started()
    say(
        f"[bold]monitor[/] running: trade_updates stream + a REST sync every "
        f"{service.update_interval:g} s, writing to {db_path}"
    )
    async with client_for_account(account) as client:
        await scripted_session(client, set_price, pause=0.5, say=lambda line: say(f"  {line}"))
    remaining = duration - (time.monotonic() - started)
    if remaining > 0:
        say(f"monitoring for {remaining:.0f} more seconds ...")
        await asyncio.sleep(remaining)
    engine = service.engines[0]
    service.stop()
    await runner
    # An order may still be filling in parts (TSLA under the liquidity cap) on a busy machine:
    # wait until the venue's orders stop moving, then one last catch-up makes the final
    # comparison meaningful.
    await _until_venue_quiet(sim, account.api_key.get_secret_value())
    async with client_for_account(account) as client:
        engine.client = client
        await engine.sync_all()
    store_dump = await store.dump(DEMO_ACCOUNT)
    venue_dump = await asyncio.to_thread(sim.dump, account.api_key.get_secret_value())
    differences = compare_with_venue(await store_view(store, DEMO_ACCOUNT), venue_dump)
    return _Outcome(store_dump, differences, engine.events_applied)


async def _until_venue_quiet(sim: Any, key_id: str, *, bound: float = 30.0) -> None:
    """Wait (at most ``bound`` seconds) until no market order is still working at the venue (it
    fills in parts, one part per price step, so it will move again by itself) and two reads of the
    venue's orders, half a second apart, show the same status and filled quantity for every order.
    Stability alone is not enough: on a busy machine two reads fit between two price steps."""
    terminal = {"filled", "canceled", "expired", "replaced", "rejected", "done_for_day"}

    def progress() -> tuple[list[tuple[str, str, str]], bool]:
        orders: list[tuple[str, str, str]] = []
        working = False
        pending = list(sim.dump(key_id).get("orders") or [])
        while pending:
            order = pending.pop()
            orders.append((order["id"], order["status"], str(order.get("filled_qty"))))
            working = working or (order.get("type") == "market" and order["status"] not in terminal)
            pending.extend(order.get("legs") or [])
        return sorted(orders), working

    deadline = time.monotonic() + bound
    before, _ = await asyncio.to_thread(progress)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now, working = await asyncio.to_thread(progress)
        if now == before and not working:
            return
        before = now


def _conclude(console: Any, outcome: _Outcome, db_path: Path) -> int:
    console.print(f"stream events applied: {outcome.events}")
    if outcome.differences:
        count = len(outcome.differences)
        console.print(f"[red]store differs from the simulator in {count} place(s):[/]")
        for line in outcome.differences[:20]:
            console.print(f"  {line}")
        console.print(f"data written to {db_path}")
        return _DIFFERS
    dump = outcome.store_dump
    console.print(
        f"[green]store equals the simulator's state[/]: {len(dump.get('orders', {}))} orders, "
        f"{len(dump.get('fills', []))} fills, {len(dump.get('positions', {}))} positions, cash "
        f"{dump.get('cash')}"
    )
    console.print(f"data written to {db_path} (SQLite; open it with `sqlite3 {db_path}`)")
    return _EQUAL


async def run_demo(
    *,
    duration: float = 60.0,
    db_path: Path = Path("alpaca_demo.db"),
    seed: int = 7,
    update_interval: float = 5.0,
    quiet: bool = False,
    clock: str = "always-open",
    beside: Beside | None = None,
) -> int:
    """Run the whole demo; 0 when the store equals the simulator at the end, 3 when it differs
    (``alpacactl``'s code for "a check said no").

    ``beside(store, cache, statuses)`` (``alpacactl demo --dashboard``): served over the demo's
    store and cache from the start; the venue and a monitor then keep running after the
    comparison until SIGINT/SIGTERM, and the demo returns the comparison's code.

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

    from alpaca_integration.config import AccountConfig
    from alpaca_integration.simulator import SimConfig
    from alpaca_integration.simulator import testing as sim_testing

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
        if clock == "market" and not await _market_is_open(account, console):
            return _CANNOT_RUN
        outcome = await _monitored_session(
            sim,
            account,
            db_path,
            duration=duration,
            started=started,
            update_interval=update_interval,
            say=console.print,
            beside=beside,
            conclude=lambda done: _shown(console, done, db_path),
        )
    if outcome.code is not None:
        return outcome.code
    return _shown(console, outcome, db_path)


def _shown(console: Any, outcome: _Outcome, db_path: Path) -> int:
    """The tables and the conclusion printed; the demo's exit code."""
    _render(console, outcome.store_dump)
    return _conclude(console, outcome, db_path)
