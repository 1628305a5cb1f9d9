"""Benchmark: decode a 500-order page into models, this package vs alpaca-py.

The page is built from the order payloads in ``tests/data/http_get_v2_orders.json`` (every order
type and class, brackets with a held leg, an mleg order), repeated with fresh ids up to 500
orders, and encoded compactly as Alpaca sends it. Both sides decode every field:

* this package: ``parse_orders(body)`` -> ``list[Order]`` (Decimals, UTC datetimes, enums, legs);
* alpaca-py, the way ``TradingClient.get_orders`` does it: ``json.loads`` (what ``response.json()``
  runs) then ``TypeAdapter(List[Order]).validate_python``; and the simpler ``Order(**d)`` loop.

Both start from the same bytes; the ratio is taken against the faster alpaca-py variant. Two
breakdown rows show the floor of this design: the msgspec decode alone, and the cost of merely
calling the frozen ``models.Order`` constructor for every order and leg with all values ready.

Prints the best time of several repetitions for each and the ratio (goal: >= 5x). It asserts
nothing: timing belongs here, never in the test suite.

Run: ``./dev run python benchmarks/parse.py [--orders 500] [--repeat 7] [--number 20]``
"""

from __future__ import annotations

import argparse
import json
import timeit
import uuid
from pathlib import Path
from typing import Any

import msgspec

from alpaca_integration.alpaca.parse import parse_orders
from alpaca_integration.alpaca.schemas import WireOrder

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "http_get_v2_orders.json"


def _with_fresh_ids(order: dict[str, Any], serial: int) -> dict[str, Any]:
    copy = dict(order)
    copy["id"] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{order['id']}/{serial}"))
    copy["client_order_id"] = f"bench-{serial}-{order['client_order_id']}"
    if order.get("legs"):
        copy["legs"] = [_with_fresh_ids(leg, serial) for leg in order["legs"]]
    return copy


def build_page(count: int) -> bytes:
    """A realistic page of ``count`` orders as compact JSON bytes."""
    samples = json.loads(DATA.read_text(encoding="utf-8"))
    page = [_with_fresh_ids(samples[i % len(samples)], i) for i in range(count)]
    return json.dumps(page, separators=(",", ":")).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=20)
    args = parser.parse_args()

    from alpaca.trading.models import Order as AlpacaPyOrder
    from pydantic import TypeAdapter

    body = build_page(args.orders)
    with_legs = sum(1 for order in json.loads(body) if order.get("legs"))

    def ours() -> Any:
        return parse_orders(body)

    def alpaca_py() -> Any:
        return [AlpacaPyOrder(**item) for item in json.loads(body)]

    def alpaca_py_client() -> Any:
        # TradingClient.get_orders builds the adapter on every call; so does this.
        return TypeAdapter(list[AlpacaPyOrder]).validate_python(json.loads(body))

    # Same orders, same legs on both sides before timing anything.
    mine, theirs = ours(), alpaca_py()
    assert len(mine) == len(theirs) == args.orders
    assert sum(len(o.legs) for o in mine) == sum(len(o.legs or ()) for o in theirs)
    assert alpaca_py_client() == theirs

    raw_list = msgspec.json.Decoder(list[msgspec.Raw])
    wire_order = msgspec.json.Decoder(WireOrder)

    def wire_decode(item: msgspec.Raw) -> Any:
        wire = wire_order.decode(item)
        return wire, [wire_decode(leg) for leg in wire.legs or ()]

    def wire_only() -> Any:
        # Where our time goes: the msgspec half of parse_orders (legs included), no models.
        return [wire_decode(item) for item in raw_list.decode(body)]

    def stdlib_json() -> Any:
        return json.loads(body)

    # Every model of the page (orders and legs) as ready constructor arguments: what is left
    # when decoding and mapping cost nothing.
    models = [model for order in mine for model in order.flatten()]
    arguments = [msgspec.structs.asdict(model) for model in models]
    order_type = type(mine[0])

    def construct_only() -> Any:
        return [order_type(**kwargs) for kwargs in arguments]

    results = {}
    for name, func in (
        ("alpaca_integration parse_orders", ours),
        ("alpaca-py TypeAdapter (its client)", alpaca_py_client),
        ("alpaca-py Order(**d)", alpaca_py),
        ("  breakdown: ours, wire decode only", wire_only),
        (f"  breakdown: ours, {len(models)} Order() calls only", construct_only),
        ("  breakdown: alpaca-py, json.loads", stdlib_json),
    ):
        times = timeit.repeat(func, repeat=args.repeat, number=args.number)
        results[name] = min(times) / args.number
    print(
        f"page: {args.orders} orders ({with_legs} with legs), {len(body):,} bytes; "
        f"best of {args.repeat} x {args.number} runs"
    )
    for name, seconds in results.items():
        per_order = seconds / args.orders * 1e6
        print(f"  {name:42s} {seconds * 1e3:8.2f} ms/page  {per_order:6.2f} us/order")
    ours_s = results["alpaca_integration parse_orders"]
    base_s = min(results["alpaca-py Order(**d)"], results["alpaca-py TypeAdapter (its client)"])
    floor_s = (
        results["  breakdown: ours, wire decode only"]
        + results[f"  breakdown: ours, {len(models)} Order() calls only"]
    )
    print(f"  speed-up vs alpaca-py (faster variant): {base_s / ours_s:.1f}x (goal >= 5x)")
    print(
        f"  floor of this design (decode + constructors): {floor_s * 1e3:.2f} ms/page, "
        f"at most {base_s / floor_s:.1f}x"
    )


if __name__ == "__main__":
    main()
