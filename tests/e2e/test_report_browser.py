"""`alpacactl report` opened in a real headless Chromium (Debian's, driven by Playwright): the
file works offline (plotly's JS inline, no request leaves the page), no console error, every
chart drawn (plotly's SVG with its traces), the correctness tables present; a full-page
screenshot is saved under ``tests/artifacts/screenshots/`` and its path printed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from test_dashboard_browser import Watch, _chromium, _screenshot
from typer.testing import CliRunner

from alpaca_integration.cli.main import app
from alpaca_integration.report.html import CHARTS
from support.ledger_fills import store_ledger_session

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_the_report_draws_every_chart_without_a_console_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    monkeypatch.setenv("ALPACA_DATABASE_URL", url)
    await store_ledger_session(url, with_checks=True)
    out = tmp_path / "report.html"
    result = await asyncio.to_thread(CliRunner().invoke, app, ["report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    async with _chromium() as browser:
        watch = Watch()
        page = watch.attach(await browser.new_page(viewport={"width": 1400, "height": 900}))
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        await page.goto(out.as_uri(), wait_until="load")
        for name in CHARTS:
            chart = page.locator(f'[data-chart="{name}"] .plot-container .main-svg').first
            await chart.wait_for(state="attached", timeout=10_000)
            # Drawn: a trace's paths (lines, markers, bars) or a heatmap's image.
            marks = page.locator(f'[data-chart="{name}"] .main-svg :is(.trace path, .hm image)')
            assert await marks.count() >= 1, f"chart {name} drew nothing"
        for table in ("figures-default", "quality-default", "reconciliation-default"):
            assert await page.locator(f'[data-table="{table}"] tr').count() >= 2, table
        await _screenshot(page, "report")
        await page.close()
    assert watch.problems == []
    assert requests == [out.as_uri()]  # nothing fetched: the file is self-contained
