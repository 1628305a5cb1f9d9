"""alpacactl commands: sim (placeholder until its issue lands)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
