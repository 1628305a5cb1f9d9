"""The package's public surface and start-up."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import alpaca_integration


def test_every_public_name_resolves() -> None:
    """Every name in __all__ imports (the lazy export table has no stale entry)."""
    for name in alpaca_integration.__all__:
        assert getattr(alpaca_integration, name) is not None, name


def test_all_lists_every_public_model_and_error() -> None:
    """__all__ is complete: each public name of models, errors and config is exported."""
    for module_name in ("models", "errors", "config"):
        module = importlib.import_module(f"alpaca_integration.{module_name}")
        for name in module.__all__:
            if name.isupper():  # constants stay in their module
                continue
            assert name in alpaca_integration.__all__, f"{module_name}.{name} missing from __all__"


def test_every_module_imports() -> None:
    """No module of the package fails to import."""
    for info in pkgutil.walk_packages(alpaca_integration.__path__, "alpaca_integration."):
        importlib.import_module(info.name)


def test_cli_start_up_does_not_import_heavy_dependencies() -> None:
    """`alpacactl --help` loads no httpx, SQLAlchemy, Prefect, pandas or simulator."""
    code = (
        "import sys\n"
        "from alpaca_integration.cli.main import app\n"
        "heavy = [m for m in ('httpx', 'sqlalchemy', 'prefect', 'pandas', 'starlette', 'redis',"
        " 'alpaca_integration.simulator.app') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
