"""The simulator's clock and trading calendar.

``SimClock`` is the venue's notion of now: a start instant plus (optionally) the wall time
elapsed plus whatever ``advance`` added, plus the clock-skew fault's offset. ``stamp()`` hands out strictly increasing timestamps
(at least 1 microsecond apart) so that every order and execution has a distinct time, which the
exclusive ``after``/``until`` paging of orders and activities relies on.

A calendar answers "what phase is the market in at t" (``pre``, ``regular``, ``post``,
``closed``) and lists the phase boundaries between two instants. ``XnysCalendar`` follows the
NYSE calendar of exchange-calendars (holidays, early closes; pre-market from 04:00 and after-hours
until 20:00 New York time); ``AlwaysOpenCalendar`` never closes. exchange-calendars (and pandas)
is imported only when an XNYS calendar is first needed.

This module imports nothing from the package.
"""

from __future__ import annotations

import bisect
import datetime as dt
import threading
import time
import warnings
from dataclasses import dataclass
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "NEW_YORK",
    "AlwaysOpenCalendar",
    "Boundary",
    "BoundaryKind",
    "Phase",
    "SessionDay",
    "SimClock",
    "TradingCalendar",
    "XnysCalendar",
    "xnys_sessions",
]

NEW_YORK = ZoneInfo("America/New_York")
_ONE_MICROSECOND = dt.timedelta(microseconds=1)

Phase = Literal["pre", "regular", "post", "closed"]
BoundaryKind = Literal["pre_open", "open", "close", "post_close"]


