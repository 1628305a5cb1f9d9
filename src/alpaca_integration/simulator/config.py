"""Settings of the paper-trading simulator: what the venue looks like and which faults it injects.

``SimConfig`` is frozen and validated on construction: a bad value raises ``ConfigError`` naming
the setting and the fix. ``FaultConfig`` is the run-time switchable part (the admin API replaces
it with ``FaultConfig.merged``). ``load_accounts_file`` reads the optional list of API keys the
venue accepts.

This module imports only ``errors`` from the package; nothing from the rest of the simulator.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal, cast

from alpaca_integration.errors import ConfigError

__all__ = [
    "ACCOUNT_TYPES",
    "CLOCK_MODES",
    "DEMO_API_KEY",
    "DEMO_SECRET_KEY",
    "LOST_ANSWER_MODES",
    "STREAM_MODES",
    "AccountSpec",
    "FaultConfig",
    "SimConfig",
    "load_accounts_file",
]

# A made-up key pair for examples and tests: any pair works unless an accounts file is given.
DEMO_API_KEY = "PKSIMULATOR000000001"
DEMO_SECRET_KEY = "simulator-secret-000000000000000000000001"

ClockMode = Literal["market", "always-open"]
AccountType = Literal["margin", "cash"]
StreamMode = Literal["normal", "silent", "drop"]
LostAnswerMode = Literal["close", "504"]

CLOCK_MODES: tuple[str, ...] = ("market", "always-open")
ACCOUNT_TYPES: tuple[str, ...] = ("margin", "cash")
STREAM_MODES: tuple[str, ...] = ("normal", "silent", "drop")
LOST_ANSWER_MODES: tuple[str, ...] = ("close", "504")


def _to_decimal(value: object, setting: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{setting} must be a decimal number, got {value!r}", setting=setting)
    else:
        try:
            result = Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(
                f"{setting} must be a decimal number such as 100000 or 0.5, got {value!r}",
                setting=setting,
            ) from None
    if not result.is_finite():
        raise ConfigError(f"{setting} must be finite, got {value!r}", setting=setting)
    return result


def _require_whole(value: object, setting: str, what: str = "a whole number >= 0") -> None:
    """Refuse anything but a whole number >= 0 (an int, not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{setting} must be {what}, got {value!r}", setting=setting)


def _number(
    value: object, setting: str, *, number: str, valid: Callable[[float], bool], valid_as: str
) -> float:
    """``value`` (an int or a float, not a bool) as a float that ``valid`` accepts; else a
    ``ConfigError`` saying the setting must be ``number`` (wrong type) or ``valid_as``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{setting} must be {number}, got {value!r}", setting=setting)
    result = float(value)
    if not valid(result):
        raise ConfigError(f"{setting} must be {valid_as}, got {value!r}", setting=setting)
    return result


def _rate(value: object, setting: str) -> float:
    return _number(
        value,
        setting,
        number="a number between 0 and 1",
        valid=lambda rate: 0.0 <= rate <= 1.0,
        valid_as="between 0 and 1",
    )


def _finite(value: object, setting: str) -> float:
    return _number(
        value, setting, number="a number", valid=math.isfinite, valid_as="a finite number"
    )


def _non_negative(value: object, setting: str) -> float:
    return _number(
        value,
        setting,
        number="a number >= 0",
        valid=lambda number: math.isfinite(number) and number >= 0,
        valid_as="a finite number >= 0",
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Faults the venue injects. All default to off.

    REST: ``latency_ms`` (+ uniform ``latency_jitter_ms``) before every /v2 answer;
    ``error_rate`` (every /v2 route) or ``route_error_rates`` (``"POST /v2/orders"`` -> rate, the
    route as its template, ``"*"`` for all) answer ``error_status`` before the request has any
    effect; ``rate_limit_storm_rate`` answers 429 (plain-text body) regardless of the budget;
    ``lost_answer_rate`` / ``lost_answer_next`` apply an order submit, replace or cancel and then
    lose the answer (``lost_answer_mode``: ``close`` drops the connection mid-answer, ``504``
    answers a gateway timeout). ``order_reject_rate`` accepts an order and then rejects it
    (status ``rejected``, events ``pending_new`` then ``rejected``).

    Venue state: ``clock_skew_seconds`` (may be negative) sets the venue's clock that far from
    the host's (every timestamp it hands out, the HTTP ``Date`` header, ``/v2/clock``);
    ``visibility_lag_seconds`` hides a new order from lookups and listings for that long while
    it works and fills normally; ``stale_order_in_fill_probability`` makes a fill event carry
    the order as it stood before that execution.

    Stream: ``stream_mode`` ``silent`` keeps connections open but mute, ``drop`` closes every
    connection (and each new one right after authorization); ``stream_duplicate_rate`` sends an
    event twice; ``stream_late_rate`` holds an event back ``stream_late_ms`` (so it arrives out of
    order); ``reorder_probability`` holds an event back until the account's next one and sends
    that one first (or sends it alone after ``reorder_window_ms``).

    The activities event stream (SSE) obeys ``stream_mode`` and ``stream_duplicate_rate`` too,
    and ``activity_events_drop_rate`` cuts its connection right after an event (the client
    resumes from ``since_id``). Late and reordered events are WebSocket-only: one HTTP response
    is one ordered byte stream, and resuming by event id relies on that order.
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    route_error_rates: Mapping[str, float] = dataclasses.field(default_factory=dict)
    error_status: int = 500
    rate_limit_storm_rate: float = 0.0
    lost_answer_rate: float = 0.0
    lost_answer_next: int = 0
    lost_answer_mode: LostAnswerMode = "close"
    order_reject_rate: float = 0.0
    clock_skew_seconds: float = 0.0
    visibility_lag_seconds: float = 0.0
    stale_order_in_fill_probability: float = 0.0
    stream_mode: StreamMode = "normal"
    stream_duplicate_rate: float = 0.0
    stream_late_rate: float = 0.0
    stream_late_ms: float = 500.0
    reorder_probability: float = 0.0
    reorder_window_ms: float = 200.0
    activity_events_drop_rate: float = 0.0

    def __post_init__(self) -> None:
        self._check_rest_faults()
        self._check_lost_answers()
        self._check_venue_faults()
        self._check_stream_faults()

    def _set(self, name: str, check: Callable[[object, str], float]) -> None:
        object.__setattr__(self, name, check(getattr(self, name), f"faults.{name}"))

    def _check_rest_faults(self) -> None:
        for name in ("latency_ms", "latency_jitter_ms"):
            self._set(name, _non_negative)
        self._set("error_rate", _rate)
        if not isinstance(self.route_error_rates, Mapping):
            raise ConfigError(
                'faults.route_error_rates must map a route such as "POST /v2/orders" to a rate',
                setting="faults.route_error_rates",
            )
        routes: dict[str, float] = {}
        for route, rate in self.route_error_rates.items():
            if not isinstance(route, str) or (route != "*" and " /" not in route):
                raise ConfigError(
                    f'faults.route_error_rates key {route!r} must be "METHOD /path" '
                    '(e.g. "POST /v2/orders", "GET /v2/orders/{order_id}") or "*"',
                    setting="faults.route_error_rates",
                )
            method, _, path = route.partition(" ")
            key = "*" if route == "*" else f"{method.upper()} {path}"
            routes[key] = _rate(rate, f"faults.route_error_rates[{route!r}]")
        object.__setattr__(self, "route_error_rates", routes)
        if (
            isinstance(self.error_status, bool)
            or not isinstance(self.error_status, int)
            or not 500 <= self.error_status <= 599
        ):
            raise ConfigError(
                f"faults.error_status must be an HTTP 5xx status, got {self.error_status!r}",
                setting="faults.error_status",
            )
        self._set("rate_limit_storm_rate", _rate)

    def _check_lost_answers(self) -> None:
        self._set("lost_answer_rate", _rate)
        _require_whole(self.lost_answer_next, "faults.lost_answer_next")
        if self.lost_answer_mode not in LOST_ANSWER_MODES:
            raise ConfigError(
                f"faults.lost_answer_mode must be one of {', '.join(LOST_ANSWER_MODES)}, got "
                f"{self.lost_answer_mode!r}",
                setting="faults.lost_answer_mode",
            )

    def _check_venue_faults(self) -> None:
        for name in ("order_reject_rate", "stale_order_in_fill_probability"):
            self._set(name, _rate)
        self._set("clock_skew_seconds", _finite)
        self._set("visibility_lag_seconds", _non_negative)

    def _check_stream_faults(self) -> None:
        if self.stream_mode not in STREAM_MODES:
            raise ConfigError(
                f"faults.stream_mode must be one of {', '.join(STREAM_MODES)}, got "
                f"{self.stream_mode!r}",
                setting="faults.stream_mode",
            )
        for name in (
            "stream_duplicate_rate",
            "stream_late_rate",
            "reorder_probability",
            "activity_events_drop_rate",
        ):
            self._set(name, _rate)
        for name in ("stream_late_ms", "reorder_window_ms"):
            self._set(name, _non_negative)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def merged(self, changes: Mapping[str, Any]) -> FaultConfig:
        """A copy with ``changes`` applied; unknown names raise ``ConfigError`` listing the valid
        ones."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ConfigError(
                f"unknown fault setting(s) {', '.join(unknown)}; valid: "
                f"{', '.join(self.field_names())}",
                setting="faults",
            )
        return dataclasses.replace(self, **dict(changes))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["route_error_rates"] = dict(self.route_error_rates)
        return out

    @property
    def any_rest_fault(self) -> bool:
        return bool(
            self.latency_ms
            or self.latency_jitter_ms
            or self.error_rate
            or any(self.route_error_rates.values())
            or self.rate_limit_storm_rate
            or self.lost_answer_rate
            or self.lost_answer_next
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class AccountSpec:
    """One API key pair the venue accepts (from an accounts file), with optional overrides."""

    key_id: str
    secret_key: str = dataclasses.field(repr=False)
    starting_cash: Decimal | None = None
    account_type: AccountType | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key_id, str) or not self.key_id:
            raise ConfigError("an account's key_id must be a non-empty string", setting="accounts")
        if not isinstance(self.secret_key, str) or not self.secret_key:
            raise ConfigError(f"account {self.key_id}: secret_key is missing", setting="accounts")
        if self.starting_cash is not None:
            cash = _to_decimal(self.starting_cash, f"accounts[{self.key_id}].starting_cash")
            if cash < 0:
                raise ConfigError(
                    f"account {self.key_id}: starting_cash must be >= 0", setting="accounts"
                )
            object.__setattr__(self, "starting_cash", cash)
        if self.account_type is not None and self.account_type not in ACCOUNT_TYPES:
            raise ConfigError(
                f"account {self.key_id}: account_type must be margin or cash", setting="accounts"
            )


