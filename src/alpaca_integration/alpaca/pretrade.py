"""The pre-trade hook the client runs before placing or replacing an order, and the lock that
makes check-and-place one step.

The client knows no risk policy: a check is injected (``PreTradeCheck``), built from an account's
limits by ``checks.risk.make_pre_trade_check`` and installed by ``client_for_account``. A check
refuses by raising (usually ``RiskLimitError``) before any request is sent.

A check reads the account (positions, open orders), then the order is placed. Two submits whose
checks both run before either order lands would each see room for themselves. So when a check is
installed, check and placement run under an ``OrderLock``: ``LocalOrderLock`` within the client,
``RedisOrderLock`` across every process using the key when a Redis URL is configured (a lease
keeps a dead process from blocking the others).

This module imports only ``models``, ``errors`` and ``alpaca.requests`` from the package (``redis``
when a Redis lock is made); never risk (or any check), httpx, storage or sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from alpaca_integration._closing import cancel_and_wait, raise_if_cancelling
from alpaca_integration.alpaca.requests import replaced_intent
from alpaca_integration.errors import RiskLimitError
from alpaca_integration.models import Order, OrderIntent, ReplaceRequest

if TYPE_CHECKING:
    from alpaca_integration.alpaca.client import AlpacaClient

__all__ = [
    "RENEW_IF_HOLDER_LUA",
    "LocalOrderLock",
    "OrderLock",
    "PreTradeCheck",
    "PreTradeCheckFactory",
    "RedisOrderLock",
    "ReplaceAwareCheck",
    "make_order_lock",
    "order_lock_key",
    "run_replace_check",
]

# The client's one logger, whichever module of the adapter speaks: users filter on one name.
log = logging.getLogger("alpaca_integration.alpaca.client")

PreTradeCheck = Callable[[OrderIntent], Awaitable[None]]
"""An async callable run before any request of ``submit_order`` and ``replace_order``; it refuses
by raising (e.g. ``RiskLimitError``). It is given an ``OrderRequest`` or, for a multi-leg option
order, a ``MultiLegOrderRequest``. The client knows no risk policy: the check is injected
(``checks.risk.make_pre_trade_check`` builds one from an account's limits;
``client_for_account`` installs it). For a replace, a check that is also a
``ReplaceAwareCheck`` gets ``check_replace(old_order, replace_request)`` (so it can release the old
order's quantity); any other check is called with the order as it would be after the replace
(``requests.replaced_intent``)."""

PreTradeCheckFactory = Callable[["AlpacaClient"], PreTradeCheck]
"""Builds a client's pre-trade check once the client exists (a check may read the broker through
the client it guards)."""


@runtime_checkable
class ReplaceAwareCheck(Protocol):
    """A pre-trade check that values a replace itself (old order released, new one counted)."""

    async def check_replace(self, old: Order, change: ReplaceRequest) -> None: ...


async def run_replace_check(check: PreTradeCheck, old: Order, change: ReplaceRequest) -> None:
    """Check a replace of ``old``: ``check_replace`` when the check has it, else the check on the
    order as it would be after the replace."""
    if isinstance(check, ReplaceAwareCheck):
        await check.check_replace(old, change)
        return
    await check(replaced_intent(old, change))


# --------------------------------------------------------------------------- check-and-place lock


class OrderLock(Protocol):
    """Serialises check-and-place for one API key: ``async with lock.hold(): check; place``."""

    def hold(self) -> AbstractAsyncContextManager[None]: ...

    async def aclose(self) -> None: ...


class LocalOrderLock:
    """One holder at a time within this process (this client)."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._lock:
            yield

    async def aclose(self) -> None:
        return None


# KEYS: the key held. ARGV: the holder's token, lease in ms. Extends the lease only for its holder
# (1 when renewed, 0 when the key is not ours). The monitor's account leases use it too.
RENEW_IF_HOLDER_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: the lock. ARGV: the holder's token. Deletes it only for its holder.
_LUA_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisOrderLock:
    """One holder at a time across every process using the key, through Redis.

    The lock is a key set with ``NX`` and a lease (``PX``), renewed every third of the lease while
    held and released only by its holder (a token), so a process that dies stops blocking the
    others once its lease runs out. Waiting for it polls Redis (real time: the lease runs on the
    Redis server) for at most ``wait`` seconds, then refuses the order (``RiskLimitError``,
    nothing sent). If Redis cannot be reached, only this process's lock holds (a warning is
    logged): trading goes on, serialised within the process.
    """

    def __init__(
        self, redis_url: str, key: str, *, lease: float = 10.0, wait: float = 120.0
    ) -> None:
        import redis.asyncio

        self.key = key
        self.lease = lease
        self.wait = wait
        self._local = LocalOrderLock()
        self._redis: Any = redis.asyncio.Redis.from_url(
            redis_url, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._renew = self._redis.register_script(RENEW_IF_HOLDER_LUA)
        self._release = self._redis.register_script(_LUA_RELEASE)

    async def _acquire(self, token: str) -> bool:
        """True once this token holds the lock; False when Redis cannot be reached."""
        deadline = time.monotonic() + self.wait
        lease_ms = int(self.lease * 1000)
        while True:
            try:
                if await self._redis.set(self.key, token, nx=True, px=lease_ms):
                    return True
            except self._redis_errors as exc:
                log.warning(
                    "order lock: Redis unreachable (%s); check-and-place is serialised within "
                    "this process only",
                    type(exc).__name__,
                )
                return False
            if time.monotonic() >= deadline:
                raise RiskLimitError(
                    f"the order lock for this key has been held elsewhere for over {self.wait:g} "
                    "s, so the pre-trade check could not run alone; nothing was sent. Try again",
                    limit="order_lock",
                )
            await asyncio.sleep(random.uniform(0.02, 0.1))

    async def _keep(self, token: str) -> None:
        """Renew the lease while held (until cancelled)."""
        while True:
            raise_if_cancelling()
            await asyncio.sleep(self.lease / 3)
            with contextlib.suppress(*self._redis_errors):
                await self._renew(keys=[self.key], args=[token, int(self.lease * 1000)])

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        async with self._local.hold():  # one waiter per process polls Redis
            token = uuid.uuid4().hex
            if not await self._acquire(token):
                yield
                return
            renewal = asyncio.create_task(self._keep(token))
            try:
                yield
            finally:
                try:
                    await cancel_and_wait(renewal)
                finally:  # given back whatever happens while the renewal stops
                    with contextlib.suppress(*self._redis_errors):
                        await self._release(keys=[self.key], args=[token])

    async def aclose(self) -> None:
        await self._redis.aclose()


def order_lock_key(key_id: str, prefix: str = "alpaca_integration:orderlock") -> str:
    """The Redis key of a key id's order lock (the id hashed, as for the rate budget)."""
    return f"{prefix}:{hashlib.sha256(key_id.encode()).hexdigest()[:24]}"


def make_order_lock(key_id: str, redis_url: str | None) -> OrderLock:
    """The lock for one key: through Redis when a URL is given, else within this client."""
    if redis_url:
        return RedisOrderLock(redis_url, order_lock_key(key_id))
    return LocalOrderLock()
