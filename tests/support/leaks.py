"""Resources a test left open, found where they were left (not in a later test's setup).

A socket, transport or file that is never closed warns (``ResourceWarning``) only when it is
collected. Held in a reference cycle (a transport and its protocol, a client and its pool), that
happens at the next full garbage collection, in whatever test runs then; under the suite's
``filterwarnings = error`` that later test fails for nothing it did (issue 11 item 21: a socket
leaked earlier failed ``test_sim_stream``'s first setup). ``leaked_resources`` collects right
away and returns what was left open, so the check fails the test that leaked it.
"""

from __future__ import annotations

import gc
import warnings

__all__ = ["leaked_resources"]


def leaked_resources() -> list[str]:
    """Collect garbage now; the ResourceWarnings it raised (one line each)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    return [
        str(warning.message).splitlines()[0]
        for warning in caught
        if issubclass(warning.category, ResourceWarning)
    ]