def _clean_symbols(value: object, setting: str = "symbols") -> tuple[str, ...]:
    """Tickers from a comma list or a sequence: upper-cased, deduplicated, each valid."""
    symbols = value.split(",") if isinstance(value, str) else list(cast(Iterable[str], value))
    cleaned = tuple(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
    if not cleaned:
        raise ConfigError(
            "symbols must list at least one ticker (e.g. AAPL,MSFT), or be left unset "
            "for the built-in universe",
            setting="symbols",
        )
    for symbol in cleaned:
        if not all(c.isalnum() or c in "./" for c in symbol) or len(symbol) > 12:
            raise ConfigError(
                f"{setting}: {symbol!r} is not a valid ticker (letters, digits, '.' or '/', "
                "at most 12 characters)",
                setting=setting,
            )
    return cleaned


@dataclasses.dataclass(frozen=True, kw_only=True)
class SimConfig:
    """How the simulated venue behaves. Every field has a default that works out of the box.

    ``seed`` makes prices, ids and fault decisions reproducible. ``symbols`` picks the tradable
    universe (known symbols keep their reference flags; unknown ones are generated). ``rate_limit``
    is requests per minute per API key (0 = off). ``clock`` ``market`` follows the XNYS calendar
    (hours and holidays, pre-market 04:00 and after-hours until 20:00 ET), ``always-open`` never
    closes. ``start_time`` sets the simulated clock's start (default: now); with ``realtime`` the
    clock then runs with the wall clock, without it only ``advance_clock`` moves it.
    ``liquidity_cap`` is the most one execution fills (larger orders fill in parts). Prices follow
    a seeded random walk (``volatility`` per ``price_step_seconds`` of simulated time) unless a bar
    file (``bars_file``, CSV ``timestamp,symbol,close``) replays them. ``tick_interval`` is how
    often (wall seconds) the background matcher runs; 0 disables it (use ``POST /_sim/tick``).
    ``activity_events`` serves the activities event stream (``/v2beta1/events/activities``, a beta
    on Alpaca); False answers it 404, as a venue that does not offer it.
    """

    seed: int = 0
    symbols: tuple[str, ...] | None = None
    starting_cash: Decimal = Decimal("100000")
    account_type: AccountType = "margin"
    rate_limit: int = 200
    clock: ClockMode = "market"
    start_time: dt.datetime | None = None
    realtime: bool = True
    accounts_file: Path | None = None
    accounts: tuple[AccountSpec, ...] | None = None
    liquidity_cap: Decimal | None = None
    volatility: float = 0.0005
    price_step_seconds: float = 1.0
    tick_interval: float = 0.1
    bars_file: Path | None = None
    shorting_enabled: bool = True
    wash_trade_check: bool = True
    sec_fee_rate: Decimal = Decimal("0.0000278")
    taf_per_share: Decimal = Decimal("0.000166")
    taf_max: Decimal = Decimal("8.30")
    option_underlyings: tuple[str, ...] | None = None
    crypto_pairs: tuple[str, ...] | None = None
    crypto_fee_rate: Decimal = Decimal("0.0025")
    crypto_fee_delay_seconds: float | None = None
    event_log_size: int = 10_000
    activity_events: bool = True
    faults: FaultConfig = dataclasses.field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}", setting="seed")
        if self.symbols is not None:
            object.__setattr__(self, "symbols", _clean_symbols(self.symbols))
        self._check_accounts()
        self._check_venue()
        self._check_market()
        self._check_instruments()
        for name in ("sec_fee_rate", "taf_per_share", "taf_max", "crypto_fee_rate"):
            value = _to_decimal(getattr(self, name), name)
            if value < 0:
                raise ConfigError(f"{name} must be >= 0", setting=name)
            object.__setattr__(self, name, value)
        _require_whole(self.event_log_size, "event_log_size")
        if not isinstance(self.activity_events, bool):
            raise ConfigError(
                f"activity_events must be true or false, got {self.activity_events!r}",
                setting="activity_events",
            )
        if isinstance(self.faults, Mapping):
            object.__setattr__(self, "faults", FaultConfig().merged(self.faults))
        elif not isinstance(self.faults, FaultConfig):
            raise ConfigError("faults must be a FaultConfig or a mapping", setting="faults")

    def _check_instruments(self) -> None:
        """Option underlyings (tickers; empty = no options) and crypto pairs (``BTC/USD``)."""
        if self.option_underlyings is not None:
            underlyings = self.option_underlyings
            cleaned = () if not underlyings else _clean_symbols(underlyings, "option_underlyings")
            for name in cleaned:
                if "/" in name:
                    raise ConfigError(
                        f"option_underlyings: {name!r} is a crypto pair; options are listed on "
                        "stock tickers such as AAPL",
                        setting="option_underlyings",
                    )
                if self.symbols is not None and name not in self.symbols:
                    raise ConfigError(
                        f"option_underlyings: {name!r} is not one of the traded symbols "
                        f"({','.join(self.symbols)}). Fix: add it to symbols or drop it",
                        setting="option_underlyings",
                    )
            object.__setattr__(self, "option_underlyings", cleaned)
        if self.crypto_pairs is not None:
            pairs = (
                () if not self.crypto_pairs else _clean_symbols(self.crypto_pairs, "crypto_pairs")
            )
            for pair in pairs:
                base, _, quote = pair.partition("/")
                if not base or quote != "USD":
                    raise ConfigError(
                        f"crypto_pairs: {pair!r} is not a USD pair such as BTC/USD",
                        setting="crypto_pairs",
                    )
            object.__setattr__(self, "crypto_pairs", pairs)
        if self.crypto_fee_delay_seconds is not None:
            delay = _non_negative(self.crypto_fee_delay_seconds, "crypto_fee_delay_seconds")
            object.__setattr__(self, "crypto_fee_delay_seconds", delay)

    def _check_accounts(self) -> None:
        cash = _to_decimal(self.starting_cash, "starting_cash")
        if cash < 0:
            raise ConfigError("starting_cash must be >= 0", setting="starting_cash")
        object.__setattr__(self, "starting_cash", cash)
        if self.account_type not in ACCOUNT_TYPES:
            raise ConfigError(
                f"account_type must be margin or cash, got {self.account_type!r}",
                setting="account_type",
            )

    def _check_venue(self) -> None:
        """The rate limit, the clock and the accounts file."""
        _require_whole(
            self.rate_limit, "rate_limit", "a whole number of requests per minute >= 0 (0 = off)"
        )
        if self.clock not in CLOCK_MODES:
            raise ConfigError(
                f"clock must be 'market' or 'always-open', got {self.clock!r}", setting="clock"
            )
        if self.start_time is not None:
            if not isinstance(self.start_time, dt.datetime) or self.start_time.tzinfo is None:
                raise ConfigError(
                    "start_time must be a timezone-aware datetime (e.g. 2024-03-04T14:30:00Z)",
                    setting="start_time",
                )
            object.__setattr__(self, "start_time", self.start_time.astimezone(dt.UTC))
        if self.accounts_file is not None:
            object.__setattr__(self, "accounts_file", Path(self.accounts_file))

    def _check_market(self) -> None:
        """Liquidity, the price walk (or bars file) and the matching ticker."""
        set_ = object.__setattr__
        if self.liquidity_cap is not None:
            cap = _to_decimal(self.liquidity_cap, "liquidity_cap")
            if cap <= 0:
                raise ConfigError(
                    "liquidity_cap must be > 0 (the most shares one execution fills), or unset",
                    setting="liquidity_cap",
                )
            set_(self, "liquidity_cap", cap)
        set_(self, "volatility", _non_negative(self.volatility, "volatility"))
        step = _non_negative(self.price_step_seconds, "price_step_seconds")
        if step <= 0:
            raise ConfigError("price_step_seconds must be > 0", setting="price_step_seconds")
        set_(self, "price_step_seconds", step)
        set_(self, "tick_interval", _non_negative(self.tick_interval, "tick_interval"))
        if self.bars_file is not None:
            set_(self, "bars_file", Path(self.bars_file))

    def replace(self, **changes: Any) -> SimConfig:
        return dataclasses.replace(self, **changes)

    def resolved_accounts(self) -> tuple[AccountSpec, ...] | None:
        """The accepted key pairs (explicit ``accounts`` first, then ``accounts_file``), or None
        when every key pair is welcome."""
        if self.accounts is not None:
            return self.accounts
        if self.accounts_file is not None:
            return load_accounts_file(self.accounts_file)
        return None


