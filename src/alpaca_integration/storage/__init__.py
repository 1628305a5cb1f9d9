"""Storage: broker state and correctness results in PostgreSQL (or embedded SQLite).

``Store`` (``storage.repository``) is the API: ``await Store.open(url)``, then ``apply`` to write
and the query methods to read (see docs/storage.md). ``storage.tables`` is the schema,
``storage.migrate`` runs the Alembic migrations shipped in ``storage/migrations``,
``storage.dialect`` holds every PostgreSQL/SQLite difference.

Importing this package loads SQLAlchemy: the CLI imports it inside command bodies only.
Imports ``models`` and ``errors`` from the package; never the client, the cache or the CLI.
"""

from __future__ import annotations

from alpaca_integration.storage.migrate import (
    current_revision,
    downgrade,
    head_revision,
    schema_diff,
    upgrade,
)
from alpaca_integration.storage.records import (
    ApplyResult,
    Checkpoint,
    ExposureRecord,
    FillProgress,
    QualityResultRecord,
    QuarantineRecord,
    ReconciliationItemRecord,
    ReconciliationRunRecord,
    RiskBreachRecord,
    StreamGapRecord,
)
from alpaca_integration.storage.repository import INTEGRATION_PREFIX, Store

__all__ = [
    "INTEGRATION_PREFIX",
    "ApplyResult",
    "Checkpoint",
    "ExposureRecord",
    "FillProgress",
    "QualityResultRecord",
    "QuarantineRecord",
    "ReconciliationItemRecord",
    "ReconciliationRunRecord",
    "RiskBreachRecord",
    "Store",
    "StreamGapRecord",
    "current_revision",
    "downgrade",
    "head_revision",
    "schema_diff",
    "upgrade",
]
