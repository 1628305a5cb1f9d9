"""The checks' result rows (``ResultRows``): stream gaps, quality results, quarantine,
reconciliation runs and items, exposure snapshots, risk breaches.

The insert methods read the objects other modules already have (``reconcile.Finding``,
``risk.ExposureSnapshot``, ``risk.RiskBreach``, ``quality.QualityResult``) through the
``*Like`` protocols of ``storage.records``, so those modules need not import the store; the
``*Record`` types they read back are in ``storage.records`` too. Quarantining the same record for
the same reason twice keeps one row.

Imports ``errors`` and the ``storage`` modules it names; never the checks themselves, the client,
the cache or the sync engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Unpack

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from alpaca_integration.errors import StorageError
from alpaca_integration.storage import rules
from alpaca_integration.storage.base import (
    StoreBase,
    TimeWindow,
    aware,
    between,
    check_account,
    limited,
    rows_of,
    utcnow,
)
from alpaca_integration.storage.batch import Row, quarantine_row
from alpaca_integration.storage.dialect import upsert
from alpaca_integration.storage.records import (
    ExposureLike,
    ExposureRecord,
    FindingLike,
    QualityResultLike,
    QualityResultRecord,
    QuarantineRecord,
    ReconciliationItemRecord,
    ReconciliationRunRecord,
    RiskBreachLike,
    RiskBreachRecord,
    StreamGapRecord,
)
from alpaca_integration.storage.tables import (
    exposure_snapshots,
    quality_results,
    quarantine,
    reconciliation_items,
    reconciliation_runs,
    risk_breaches,
    stream_gaps,
)

__all__ = ["ResultRows", "insert_quarantine_rows"]


async def insert_quarantine_rows(
    connection: AsyncConnection, dialect: str, rows: Sequence[Row]
) -> int:
    """Insert quarantine rows, each at most once per (account, kind, key, reason); returns the
    rows new to the table."""
    if not rows:
        return 0
    statement = rules.on_conflict(rules.QUARANTINE, upsert(dialect, quarantine), dialect)
    statement = statement.returning(quarantine.c.id)
    return len((await connection.execute(statement, list(rows))).all())


class ResultRows(StoreBase):
    """Writes and reads the correctness tables."""

    # ------------------------------------------------------------------ stream gaps

    async def insert_stream_gap(
        self,
        account: str,
        *,
        gap_from: dt.datetime,
        gap_to: dt.datetime | None = None,
        reason: str,
        closed_by: str | None = None,
        rows_recovered: int = 0,
    ) -> int:
        """Record an interval the stream missed; returns the gap's id."""
        account = check_account(account)
        aware(gap_from, "gap_from")
        if gap_to is not None:
            aware(gap_to, "gap_to")
        async with self._write("record a stream gap") as connection:
            result = await connection.execute(
                sa.insert(stream_gaps)
                .values(
                    account=account,
                    gap_from=gap_from,
                    gap_to=gap_to,
                    reason=reason,
                    closed_by=closed_by,
                    rows_recovered=rows_recovered,
                    created_at=utcnow(),
                )
                .returning(stream_gaps.c.id)
            )
            return int(result.scalar_one())

    async def close_stream_gap(
        self,
        gap_id: int,
        *,
        gap_to: dt.datetime,
        closed_by: str,
        rows_recovered: int = 0,
    ) -> None:
        """Mark a gap closed: until when it ran, what closed it, how many rows came back."""
        aware(gap_to, "gap_to")
        async with self._write("close a stream gap") as connection:
            result = await connection.execute(
                sa.update(stream_gaps)
                .where(stream_gaps.c.id == gap_id)
                .values(gap_to=gap_to, closed_by=closed_by, rows_recovered=rows_recovered)
                .returning(stream_gaps.c.id)
            )
            if result.first() is None:
                raise StorageError(f"no stream gap with id {gap_id}")

    async def list_stream_gaps(
        self, account: str, *, open_only: bool = False, since: dt.datetime | None = None
    ) -> list[StreamGapRecord]:
        """The account's stream gaps by start time (``open_only``: not closed yet)."""
        query = rows_of(stream_gaps, account)
        if open_only:
            query = query.where(stream_gaps.c.closed_by.is_(None))
        query = between(query, stream_gaps.c.gap_from, since, None)
        query = query.order_by(stream_gaps.c.gap_from, stream_gaps.c.id)
        async with self._read("list stream gaps") as connection:
            result = await connection.execute(query)
            return [StreamGapRecord(**dict(row)) for row in result.mappings().all()]

    # ------------------------------------------------------------------ quality, quarantine

    async def insert_quality_results(self, results: Iterable[QualityResultLike]) -> int:
        """Write quality rule findings (run_id, rule, account, subject, severity, detail,
        created_at: None for now); returns the rows written."""
        now = utcnow()
        rows = [
            {
                "run_id": result.run_id,
                "rule": result.rule,
                "account": check_account(result.account),
                "subject": result.subject,
                "severity": result.severity,
                "detail": result.detail,
                "created_at": result.created_at or now,
            }
            for result in results
        ]
        return await self._insert_all("write quality results", quality_results, rows)

    async def list_quality_results(
        self,
        account: str,
        *,
        run_id: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        since: dt.datetime | None = None,
        limit: int | None = None,
    ) -> list[QualityResultRecord]:
        """Quality findings oldest first, narrowed by run, rule, severity and time."""
        query = rows_of(quality_results, account, run_id=run_id, rule=rule, severity=severity)
        query = between(query, quality_results.c.created_at, since, None)
        query = limited(query.order_by(quality_results.c.created_at, quality_results.c.id), limit)
        async with self._read("list quality results") as connection:
            result = await connection.execute(query)
            return [QualityResultRecord(**dict(row)) for row in result.mappings().all()]

    async def insert_quarantine(
        self,
        account: str,
        *,
        record_kind: str,
        record_key: str | None,
        reason: str,
        raw: bytes | str,
        source: str,
    ) -> bool:
        """Keep a refused record with its raw payload; False when it was already quarantined
        for the same reason (a replayed page)."""
        account = check_account(account)
        payload = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
        row = quarantine_row(
            account,
            record_kind=record_kind,
            record_key=record_key,
            reason=reason,
            raw=payload,
            source=str(source),
            now=utcnow(),
        )
        async with self._write("quarantine a record") as connection:
            return await insert_quarantine_rows(connection, self.dialect, [row]) == 1

    async def list_quarantine(
        self, account: str, *, record_kind: str | None = None, limit: int | None = None
    ) -> list[QuarantineRecord]:
        """Quarantined records oldest first, with their raw bytes verbatim."""
        query = rows_of(quarantine, account, record_kind=record_kind)
        query = limited(query.order_by(quarantine.c.created_at, quarantine.c.id), limit)
        async with self._read("list quarantine") as connection:
            result = await connection.execute(query)
            return [
                QuarantineRecord(**{**dict(row), "raw": bytes(row["raw"])})
                for row in result.mappings().all()
            ]

    # ------------------------------------------------------------------ reconciliation

    async def start_reconciliation_run(
        self, account: str, *, dry_run: bool, started_at: dt.datetime | None = None
    ) -> int:
        """Open a reconciliation run; returns its id for the items and the finish."""
        account = check_account(account)
        started = aware(started_at, "started_at") if started_at is not None else utcnow()
        async with self._write("start a reconciliation run") as connection:
            result = await connection.execute(
                sa.insert(reconciliation_runs)
                .values(account=account, started_at=started, dry_run=dry_run)
                .returning(reconciliation_runs.c.id)
            )
            return int(result.scalar_one())

    async def add_reconciliation_items(
        self, run_id: int, account: str, findings: Iterable[FindingLike]
    ) -> int:
        """Write one row per finding (kind, subject, difference, decision, detail)."""
        account = check_account(account)
        now = utcnow()
        rows = [
            {
                "run_id": run_id,
                "account": account,
                "kind": finding.kind,
                "subject": finding.subject,
                "difference": finding.difference,
                "decision": finding.decision,
                "detail": finding.detail,
                "created_at": now,
            }
            for finding in findings
        ]
        return await self._insert_all("write reconciliation items", reconciliation_items, rows)

    async def finish_reconciliation_run(
        self,
        run_id: int,
        *,
        finished_at: dt.datetime | None = None,
        summary: str | Mapping[str, Any] | None = None,
    ) -> None:
        """Close a run with its summary (text or a JSON-able mapping)."""
        finished = aware(finished_at, "finished_at") if finished_at is not None else utcnow()
        async with self._write("finish a reconciliation run") as connection:
            result = await connection.execute(
                sa.update(reconciliation_runs)
                .where(reconciliation_runs.c.id == run_id)
                .values(finished_at=finished, summary=summary)
                .returning(reconciliation_runs.c.id)
            )
            if result.first() is None:
                raise StorageError(f"no reconciliation run with id {run_id}")

    async def list_reconciliation_runs(
        self, account: str, *, limit: int | None = None
    ) -> list[ReconciliationRunRecord]:
        """Runs newest first."""
        account = check_account(account)
        query = limited(
            sa.select(reconciliation_runs)
            .where(reconciliation_runs.c.account == account)
            .order_by(reconciliation_runs.c.started_at.desc(), reconciliation_runs.c.id.desc()),
            limit,
        )
        async with self._read("list reconciliation runs") as connection:
            result = await connection.execute(query)
            return [
                ReconciliationRunRecord(**{**dict(row), "dry_run": bool(row["dry_run"])})
                for row in result.mappings().all()
            ]

    async def list_reconciliation_items(self, run_id: int) -> list[ReconciliationItemRecord]:
        """One run's items in the order they were written."""
        async with self._read("list reconciliation items") as connection:
            result = await connection.execute(
                sa.select(reconciliation_items)
                .where(reconciliation_items.c.run_id == run_id)
                .order_by(reconciliation_items.c.id)
            )
            return [ReconciliationItemRecord(**dict(row)) for row in result.mappings().all()]

    # ------------------------------------------------------------------ risk

    async def insert_exposure_snapshot(self, snapshot: ExposureLike) -> bool:
        """Write an exposure measurement; False when one already exists for that instant."""
        account = check_account(snapshot.account)
        aware(snapshot.at, "exposure at")
        detail = {"quantities": dict(snapshot.quantities), "unpriced": list(snapshot.unpriced)}
        row = {
            "account": account,
            "at": snapshot.at,
            "gross": snapshot.gross,
            "net": snapshot.net,
            "long": snapshot.long,
            "short": snapshot.short,
            "per_symbol": dict(snapshot.per_symbol),
            "detail": detail,
        }
        insert = upsert(self.dialect, exposure_snapshots)
        statement = rules.on_conflict(rules.EXPOSURE_SNAPSHOTS, insert, self.dialect).returning(
            exposure_snapshots.c.id
        )
        async with self._write("write an exposure snapshot") as connection:
            return len((await connection.execute(statement, row)).all()) == 1

    async def list_exposure_snapshots(
        self, account: str, **window: Unpack[TimeWindow]
    ) -> list[ExposureRecord]:
        """Exposure measurements by time (``since`` inclusive, ``until`` exclusive)."""
        return await self._list_by_time(
            "list exposure snapshots", exposure_snapshots, "at", account, _exposure_record, window
        )

    async def latest_exposure(self, account: str) -> ExposureRecord | None:
        """The newest exposure measurement, if any."""
        found = await self.list_exposure_snapshots(account, limit=1, newest_first=True)
        return found[0] if found else None

    async def insert_risk_breaches(self, breaches: Iterable[RiskBreachLike]) -> int:
        """Write limit breaches (account, at, limit_name, subject, value, limit, detail)."""
        rows = [
            {
                "account": check_account(breach.account),
                "at": aware(breach.at, "breach at"),
                "limit_name": breach.limit_name,
                "subject": breach.subject,
                "value": breach.value,
                "limit": breach.limit,
                "detail": breach.detail or "",
            }
            for breach in breaches
        ]
        return await self._insert_all("write risk breaches", risk_breaches, rows)

    async def list_risk_breaches(
        self, account: str, *, since: dt.datetime | None = None, limit: int | None = None
    ) -> list[RiskBreachRecord]:
        """Limit breaches by time."""
        query = rows_of(risk_breaches, account)
        query = between(query, risk_breaches.c.at, since, None)
        query = limited(query.order_by(risk_breaches.c.at, risk_breaches.c.id), limit)
        async with self._read("list risk breaches") as connection:
            result = await connection.execute(query)
            return [RiskBreachRecord(**dict(row)) for row in result.mappings().all()]


def _exposure_record(row: Mapping[Any, Any]) -> ExposureRecord:
    detail = row["detail"] or {}
    return ExposureRecord(
        id=row["id"],
        account=row["account"],
        at=row["at"],
        gross=row["gross"],
        net=row["net"],
        long=row["long"],
        short=row["short"],
        per_symbol={k: Decimal(str(v)) for k, v in (row["per_symbol"] or {}).items()},
        quantities={k: Decimal(str(v)) for k, v in (detail.get("quantities") or {}).items()},
        unpriced=tuple(detail.get("unpriced") or ()),
    )
