"""``POST /_sim/orders``: orders of many accounts placed in one admin request, each as
``POST /v2/orders`` would place it (same validation, same stream events, same fills)."""

from __future__ import annotations

import httpx

from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.testing import running_simulator

KEYS = {"PKBATCH0000000000001": "batch-secret-1", "PKBATCH0000000000002": "batch-secret-2"}


def test_orders_of_two_accounts_in_one_request_fill_like_rest_orders() -> None:
    config = SimConfig(clock="always-open", seed=5, rate_limit=0, volatility=0.0)
    with running_simulator(config) as sim:
        base = f"http://{sim.host}:{sim.port}"
        for key, secret in KEYS.items():  # an account exists once its key made a request
            headers = {"APCA-API-KEY-ID": key, "APCA-API-SECRET-KEY": secret}
            assert httpx.get(f"{base}/v2/account", headers=headers).status_code == 200
        order = {"symbol": "AAPL", "qty": "2", "side": "buy", "type": "market"}
        batch = [{"key_id": key, "order": {**order, "time_in_force": "day"}} for key in KEYS]
        batch.append({"key_id": "PKNOBODY", "order": order})
        batch.append({"key_id": next(iter(KEYS)), "order": {**order, "qty": "-1"}})
        answer = httpx.post(f"{base}/_sim/orders", json={"orders": batch}, timeout=10).json()
        assert answer["placed"] == 2
        assert [r["index"] for r in answer["refused"]] == [2, 3]
        assert "unknown key_id" in answer["refused"][0]["message"]
        for key in KEYS:
            dump = sim.dump(key)
            for _ in range(50):  # a market order fills on the first ticks; 50 is a wide bound
                if dump["positions"]:
                    break
                sim.tick()
                dump = sim.dump(key)
            assert [(p["symbol"], p["qty"]) for p in dump["positions"]] == [("AAPL", "2")]
            assert [o["filled_qty"] for o in dump["orders"]] == ["2"]
        bad = httpx.post(f"{base}/_sim/orders", json={"nope": 1}, timeout=10)
        assert bad.status_code == 400
