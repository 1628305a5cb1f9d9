"""The settings and the accounts a command acts for, read once and checked at the CLI boundary.

:func:`load` reads the settings and the accounts; :func:`select` picks the ``--account`` names
(all when none are given); :func:`select_one` picks the one account a trading command acts for
(the only one, else ``default``, else ``--account`` is required). Every mistake is a
``ConfigError`` naming the setting (exit code 2 through ``cli._errors``).

Beyond what ``config`` checks, this module refuses at start-up what would otherwise fail later
with a cryptic error: an accounts file that cannot be read as UTF-8 text (a directory, binary
bytes), a key or secret with characters an HTTP header cannot carry, and a base or stream URL
whose port is out of range. (These checks belong in ``config``; they live here until it has them.)

Imports ``errors``, and ``config`` (pydantic) only when called, so ``alpacactl --help`` stays
fast; nothing that does I/O beyond reading the accounts file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from alpaca_integration.errors import ConfigError

if TYPE_CHECKING:
    from alpaca_integration.config import AccountConfig, AlpacaSettings

__all__ = ["configured_names", "ledger_methods", "load", "select", "select_one"]


def _read_accounts(settings: AlpacaSettings) -> dict[str, AccountConfig]:
    from alpaca_integration.config import load_accounts

    try:
        return load_accounts(settings)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"ALPACA_ACCOUNTS_FILE {settings.accounts_file} cannot be read as UTF-8 text "
            f"({reason}). Fix: point it at a TOML file (see README: Several accounts)",
            setting="ALPACA_ACCOUNTS_FILE",
        ) from None


def _where(account: AccountConfig, field: str, *, from_file: bool) -> str:
    return f"accounts.{account.name}.{field}" if from_file else f"ALPACA_{field.upper()}"


def _check(account: AccountConfig, *, from_file: bool) -> None:
    """What an HTTP request or a socket would trip over later, said now with the setting."""
    for field in ("api_key", "secret_key"):
        secret = getattr(account, field).get_secret_value()
        if not secret.isascii() or not secret.isprintable():
            where = _where(account, field, from_file=from_file)
            raise ConfigError(
                f"invalid setting {where}: it contains characters an HTTP header cannot carry "
                "(non-ASCII or control characters). Fix: copy the key again from the Alpaca "
                "dashboard (keys are plain ASCII)",
                setting=where,
            )
    for field in ("base_url", "stream_url"):
        url = getattr(account, field)
        try:
            urlsplit(url or "").port  # noqa: B018  (parsing the port is the check)
        except ValueError as exc:
            where = _where(account, field, from_file=from_file)
            raise ConfigError(
                f"invalid setting {where}: {exc} in {url!r}. Fix: use a port from 1 to 65535",
                setting=where,
            ) from None


def configured_names(settings: AlpacaSettings) -> list[str]:
    """The account names of ``ALPACA_ACCOUNTS_FILE``, the file read (and a broken one refused)
    as every command reads it; empty without a file. For readers that use no keys or URLs."""
    if settings.accounts_file is None:
        return []
    return list(_read_accounts(settings))


def ledger_methods(settings: AlpacaSettings) -> dict[str, str]:
    """Each configured account's ledger matching method (``ledger_method`` in the accounts
    file); empty without a file (every ledger then matches FIFO)."""
    if settings.accounts_file is None:
        return {}
    return {name: account.ledger_method for name, account in _read_accounts(settings).items()}


def load() -> tuple[AlpacaSettings, dict[str, AccountConfig]]:
    """The settings and every configured account, checked."""
    from alpaca_integration.config import load_settings

    settings = load_settings()
    accounts = _read_accounts(settings)
    for account in accounts.values():
        _check(account, from_file=settings.accounts_file is not None)
    return settings, accounts


def select(names: Sequence[str] | None) -> tuple[AlpacaSettings, list[AccountConfig]]:
    """The settings and the named accounts (every configured one when ``names`` is empty)."""
    settings, accounts = load()
    if not names:
        return settings, list(accounts.values())
    unknown = [name for name in names if name not in accounts]
    if unknown:
        raise ConfigError(
            f"unknown account(s) {', '.join(unknown)}; configured: {', '.join(accounts)}. "
            "Fix: pass one of the configured names to --account",
            setting="--account",
        )
    return settings, [accounts[name] for name in names]


def select_one(name: str | None) -> tuple[AlpacaSettings, AccountConfig]:
    """The one account a command acts for: ``--account``, else the only one, else
    ``default``; with several and none chosen, a ``ConfigError`` (never a guess)."""
    if name is not None:
        settings, chosen = select([name])
        return settings, chosen[0]
    settings, accounts = load()
    if len(accounts) == 1:
        return settings, next(iter(accounts.values()))
    if "default" in accounts:
        return settings, accounts["default"]
    raise ConfigError(
        f"several accounts are configured ({', '.join(accounts)}): choose one with --account",
        setting="--account",
    )