class SimClock:
    """Simulated time. ``now()`` reads it; ``stamp()`` reads it and guarantees monotonic,
    distinct results; ``advance(seconds)`` jumps forward; ``set_skew(seconds)`` puts the venue's
    clock that far from what it would otherwise read (the clock-skew fault)."""

    def __init__(
        self,
        start: dt.datetime | None = None,
        *,
        realtime: bool = True,
        skew_seconds: float = 0.0,
    ) -> None:
        self._start = (start or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
        self._wall_start = time.monotonic()
        self._realtime = realtime
        self._offset = dt.timedelta(0)
        self._skew = dt.timedelta(seconds=skew_seconds)
        # The latest timestamp handed out; none yet, so a skew set before the first one moves
        # every timestamp (a skew lowered later cannot move them back: see ``set_skew``).
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._lock = threading.Lock()

    @property
    def realtime(self) -> bool:
        return self._realtime

    @property
    def skew_seconds(self) -> float:
        return self._skew.total_seconds()

    def now(self) -> dt.datetime:
        base = self._start + self._offset + self._skew
        if self._realtime:
            base += dt.timedelta(seconds=time.monotonic() - self._wall_start)
        return max(base, self._last)

    def set_skew(self, seconds: float) -> dt.datetime:
        """Move the clock by the change in skew. Timestamps stay strictly increasing: after a
        skew lowered past timestamps already handed out, the clock holds at the last one until
        it catches up."""
        with self._lock:
            self._skew = dt.timedelta(seconds=seconds)
        return self.now()

    def stamp(self) -> dt.datetime:
        """A timestamp strictly later than every one handed out before."""
        with self._lock:
            current = self.now()
            if current <= self._last:
                current = self._last + _ONE_MICROSECOND
            self._last = current
            return current

    def stamp_at(self, at: dt.datetime) -> dt.datetime:
        """``at`` (a past boundary being caught up with) unless that would break monotonicity."""
        with self._lock:
            current = max(at, self._last + _ONE_MICROSECOND)
            self._last = current
            return current

    def advance(self, seconds: float) -> dt.datetime:
        if seconds < 0:
            raise ValueError("the simulated clock only moves forward: seconds must be >= 0")
        with self._lock:
            self._offset += dt.timedelta(seconds=seconds)
        return self.now()


@dataclass(frozen=True, slots=True)
class SessionDay:
    """One trading day: regular open and close, extended session edges (all UTC)."""

    date: dt.date
    open: dt.datetime
    close: dt.datetime
    pre_open: dt.datetime
    post_close: dt.datetime


@dataclass(frozen=True, slots=True)
class Boundary:
    at: dt.datetime
    kind: BoundaryKind


class TradingCalendar(Protocol):
    always_open: bool

    def phase(self, at: dt.datetime) -> Phase: ...

    def next_open(self, at: dt.datetime) -> dt.datetime: ...

    def next_close(self, at: dt.datetime) -> dt.datetime: ...

    def boundaries(self, after: dt.datetime, until: dt.datetime) -> list[Boundary]: ...

    def session_close(self, at: dt.datetime) -> dt.datetime | None: ...


class AlwaysOpenCalendar:
    """A market that never closes: every instant is in the regular session."""

    always_open = True

    def phase(self, at: dt.datetime) -> Phase:
        return "regular"

    def next_close(self, at: dt.datetime) -> dt.datetime:
        # There is no close; report the end of the UTC day so clients get a valid instant.
        day_end = dt.datetime.combine(at.date(), dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        return day_end

    def next_open(self, at: dt.datetime) -> dt.datetime:
        return self.next_close(at)

    def boundaries(self, after: dt.datetime, until: dt.datetime) -> list[Boundary]:
        return []

    def session_close(self, at: dt.datetime) -> dt.datetime | None:
        return None


_SESSIONS_LOCK = threading.Lock()
_SESSIONS: list[SessionDay] | None = None


def _at_new_york(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=NEW_YORK).astimezone(dt.UTC)


def xnys_sessions() -> list[SessionDay]:
    """Every XNYS trading day from 1990 through 2030, loaded once per process."""
    global _SESSIONS
    with _SESSIONS_LOCK:
        if _SESSIONS is None:
            # exchange-calendars trips pandas' deprecation warnings (e.g. Pandas4Warning on
            # Series.values); they are its business, not the venue's.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import exchange_calendars

                calendar = exchange_calendars.get_calendar(
                    "XNYS", start="1990-01-01", end="2030-12-31"
                )
                schedule = calendar.schedule
            days: list[SessionDay] = []
            for label, row in zip(schedule.index, schedule.itertuples(index=False), strict=True):
                day = label.date()
                days.append(
                    SessionDay(
                        date=day,
                        open=row.open.to_pydatetime().astimezone(dt.UTC),
                        close=row.close.to_pydatetime().astimezone(dt.UTC),
                        pre_open=_at_new_york(day, 4),
                        post_close=_at_new_york(day, 20),
                    )
                )
            _SESSIONS = days
        return _SESSIONS


class XnysCalendar:
    """The NYSE calendar: regular hours and holidays from exchange-calendars, pre-market from
    04:00 and after-hours until 20:00 New York time on trading days."""

    always_open = False

    def __init__(self) -> None:
        self._days = xnys_sessions()
        self._pre_opens = [day.pre_open for day in self._days]

    def _index_at_or_after(self, at: dt.datetime) -> int:
        """Index of the first day whose extended session ends after ``at``."""
        index = bisect.bisect_right(self._pre_opens, at) - 1
        if index >= 0 and self._days[index].post_close <= at:
            index += 1
        return max(index, 0)

    def day_of(self, at: dt.datetime) -> SessionDay | None:
        index = bisect.bisect_right(self._pre_opens, at) - 1
        if index < 0:
            return None
        day = self._days[index]
        return day if at < day.post_close else None

    def phase(self, at: dt.datetime) -> Phase:
        day = self.day_of(at)
        if day is None:
            return "closed"
        if at < day.open:
            return "pre"
        if at < day.close:
            return "regular"
        return "post"

    def next_open(self, at: dt.datetime) -> dt.datetime:
        for day in self._days[self._index_at_or_after(at) :]:
            if day.open > at:
                return day.open
        raise ValueError(f"{at} is beyond the simulator's calendar (2030)")

    def next_close(self, at: dt.datetime) -> dt.datetime:
        for day in self._days[self._index_at_or_after(at) :]:
            if day.close > at:
                return day.close
        raise ValueError(f"{at} is beyond the simulator's calendar (2030)")

    def session_close(self, at: dt.datetime) -> dt.datetime | None:
        day = self.day_of(at)
        return None if day is None else day.close

    def boundaries(self, after: dt.datetime, until: dt.datetime) -> list[Boundary]:
        """Every phase boundary in ``(after, until]``, in time order."""
        out: list[Boundary] = []
        if until <= after:
            return out
        start = max(bisect.bisect_right(self._pre_opens, after) - 1, 0)
        for day in self._days[start:]:
            if day.pre_open > until:
                break
            for at, kind in (
                (day.pre_open, "pre_open"),
                (day.open, "open"),
                (day.close, "close"),
                (day.post_close, "post_close"),
            ):
                if after < at <= until:
                    out.append(Boundary(at, kind))  # type: ignore[arg-type]
        return out
