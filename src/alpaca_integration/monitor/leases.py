"""Account leases in Redis: which monitor streams which account, and its fencing epoch.

Several ``alpacactl monitor`` processes (on any machines) share the configured accounts. Each
account is streamed by the one monitor holding its lease:

* ``{prefix}:lease:{account}`` = ``owner|epoch``, taken with ``SET NX PX ttl`` and renewed (only
  by its owner, checked in the same Lua call) every ``ttl / 4`` seconds;
* ``{prefix}:lease:{account}:epoch``: a counter raised on every acquisition (never below the epoch
  the store last saw, so a flushed Redis cannot hand out an epoch the store would refuse); the
  epoch is the **fencing token**: every write of the holder carries it (:class:`FencedStore`) and
  the store refuses, in the write's own transaction, an epoch older than the newest one it stored
  (``storage.records.FENCE_FEED``), so a monitor that lost its lease cannot write once the new
  owner has;
* ``{prefix}:lease:{account}:released``: the epoch last released on purpose (a graceful stop or a
  rebalance), which tells a *handover* from a *takeover* (the holder died);
* ``{prefix}:monitors:{owner}``: one key per live monitor (host, pid, start), renewed like the
  leases; the live count sets each monitor's fair share of the accounts.

Imports redis lazily (inside the constructor); never the CLI, Prefect or the simulator.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alpaca_integration.alpaca.pretrade import RENEW_IF_HOLDER_LUA
from alpaca_integration.errors import ConfigError

if TYPE_CHECKING:
    from alpaca_integration.storage import ApplyBatch, ApplyResult, Store

__all__ = [
    "DEFAULT_LEASE_PREFIX",
    "DEFAULT_LEASE_TTL",
    "FencedStore",
    "Lease",
    "LeaseBoard",
    "LeaseHolder",
    "MonitorMember",
]

# Seconds a lease outlives its holder's last renewal (see docs/monitoring.md for the bound).
DEFAULT_LEASE_TTL = 10.0
# Monitors that share accounts use the same prefix; separate deployments on one Redis, another.
DEFAULT_LEASE_PREFIX = "alpaca:leases"

# KEYS: lease, epoch counter, released marker. ARGV: owner, ttl ms, store's epoch (floor).
# Returns {epoch, kind} (kind: first, handover, takeover) or false when the lease is held.
_LUA_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[3])
local epoch = math.max(previous, floor) + 1
redis.call('SET', KEYS[2], epoch)
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
local kind = 'takeover'
if previous == 0 and floor == 0 then kind = 'first'
elseif redis.call('GET', KEYS[3]) == tostring(previous) then kind = 'handover' end
return {epoch, kind}
"""

