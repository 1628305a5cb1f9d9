"""``GET /_sim/stream/lags``: per fill event, how long after its venue time its frame was handed
to the stream's socket (the venue's part of a fill's way to a client's store)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
from websockets.sync.client import connect

from alpaca_integration.simulator.config import SimConfig
from alpaca_integration.simulator.testing import running_simulator

KEY, SECRET = "PKLAGTEST00000000001", "lag-secret"


def test_each_streamed_fill_has_its_send_lag_and_nothing_else_does() -> None:
    config = SimConfig(clock="always-open", seed=3, rate_limit=0, volatility=0.0)
    with running_simulator(config) as sim:
        base = f"http://{sim.host}:{sim.port}"
        before = dt.datetime.now(dt.UTC).timestamp()
        with connect(f"ws://{sim.host}:{sim.port}/stream") as ws:
            auth = {"action": "authenticate", "data": {"key_id": KEY, "secret_key": SECRET}}
            ws.send(json.dumps(auth))
            ws.recv(timeout=10)
            ws.send(json.dumps({"action": "listen", "data": {"streams": ["trade_updates"]}}))
            ws.recv(timeout=10)
            headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
            body = {"symbol": "AAPL", "qty": "1", "side": "buy", "type": "market"}
            body["time_in_force"] = "day"
            answer = httpx.post(f"{base}/v2/orders", json=body, headers=headers, timeout=10)
            assert answer.status_code == 200, answer.text
            order_id = answer.json()["id"]
            events = []
            while "fill" not in events:
                events.append(json.loads(ws.recv(timeout=10))["data"]["event"])
        after = dt.datetime.now(dt.UTC).timestamp()
        lags = httpx.get(f"{base}/_sim/stream/lags", params={"since": before}).json()
        # One entry: the fill's (pending_new and new are no fills), sent within the test.
        assert [f["order_id"] for f in lags["fills"]] == [order_id], (events, lags)
        assert 0 <= lags["fills"][0]["send_lag_ms"] <= (after - before) * 1000
        later = httpx.get(f"{base}/_sim/stream/lags", params={"since": after + 1}).json()
        assert later == {"fills": []}
        refused = httpx.get(f"{base}/_sim/stream/lags", params={"since": "soon"})
        assert refused.status_code == 400
