"""The dashboard served from the monitor's own process, as a user starts it, in a real headless
Chromium (Debian's ``chromium`` through Playwright).

* ``alpacactl monitor --dashboard``: every page renders with no console error; a market order
  placed at the simulator while the fills and positions pages are open shows up (its fill, the
  position changed, its open lot) without a reload, fed by the monitor's own in-memory cache;
  the overview shows the monitor's stream as connected; SIGTERM stops both, exit 0.
* ``alpacactl demo --dashboard``: after the scripted session and the comparison, the simulator
  and a monitor keep running: the pages (lots, realized P&L, the performance charts) render, an
  order placed at the demo's simulator shows up without a reload, and Ctrl-C ends the demo with
  the comparison's exit code.

Screenshots of each page are saved under ``tests/artifacts/screenshots/`` (paths printed).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from test_dashboard_browser import WAIT_MS, Watch, _chromium, _free_port, _screenshot

from alpaca_integration.alpaca.client import AlpacaClient
from alpaca_integration.models import OrderRequest, OrderSide
from alpaca_integration.simulator.testing import SIM_API_KEY, SIM_SECRET_KEY, SimulatorHandle
from support.cli_runs import child_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ALPACACTL = str(Path(sys.executable).parent / "alpacactl")
PAGES = ("", "positions", "orders", "fills", "checks", "performance")
# Bounds on waiting for a process to say something (a busy 2-core machine), not latency goals.
START_BOUND = 90.0


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPACA_")}
    env.update(NO_COLOR="1", COLUMNS="200", **extra)
    return env


async def _line(path: Path, pattern: str, process: subprocess.Popen[bytes]) -> re.Match[str]:
    """The first match of ``pattern`` in the file a process writes its output to."""
    deadline = time.monotonic() + START_BOUND
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        if process.poll() is not None:
            break
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {pattern!r} in the output:\n{path.read_text(errors='replace')}")


@asynccontextmanager
async def _alpacactl(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> AsyncIterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``alpacactl *args`` with its output in files (a pipe nobody reads would block it);
    killed at the end if the test did not stop it."""
    out_path, err_path = tmp_path / "out.txt", tmp_path / "err.txt"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        process = subprocess.Popen(
            [ALPACACTL, *args], cwd=tmp_path, env=env, stdout=out, stderr=err
        )
    try:
        yield process, out_path, err_path
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def _every_page_renders(browser: Any, url: str, prefix: str) -> None:
    watch = Watch()
    page = watch.attach(await browser.new_page(viewport={"width": 1400, "height": 900}))
    for name in PAGES:
        await page.goto(url + name)
        await page.wait_for_selector("body[data-live='connected']")
        if name in ("", "performance"):
            await page.wait_for_selector("figure[data-chart] .main-svg")
        await _screenshot(page, f"{prefix}-{name or 'overview'}")
    await page.close()
    assert watch.problems == []


async def _order_shows_without_reload(
    browser: Any, url: str, base_url: str, symbol: str, qty: int
) -> None:
    """Fills and positions pages open; a market buy at the venue; its fill row, the position
    and its open lot appear in them without a navigation."""
    watch = Watch()
    fills_page = watch.attach(await browser.new_page())
    positions_page = watch.attach(await browser.new_page())
    await fills_page.goto(url + "fills")
    await positions_page.goto(url + "positions")
    for page in (fills_page, positions_page):
        await page.wait_for_selector("body[data-live='connected']")
        await page.evaluate("window.__loadedOnce = true")
    assert await positions_page.locator(f"tr[data-symbol='{symbol}']").count() == 0
    async with AlpacaClient(SIM_API_KEY, SIM_SECRET_KEY, base_url) as client:
        order = await client.submit_order(
            OrderRequest(symbol=symbol, side=OrderSide.BUY, qty=Decimal(qty))
        )
    await fills_page.wait_for_selector(f"tr.fill[data-order-id='{order.id}']", timeout=WAIT_MS)
    await positions_page.wait_for_selector(
        f"tr[data-symbol='{symbol}'][data-qty='{qty}']", timeout=WAIT_MS
    )
    await positions_page.wait_for_selector(
        f"tr.lot[data-symbol='{symbol}'][data-qty='{qty}']", timeout=WAIT_MS
    )
    for page in (fills_page, positions_page):
        assert await page.evaluate("window.__loadedOnce === true"), "the page was not reloaded"
    assert watch.problems == []


