"""Child processes in tests, scripts and benchmarks: stop one and never leave it behind."""

from __future__ import annotations

import signal
import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(
    proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 30.0
) -> int:
    """Ask ``proc`` to stop with ``sig`` (SIGTERM, or SIGINT for Ctrl-C) and wait up to
    ``timeout`` seconds; SIGKILL it when it lingers, so a monitor or server is never left
    running, streaming and writing, after the caller. Only ``proc`` itself is signalled: a
    child that starts processes of its own stops them itself. Returns its exit code
    (negative: the signal that ended it; -9 says it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait()
