"""The monitor's status line: the stream cell says how both real-time sources are doing."""

from __future__ import annotations

from alpaca_integration.monitor.run import STATUS_COLUMNS, status_row
from alpaca_integration.monitor.service import AccountStatus


def test_the_stream_cell_shows_the_activities_stream_only_when_it_runs() -> None:
    stream = STATUS_COLUMNS.index("stream")
    assert status_row(AccountStatus("a", connected=True))[stream] == "connected"
    on = AccountStatus("a", connected=True, activities_stream="down")
    assert status_row(on)[stream] == "connected / activities down"
    fallback = AccountStatus("a", connected=False, activities_stream="unavailable")
    assert status_row(fallback)[stream] == "down / activities unavailable"