@pytest.mark.timeout(240)
async def test_monitor_dashboard_serves_live_pages_from_the_monitor_process(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """``alpacactl monitor --dashboard``: the pages render cleanly, the overview shows the
    monitor's stream connected, and a fill at the venue reaches the open pages without a
    reload; SIGTERM stops the monitor and the dashboard with exit 0."""
    await simulator.aset_price("MSFT", Decimal("410.00"))
    env = child_env(
        simulator.base_url, f"sqlite:///{tmp_path / 'monitor.db'}", NO_COLOR="1", COLUMNS="200"
    )
    port = _free_port()
    args = ["monitor", "--no-status", "--interval", "3600", "--reconcile-every", "0"]
    args += ["--dashboard", "--dashboard-port", str(port)]
    async with _alpacactl(tmp_path, args, env) as (process, out, err), _chromium() as browser:
        found = await _line(out, r"dashboard at (http://\S+) \(live: ([^)]*)\)", process)
        url = found.group(1)
        assert url == f"http://127.0.0.1:{port}/"
        assert "cache" in found.group(2), "fed by the monitor's own cache, not by polling"
        await _order_shows_without_reload(browser, url, simulator.base_url, "MSFT", 7)
        await _every_page_renders(browser, url, "monitor")
        overview = await browser.new_page()
        await overview.goto(url)
        await overview.wait_for_selector("tr[data-account='default'] .ok:text('connected')")
        await overview.close()
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 30)
        assert process.returncode == 0, err.read_text(errors="replace")[-4000:]
    stderr = err.read_text(errors="replace")
    assert SIM_SECRET_KEY not in stderr + out.read_text(errors="replace")


def test_monitor_dashboard_on_a_taken_port_is_one_line_before_anything_starts(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """A taken ``--dashboard-port``: exit 2 with one line naming the option, no traceback, and
    no store created (nothing started)."""
    import socket

    db = tmp_path / "monitor.db"
    env = child_env(simulator.base_url, f"sqlite:///{db}", NO_COLOR="1", COLUMNS="200")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [ALPACACTL, "monitor", "--dashboard", "--dashboard-port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--dashboard-port" in lines[0]
    assert str(port) in lines[0]
    assert not db.exists()


@pytest.mark.timeout(300)
async def test_demo_dashboard_keeps_the_venue_and_monitor_running_until_ctrl_c(
    tmp_path: Path,
) -> None:
    """``alpacactl demo --dashboard``: after the comparison the dashboard stays live over the
    demo's store (lots, realized P&L, the ledger's performance figures), an order placed at the
    demo's simulator shows up without a reload, and Ctrl-C ends it with exit 0."""
    port = _free_port()
    db = tmp_path / "demo.db"
    args = ["demo", "--duration", "0", "--db", str(db), "--dashboard", "--dashboard-port"]
    async with (
        _alpacactl(tmp_path, [*args, str(port)], _env()) as (process, out, err),
        _chromium() as browser,
    ):
        simulator_url = (await _line(out, r"simulator at (http://\S+)", process)).group(1)
        url = (await _line(out, r"dashboard at (http://\S+)", process)).group(1)
        await _line(out, r"press Ctrl-C to stop", process)
        assert "store equals the simulator's state" in out.read_text()
        await _every_page_renders(browser, url, "demo")
        page = await browser.new_page()
        await page.goto(url + "performance")
        statistics = await page.inner_text("table.statistics")
        for shown in ("realized P&L (net)", "closed matches", "time-weighted return"):
            assert shown in statistics
        await page.goto(url + "positions")
        assert await page.locator("tr.lot").count() > 0, "the open lots are listed"
        await page.close()
        await _order_shows_without_reload(browser, url, simulator_url, "MSFT", 3)
        process.send_signal(signal.SIGINT)
        await asyncio.to_thread(process.wait, 60)
        assert process.returncode == 0, err.read_text(errors="replace")[-4000:]
    assert "Traceback" not in err.read_text(errors="replace")