def _account_from_mapping(entry: Mapping[str, Any], where: str) -> AccountSpec:
    key_id = entry.get("key_id") or entry.get("api_key")
    secret = entry.get("secret_key")
    if not isinstance(key_id, str) or not key_id:
        raise ConfigError(f"{where}: key_id is missing (the API key id this account accepts)")
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where} ({key_id}): secret_key is missing")
    cash = entry.get("starting_cash")
    account_type = entry.get("account_type")
    if account_type is not None and account_type not in ACCOUNT_TYPES:
        raise ConfigError(f"{where} ({key_id}): account_type must be margin or cash")
    return AccountSpec(
        key_id=key_id,
        secret_key=secret,
        starting_cash=None if cash is None else _to_decimal(cash, f"{where}.starting_cash"),
        account_type=account_type,
    )


def load_accounts_file(path: Path) -> tuple[AccountSpec, ...]:
    """Read the key pairs the venue accepts: TOML (``[[accounts]]`` tables) or JSON (a list, or
    ``{"accounts": [...]}``), each with ``key_id``, ``secret_key`` and optional ``starting_cash``
    and ``account_type``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"accounts file {path} does not exist. Fix: create it or drop --accounts-file",
            setting="accounts_file",
        ) from None
    try:
        document: Any = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"accounts file {path} could not be parsed ({exc}). Fix its syntax",
            setting="accounts_file",
        ) from None
    entries = document.get("accounts") if isinstance(document, dict) else document
    if not isinstance(entries, list) or not entries:
        raise ConfigError(
            f"accounts file {path} lists no accounts. Fix: add [[accounts]] tables with key_id "
            "and secret_key",
            setting="accounts_file",
        )
    specs = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: accounts[{index}] must be a table", setting="accounts_file")
        specs.append(_account_from_mapping(entry, f"{path}: accounts[{index}]"))
    keys = [spec.key_id for spec in specs]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{path}: a key_id is listed twice", setting="accounts_file")
    return tuple(specs)
