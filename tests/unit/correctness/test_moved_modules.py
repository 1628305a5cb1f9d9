"""Modules moved by the house refactor keep their old import paths: every name they exported
before the move still resolves, to the very object at its new home."""

from __future__ import annotations

import importlib

import pytest

# Each old module, the names its __all__ listed before the move, and where they live now.
MOVED = [
    (
        "alpaca_integration.quality",
        "alpaca_integration.checks.quality",
        "DEFAULT_MAX_SKEW MAX_MAGNITUDE RULES SEVERITY_ERROR SEVERITY_WARNING PageSplit "
        "QualityResult Quarantined Record StoreState evaluate_rules load_state record_key "
        "record_kind run_rules screen split_page validate_activity validate_fill validate_order "
        "validate_position validate_record validate_snapshot validate_trade_update",
    ),
    (
        "alpaca_integration.risk",
        "alpaca_integration.checks.risk",
        "ExposureSnapshot PreTradeCheck RiskBreach RiskCheck RiskLimits RiskState SymbolLimits "
        "check_order check_replace client_for_account exposure_breaches make_pre_trade_check "
        "measure_exposure order_reference_price record_exposure replaced_order_request",
    ),
    (
        "alpaca_integration.reconcile",
        "alpaca_integration.checks.reconcile",
        "INTEGRATION_PREFIX Finding ReconcileClient ReconcileReport ReconcileStore diff_fills "
        "diff_orders diff_positions external_order_ids infer_missing_fill is_integration_order "
        "reconcile",
    ),
    (
        "alpaca_integration.service",
        "alpaca_integration.monitor.service",
        "AccountStatus MonitorService",
    ),
    (
        "alpaca_integration.service",
        "alpaca_integration.monitor.runtime",
        "close_store_and_cache open_store_and_cache",
    ),
    ("alpaca_integration.service", "alpaca_integration.monitor.jobs", "record_exposure"),
    (
        "alpaca_integration.sync.compare",
        "alpaca_integration.testing.compare",
        "compare_with_venue normalize_store_dump normalize_venue_dump",
    ),
    (
        "alpaca_integration.demo",
        "alpaca_integration.testing.demo",
        "DEMO_ACCOUNT DEMO_CLOCKS run_demo",
    ),
    (
        "alpaca_integration.demo",
        "alpaca_integration.testing.sessions",
        "DEMO_SYMBOLS SessionStats random_session scripted_session",
    ),
    (
        "alpaca_integration.ledger.symbols",
        "alpaca_integration.instruments",
        "CONTRACT_MULTIPLIER OptionSymbol contract_multiplier is_crypto_symbol parse_occ_symbol "
        "plain_symbol",
    ),
]


def test_the_testing_package_names_the_simulator_helpers() -> None:
    """`alpaca_integration.testing` re-exports the simulator's testing helpers beside the
    comparer and the sessions, as the very objects of their homes."""
    import alpaca_integration.testing as testing
    from alpaca_integration.simulator import testing as sim_testing
    from alpaca_integration.testing import compare, sessions

    assert testing.running_simulator is sim_testing.running_simulator
    assert testing.SimulatorHandle is sim_testing.SimulatorHandle
    assert testing.SIM_API_KEY == sim_testing.SIM_API_KEY
    assert testing.compare_with_venue is compare.compare_with_venue
    assert testing.random_session is sessions.random_session
    for name in testing.__all__:
        assert getattr(testing, name) is not None, name


@pytest.mark.parametrize(("old", "new", "names"), MOVED, ids=[f"{m[0]}->{m[1]}" for m in MOVED])
def test_old_path_re_exports_every_name(old: str, new: str, names: str) -> None:
    """`from <old module> import NAME` still works for every name it exported, and gives the
    object the new module defines (not a copy that could drift)."""
    old_module = importlib.import_module(old)
    new_module = importlib.import_module(new)
    for name in names.split():
        assert name in old_module.__all__, f"{old}.__all__ lost {name}"
        assert getattr(old_module, name) is getattr(new_module, name), f"{old}.{name}"
