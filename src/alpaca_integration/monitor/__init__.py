"""The monitor: the long-running service and the one-shot jobs the CLI and the flows run.

* ``monitor.service``: ``MonitorService`` (stream + periodic syncs + reconciliation per account);
* ``monitor.run``: running it in a process (signals, a duration, the status line's rows);
* ``monitor.runtime``: opening and closing the store and the cache;
* ``monitor.jobs``: one sync, the quality rules, reconciliation, exposure, a pre-trade check;
* ``monitor.schema``: the store's migrations (``alpacactl db``).

This is the one part above sync that opens the store: the flows and the CLI reach the store only
through it, never ``storage`` directly. It may import sync, the checks, the client, storage and
cache; never Prefect, the CLI or the simulator. Nothing is imported here: import the module you
need (``alpacactl --help`` must stay fast).
"""

from __future__ import annotations

__all__: list[str] = []
