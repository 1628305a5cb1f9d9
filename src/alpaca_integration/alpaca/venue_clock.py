"""The venue's clock as seen from this host: a smoothed estimate of the skew (venue minus host).

Every answer's ``Date`` header is a sample: the venue's time when it answered, in whole seconds
(so the sample takes the middle of that second, good to about half a second). ``GET /v2/clock``'s
``timestamp`` is a sample to the microsecond. A sample is the venue's time minus this host's
clock when the answer arrived (the venue stamped it a one-way latency earlier, so the estimate is
low by that much: milliseconds).

Samples are smoothed (an exponential average: a tenth for a ``Date`` sample, half for a precise
one), and a sample more than ``STEP_SECONDS`` away from the estimate replaces it: a clock was
stepped, and averaging the old skew in would be wrong for minutes.

Nothing here filters or reorders data by the skew; it is measured and exposed
(``AlpacaClient.clock_skew``, ``AlpacaClient.venue_now()``) for the code that needs it. This
module imports nothing from the package.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["STEP_SECONDS", "VenueClock"]

# Far beyond a Date sample's noise (half a second plus latency): a jump this big is a step.
STEP_SECONDS = 2.0
_DATE_WEIGHT = 0.1
_PRECISE_WEIGHT = 0.5
# A Date header says whole seconds: the venue's time lay somewhere in that second.
_MIDDLE_OF_THE_SECOND = 0.5


class VenueClock:
    """The skew estimate for one venue. ``clock`` is this host's UNIX time (injectable)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._skew: float | None = None

    @property
    def skew(self) -> float | None:
        """Seconds the venue's clock is ahead of this host's (negative: behind); None until an
        answer with a time has been seen."""
        return self._skew

    def now(self) -> float:
        """The venue's time now by the estimate (this host's time until one exists)."""
        return self._clock() + (self._skew or 0.0)

    def observe(self, venue_time: float, received_at: float, *, precise: bool) -> None:
        """One sample: the venue said ``venue_time`` in an answer that arrived at
        ``received_at`` (this host's clock). ``precise``: to the microsecond, not a Date."""
        if not precise:
            venue_time += _MIDDLE_OF_THE_SECOND
        sample = venue_time - received_at
        weight = _PRECISE_WEIGHT if precise else _DATE_WEIGHT
        if self._skew is None or abs(sample - self._skew) > STEP_SECONDS:
            self._skew = sample
        else:
            self._skew += weight * (sample - self._skew)
