"""Sharding the accounts between monitors: take, keep, give back and lose leases.

:class:`ShardKeeper` runs beside ``MonitorService`` when leases are on. Every ``poll`` seconds
(``ttl / 4``) it

1. (in a task of its own) sends this monitor's heartbeat, then renews every lease it holds; a
   lease that is not ours any more, or whose renewal has not succeeded for ``0.8 * ttl`` seconds
   (Redis unreachable), is **lost**: the account is stopped at once (its writes in flight are
   fenced by the store);
2. computes the fair share, ``ceil(accounts / live monitors)``; above it, it gives back the
   accounts it prefers least (stopped and drained first, then released: a *handover*);
3. below it, takes free accounts in its order of preference (rendezvous hashing of owner and
   account, so the split is stable) and starts them with the lease's epoch.

**Takeover bound**: a monitor that dies stops renewing; its member key and its leases expire at
most ``ttl`` after its last renewal, and the next poll of a survivor (at most ``poll`` later, one
more when the member count lags) takes them: ``ttl + 2 * poll`` = 15 s at the default 10 s TTL.
The TTL is not shorter because one trade_updates connection per key is allowed: a holder must
give up its stream (0.8 * ttl without a renewal) before anyone else may take the key, and that
must survive a Redis blip or a pause of a few seconds without handing accounts back and forth.

Imports ``monitor.leases`` only; the service passes its start and stop functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from alpaca_integration._closing import raise_if_cancelling
from alpaca_integration.monitor.leases import Lease, LeaseBoard

__all__ = ["ShardKeeper"]

log = logging.getLogger(__name__)

StartAccount = Callable[[str, Lease], Awaitable[None]]
StopAccount = Callable[[str], Awaitable[None]]
FenceFloor = Callable[[str], Awaitable[int]]

# A lease is given up this share of its TTL after the last renewal that succeeded.
_SAFETY = 0.8


@dataclass
class _Held:
    lease: Lease
    deadline: float


class ShardKeeper:
    """Keeps this monitor's fair share of ``accounts`` leased and running."""

    def __init__(
        self,
        board: LeaseBoard,
        accounts: Sequence[str],
        *,
        start: StartAccount,
        stop: StopAccount,
        fence_floor: FenceFloor,
        poll: float | None = None,
    ) -> None:
        self.board = board
        self.accounts = list(accounts)
        self.poll = poll if poll is not None else board.ttl / 4
        self._start, self._stop, self._fence_floor = start, stop, fence_floor
        self.held: dict[str, _Held] = {}
        self.lost = 0

    def _preference(self, account: str) -> bytes:
        return hashlib.sha256(f"{self.board.owner}|{account}".encode()).digest()

    async def run(self) -> None:
        """Poll until cancelled; then stop every account and release its lease.

        Renewals run in a task of their own, so a slow start or stop of an account (a catch-up,
        a drain) never delays the renewal of the others."""
        renewals = asyncio.create_task(self._every(self.renew), name="lease-renewals")
        try:
            await self._every(self.balance)
        finally:
            # The renewals go on while the accounts stop: a slow stop must not let the leases
            # not yet released lapse (another monitor would take them over while this one still
            # streams them). They end once every lease is given back.
            try:
                await asyncio.shield(self.release_all())
            finally:
                renewals.cancel()
                await asyncio.gather(renewals, return_exceptions=True)

    async def _every(self, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis down: keep what we hold until its deadline
                log.warning("lease poll failed: %s: %s", type(exc).__name__, exc)
                await self._drop_expired()
            raise_if_cancelling()
            await asyncio.sleep(self.poll)

    async def tick(self) -> None:
        """One renewal, then one balancing step (tests drive the keeper with this)."""
        await self.renew()
        await self.balance()

    async def renew(self) -> None:
        """Say this monitor is alive, renew what it holds, stop what it lost."""
        await self.board.heartbeat()
        holding = list(self.held.items())
        sent = time.monotonic()
        renewed = await self.board.renew_all([held.lease for _, held in holding])
        for (name, held), ok in zip(holding, renewed, strict=True):
            if ok:
                held.deadline = sent + _SAFETY * self.board.ttl
            elif self.held.get(name) is held:
                await self._lose(name, "the lease is held by another monitor now")
        await self._drop_expired()

    async def balance(self) -> None:
        """Give back what is above the fair share, take free accounts up to it."""
        members = max(1, len(await self.board.members()))
        fair = math.ceil(len(self.accounts) / members)
        if len(self.held) > fair:
            extra = sorted(self.held, key=self._preference)[: len(self.held) - fair]
            for name in extra:
                await self._give_back(name)
        elif len(self.held) < fair:
            wanted = [a for a in self.accounts if a not in self.held]
            free = await self.board.free(sorted(wanted, key=self._preference, reverse=True))
            for name in free[: fair - len(self.held)]:
                await self._take(name)

    async def _take(self, name: str) -> None:
        sent = time.monotonic()
        lease = await self.board.acquire(name, floor=await self._fence_floor(name))
        if lease is None:
            return
        self.held[name] = _Held(lease, sent + _SAFETY * self.board.ttl)
        log.info("%s: lease taken (epoch %d, %s)", name, lease.epoch, lease.kind)
        try:
            await self._start(name, lease)
        except Exception:
            log.exception("%s: could not start; giving the lease back", name)
            await self._give_back(name)
            return
        if self.held.get(name) is None or self.held[name].lease != lease:
            await self._stop(name)  # lost while starting: the stop found nothing to stop yet

    async def _give_back(self, name: str) -> None:
        held = self.held.get(name)
        if held is None:  # lost meanwhile (the renewal task stopped it)
            return
        # Held, and so renewed, until the account has stopped: a slow stop (a drain) must not
        # let the lease lapse into a takeover while this monitor still streams the account.
        await self._stop(name)
        if self.held.get(name) is not held:
            return  # lost while it stopped (the renewal task stopped it too: a no-op now)
        del self.held[name]
        with contextlib.suppress(Exception):
            await self.board.release(held.lease)
        log.info("%s: lease released (epoch %d)", name, held.lease.epoch)

    async def _lose(self, name: str, why: str) -> None:
        held = self.held.pop(name, None)
        if held is None:
            return
        self.lost += 1
        log.warning("%s: lease lost (epoch %d): %s; stopping it", name, held.lease.epoch, why)
        await self._stop(name)

    async def _drop_expired(self) -> None:
        now = time.monotonic()
        for name, held in list(self.held.items()):
            if now >= held.deadline:
                await self._lose(name, "no renewal succeeded within the lease's safety margin")

    async def release_all(self) -> None:
        """Stop every held account, then release its lease and leave (a graceful stop). The
        accounts stop together: one slow to stop does not hold the others' handovers back."""
        names = list(self.held)
        results = await asyncio.gather(
            *(self._give_back(name) for name in names), return_exceptions=True
        )
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                log.error("%s: stopping it failed: %s: %s", name, type(result).__name__, result)
        with contextlib.suppress(Exception):
            await self.board.leave()

    def holdings(self) -> dict[str, Any]:
        """``{account: epoch}`` of what this monitor holds."""
        return {name: held.lease.epoch for name, held in self.held.items()}
