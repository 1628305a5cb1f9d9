"""``testing.stop_process``: the helper tests, scripts and benchmarks stop their children with."""

from __future__ import annotations

import signal
import subprocess
import sys

from alpaca_integration.testing import stop_process


def _python(code: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"ready\n"  # its handlers are in place
    proc.stdout.close()
    return proc


def test_a_process_that_stops_on_the_signal_returns_its_own_exit_code() -> None:
    proc = _python(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGINT, lambda *_: sys.exit(3))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    assert stop_process(proc, signal.SIGINT, timeout=20) == 3


def test_a_process_that_ignores_the_signal_is_killed_after_the_timeout() -> None:
    proc = _python(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)"
    )
    assert stop_process(proc, timeout=0.5) == -signal.SIGKILL
    assert proc.poll() == -signal.SIGKILL  # reaped: no zombie left


def test_a_process_already_ended_is_not_signalled() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(4)"])
    proc.wait()
    assert stop_process(proc) == 4
