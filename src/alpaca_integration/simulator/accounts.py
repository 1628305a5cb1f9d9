"""The venue's accounts: one per API key pair, created on first use, and their configuration.

``AccountBook.authenticate`` is the venue's login: the account of a key pair (created with the
starting cash on first use; the first secret seen is bound to the key), or 401 with Alpaca's
body. With an accounts file only its key pairs get in, each with its own cash and type.
``update_configuration`` is ``PATCH /v2/account/configurations``.

This module imports nothing from the package outside the simulator.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from alpaca_integration.simulator.clock import SimClock
from alpaca_integration.simulator.config import AccountSpec, SimConfig
from alpaca_integration.simulator.state import Account
from alpaca_integration.simulator.tape import Tape
from alpaca_integration.simulator.wire import (
    CODE_UNAUTHORIZED,
    VenueError,
    forbidden,
    invalid,
    not_found,
    parse_bool,
    require_object,
)

__all__ = ["AccountBook", "update_configuration"]

_CONFIG_CHOICES: dict[str, tuple[str, ...]] = {
    "dtbp_check": ("both", "entry", "exit"),
    "pdt_check": ("both", "entry", "exit"),
    "trade_confirm_email": ("all", "none"),
    "max_margin_multiplier": ("1", "2", "4"),
}
_CONFIG_FLAGS = (
    "suspend_trade",
    "no_shorting",
    "fractional_trading",
    "ptp_no_exception_entry",
    "disable_overnight_trading",
)


def _unauthorized() -> VenueError:
    return VenueError(401, CODE_UNAUTHORIZED, "unauthorized.")


class AccountBook:
    """Every account of the venue by key id (``accounts``), and who may open one."""

    def __init__(self, config: SimConfig, *, tape: Tape, clock: SimClock) -> None:
        self.config = config
        self.tape = tape
        self.clock = clock
        self.accounts: dict[str, Account] = {}
        self._namespace = uuid.UUID(int=random.Random(f"{config.seed}:account").getrandbits(128))
        specs = config.resolved_accounts()
        self._allowed: dict[str, AccountSpec] | None = (
            None if specs is None else {spec.key_id: spec for spec in specs}
        )

    def _account_id(self, key_id: str) -> str:
        return str(uuid.uuid5(self._namespace, key_id))

    def _account_number(self, key_id: str) -> str:
        digits = uuid.uuid5(self._namespace, "number:" + key_id).int % 10**10
        return "PA" + str(digits).zfill(10)

    def authenticate(self, key_id: str | None, secret_key: str | None) -> Account:
        """The account of this key pair, created on first use (or 401 with Alpaca's body)."""
        if not key_id or not secret_key:
            raise _unauthorized()
        account = self.accounts.get(key_id)
        if account is not None:
            if account.secret_key != secret_key:
                raise _unauthorized()
            return account
        cash = self.config.starting_cash
        account_type: str = self.config.account_type
        if self._allowed is not None:
            spec = self._allowed.get(key_id)
            if spec is None or spec.secret_key != secret_key:
                raise _unauthorized()
            cash = spec.starting_cash if spec.starting_cash is not None else cash
            account_type = spec.account_type or account_type
        account = Account(
            key_id=key_id,
            secret_key=secret_key,
            account_id=self._account_id(key_id),
            number=self._account_number(key_id),
            account_type=account_type,
            starting_cash=cash,
            at=self.tape.stamp(),
            event_log_size=self.config.event_log_size,
        )
        if not self.config.shorting_enabled:
            account.configuration["no_shorting"] = True
        self.accounts[key_id] = account
        return account

    def existing(self, key_id: str) -> Account:
        """The account of a key that has made a request (404 otherwise)."""
        account = self.accounts.get(key_id)
        if account is None:
            raise not_found(f"no account for key {key_id!r}")
        return account

    def blank(self, key_id: str) -> Account:
        """What a key that has made no request yet would start with (not registered)."""
        if self._allowed is not None and key_id not in self._allowed:
            raise not_found(f"no account for key {key_id!r}: it is not in the accounts file")
        spec = self._allowed.get(key_id) if self._allowed is not None else None
        cash = spec.starting_cash if spec and spec.starting_cash is not None else None
        return Account(
            key_id=key_id,
            secret_key="",
            account_id=self._account_id(key_id),
            number=self._account_number(key_id),
            account_type=(spec.account_type if spec else None) or self.config.account_type,
            starting_cash=cash if cash is not None else self.config.starting_cash,
            at=self.clock.now(),
            event_log_size=0,
        )


def _configuration_value(name: str, value: Any) -> Any:
    """One validated configuration setting (422 naming the allowed values)."""
    if name in _CONFIG_FLAGS:
        return parse_bool(value, name)
    if name in _CONFIG_CHOICES:
        text = str(value)
        if text not in _CONFIG_CHOICES[name]:
            raise invalid(f"{name} must be one of {', '.join(_CONFIG_CHOICES[name])}")
        return text
    if name == "max_options_trading_level":
        if value not in (0, 1, 2, 3):
            raise invalid("max_options_trading_level must be 0, 1, 2 or 3")
        return value
    raise invalid(f"unknown account configuration {name!r}")


def update_configuration(account: Account, body: Any) -> dict[str, Any]:
    """PATCH /v2/account/configurations: validate every setting, then apply them together."""
    updates = {
        name: _configuration_value(name, value)
        for name, value in require_object(body).items()
        if value is not None
    }
    if account.account_type == "cash":
        if updates.get("max_margin_multiplier", "1") != "1":
            raise forbidden("a cash account cannot use margin")
        if updates.get("no_shorting") is False:
            raise forbidden("a cash account cannot sell short")
    account.configuration.update(updates)
    return dict(account.configuration)
