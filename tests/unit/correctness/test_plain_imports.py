"""The suite never skips itself: the project's own modules are imported plainly, so a broken or
missing module fails collection under CI instead of turning its tests into silent skips."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]


def _own_module_skips(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "importorskip"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] == "alpaca_integration"
        ):
            found.append(f"{path.relative_to(TESTS)}:{node.lineno} {node.args[0].value}")
    return found


def test_no_test_skips_on_the_projects_own_modules() -> None:
    """No `pytest.importorskip("alpaca_integration...")` anywhere in the tests."""
    skips = [skip for path in sorted(TESTS.rglob("*.py")) for skip in _own_module_skips(path)]
    assert skips == []