# KEYS: lease, released marker. ARGV: owner|epoch, epoch.
_LUA_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Lease:
    """An account held by this monitor: its fencing ``epoch`` and how it was taken
    (``first``, ``handover`` from a monitor that let it go, ``takeover`` from one that died)."""

    account: str
    owner: str
    epoch: int
    kind: str

    @property
    def token(self) -> str:
        return f"{self.owner}|{self.epoch}"


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds an account right now (``alpacactl monitor --status``)."""

    account: str
    owner: str | None
    epoch: int | None
    expires_in: float | None


@dataclass(frozen=True)
class MonitorMember:
    """A live monitor process."""

    owner: str
    host: str
    pid: int
    started_at: str
    expires_in: float


def default_owner() -> str:
    """``host:pid:random``: unique per process, readable in ``--status``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaseBoard:
    """The leases and the monitors' membership in one Redis (``redis_url``)."""

    def __init__(
        self,
        redis_url: str,
        *,
        prefix: str = DEFAULT_LEASE_PREFIX,
        ttl: float = DEFAULT_LEASE_TTL,
        owner: str | None = None,
    ) -> None:
        if not ttl > 0:
            raise ConfigError(f"the lease TTL must be more than 0 seconds, got {ttl:g}")
        import redis.asyncio

        self.prefix = prefix
        self.ttl = ttl
        self.owner = owner or default_owner()
        self._ttl_ms = max(1, round(ttl * 1000))
        self._redis: Any = redis.asyncio.Redis.from_url(
            redis_url, socket_connect_timeout=2.0, socket_timeout=2.0, decode_responses=True
        )
        self._acquire = self._redis.register_script(_LUA_ACQUIRE)
        # KEYS: lease. ARGV: owner|epoch, ttl ms.
        self._renew = self._redis.register_script(RENEW_IF_HOLDER_LUA)
        self._release = self._redis.register_script(_LUA_RELEASE)
        self._started_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    def _lease_key(self, account: str) -> str:
        return f"{self.prefix}:lease:{account}"

    def _member_key(self, owner: str) -> str:
        return f"{self.prefix}:monitors:{owner}"

    async def aclose(self) -> None:
        await self._redis.aclose()

    # ------------------------------------------------------------------ membership

    async def heartbeat(self) -> None:
        """Say this monitor is alive for another ``ttl`` seconds."""
        value = json.dumps(
            {"host": socket.gethostname(), "pid": os.getpid(), "started": self._started_at}
        )
        await self._redis.set(self._member_key(self.owner), value, px=self._ttl_ms)

    async def leave(self) -> None:
        await self._redis.delete(self._member_key(self.owner))

    async def members(self) -> list[MonitorMember]:
        """The live monitors (this one included once it has sent a heartbeat)."""
        keys = [key async for key in self._redis.scan_iter(match=self._member_key("*"))]
        out: list[MonitorMember] = []
        for key in sorted(keys):
            raw, pttl = await self._redis.get(key), await self._redis.pttl(key)
            if raw is None or pttl < 0:
                continue
            info = json.loads(raw)
            owner = key[len(self._member_key("")) :]
            out.append(
                MonitorMember(owner, info["host"], info["pid"], info["started"], pttl / 1000)
            )
        return out

    # ------------------------------------------------------------------ leases

    async def free(self, accounts: Iterable[str]) -> list[str]:
        """The accounts nobody holds right now (in the order given)."""
        names = list(accounts)
        if not names:
            return []
        values = await self._redis.mget([self._lease_key(a) for a in names])
        return [name for name, value in zip(names, values, strict=True) if value is None]

    async def acquire(self, account: str, *, floor: int = 0) -> Lease | None:
        """Take the account's lease if it is free; ``floor``: the newest epoch the store saw."""
        key = self._lease_key(account)
        result = await self._acquire(
            keys=[key, f"{key}:epoch", f"{key}:released"],
            args=[self.owner, self._ttl_ms, max(0, floor)],
        )
        if not result:
            return None
        epoch, kind = result
        return Lease(account, self.owner, int(epoch), str(kind))

    async def renew(self, lease: Lease) -> bool:
        """Extend the lease by ``ttl``; False when it is no longer ours (expired, taken)."""
        renewed = await self._renew(
            keys=[self._lease_key(lease.account)], args=[lease.token, self._ttl_ms]
        )
        return bool(renewed)

    async def renew_all(self, leases: Sequence[Lease]) -> list[bool]:
        """``renew`` of each lease (each its own Lua call, checked against its own holder), sent
        in one pipeline: one round trip for all the leases a monitor holds, not one each."""
        if not leases:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for lease in leases:
            await self._renew(
                keys=[self._lease_key(lease.account)], args=[lease.token, self._ttl_ms], client=pipe
            )
        return [bool(renewed) for renewed in await pipe.execute()]

    async def release(self, lease: Lease) -> bool:
        """Let the account go now (marked as a handover for the next holder)."""
        key = self._lease_key(lease.account)
        released = await self._release(
            keys=[key, f"{key}:released"], args=[lease.token, lease.epoch]
        )
        return bool(released)

    async def holders(self, accounts: Iterable[str]) -> list[LeaseHolder]:
        """Who holds each account, its epoch and how long until the lease expires."""
        out: list[LeaseHolder] = []
        for account in accounts:
            key = self._lease_key(account)
            value, pttl = await self._redis.get(key), await self._redis.pttl(key)
            if value is None:
                out.append(LeaseHolder(account, None, None, None))
                continue
            owner, _, epoch = value.rpartition("|")
            out.append(LeaseHolder(account, owner, int(epoch), pttl / 1000 if pttl >= 0 else None))
        return out


class FencedStore:
    """The store as one lease holder writes it: every ``apply`` carries the lease's epoch, so
    the store refuses it once a newer holder has written (``FencedWriteError``). Everything
    else is the store itself."""

    def __init__(self, store: Store, epoch: int) -> None:
        self._store = store
        self.epoch = epoch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def apply(self, account: str, **fields: Any) -> ApplyResult:
        return await self._store.apply(account, fence=self.epoch, **fields)

    async def apply_batch(self, account: str, batch: ApplyBatch) -> ApplyResult:
        import msgspec

        return await self._store.apply_batch(
            account, msgspec.structs.replace(batch, fence=self.epoch)
        )
