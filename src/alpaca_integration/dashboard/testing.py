"""Drive the dashboard in Debian's headless Chromium with Playwright (the browser tests and
``benchmarks/dashboard.py``):

    async with headless_chromium() as browser:
        page = await browser.new_page()
        await page.goto(served.url)

Ships with the product like ``simulator.testing`` and imports no test framework. Playwright (a
development dependency) is imported only when a browser is launched. Imports nothing from the
package.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Browser

__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "headless_chromium"]

CHROMIUM = Path("/usr/bin/chromium")
# Headless, no sandbox (containers), and nothing that phones home or updates itself mid-run.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


@contextlib.asynccontextmanager
async def headless_chromium(executable: Path = CHROMIUM) -> AsyncIterator[Browser]:
    """A headless Chromium (Debian's, by default) for the block's duration."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()
