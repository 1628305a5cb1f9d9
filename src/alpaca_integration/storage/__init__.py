"""Storage: broker state and correctness results in PostgreSQL (or embedded SQLite).

``Store`` (``storage.store``) is the API: ``await Store.open(url)``, then ``apply_batch`` (or
``apply``) to write and the query methods to read (see docs/storage.md). ``storage.tables`` is
the schema, ``storage.migrate`` runs the Alembic migrations shipped in ``storage/migrations``,
``storage.dialect`` holds every PostgreSQL/SQLite difference, ``storage.rules`` the upsert rules.

Importing this package loads SQLAlchemy: the CLI imports it inside command bodies only.
Imports ``models`` and ``errors`` from the package; never the client, the cache or the CLI.
"""

from __future__ import annotations

from alpaca_integration.models import INTEGRATION_PREFIX
from alpaca_integration.storage.ledger_rows import LedgerWrite
from alpaca_integration.storage.migrate import (
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
)
from alpaca_integration.storage.records import (
    ApplyBatch,
    ApplyResult,
    Checkpoint,
    ExposureRecord,
    FillProgress,
    QualityResultRecord,
    QuarantineRecord,
    ReconciliationItemRecord,
    ReconciliationRunRecord,
    RiskBreachRecord,
    StoreDump,
    StreamGapRecord,
)
from alpaca_integration.storage.store import Store

__all__ = [
    "INTEGRATION_PREFIX",
    "ApplyBatch",
    "ApplyResult",
    "Checkpoint",
    "ExposureRecord",
    "FillProgress",
    "LedgerWrite",
    "QualityResultRecord",
    "QuarantineRecord",
    "ReconciliationItemRecord",
    "ReconciliationRunRecord",
    "RiskBreachRecord",
    "Store",
    "StoreDump",
    "StreamGapRecord",
    "current_revision",
    "downgrade",
    "head_revision",
    "schema_diff",
    "upgrade",
]
