"""Settings: the environment names a user of the original system already has, plus accounts.

``AlpacaSettings`` reads ``ALPACA_API_KEY``, ``ALPACA_SECRET_KEY``, ``ALPACA_BASE_URL`` and
``ALPACA_UPDATE_INTERVAL`` (and the package's own ``ALPACA_*`` extras) from the environment or a
``.env`` file. Secrets are ``SecretStr``: they never appear in a repr, a log line or an error.

Several accounts are listed in one TOML file (``ALPACA_ACCOUNTS_FILE``)::

    [accounts.main]
    api_key_env = "MAIN_KEY"          # or api_key = "..."
    secret_key_env = "MAIN_SECRET"    # or secret_key = "..."
    base_url = "https://paper-api.alpaca.markets"

    [accounts.main.risk]              # optional pre-trade limits (see risk.py)
    max_order_notional = "25000"

With no file, the environment settings are the single account ``default``.

Invalid settings raise ``ConfigError`` with one message naming the setting and the fix.
This module imports only ``errors`` from the package.
"""

from __future__ import annotations

import tomllib
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import unquote, urlsplit, urlunsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from alpaca_integration.errors import ConfigError

__all__ = [
    "LIVE_BASE_URL",
    "PAPER_BASE_URL",
    "AccountConfig",
    "AlpacaSettings",
    "derive_stream_url",
    "is_live_url",
    "key_text_problem",
    "load_accounts",
    "load_settings",
]

PAPER_BASE_URL = "https://paper-api.alpaca.markets"
LIVE_BASE_URL = "https://api.alpaca.markets"
_LIVE_HOSTS = frozenset({"api.alpaca.markets"})

_FIXES: dict[str, str] = {
    "api_key": "set ALPACA_API_KEY to your Alpaca key id",
    "secret_key": "set ALPACA_SECRET_KEY to your Alpaca secret key",
    "base_url": "set ALPACA_BASE_URL to an http(s) URL such as https://paper-api.alpaca.markets",
    "update_interval": "set ALPACA_UPDATE_INTERVAL to a whole number of seconds >= 1 (default 60)",
    "stream_url": "set ALPACA_STREAM_URL to a ws(s) URL, or unset it to derive it from the base URL",
    "database_url": "set ALPACA_DATABASE_URL to postgresql://user@host:5432/db or sqlite:///file.db",
    "redis_url": "set ALPACA_REDIS_URL to redis://host:6379/0, or unset it for the in-memory cache",
    "rate_limit": "set ALPACA_RATE_LIMIT to your plan's requests per minute (200 by default)",
}


# Dots IDNA maps to "." (UTS #46): ideographic, fullwidth and halfwidth ideographic full stops.
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})


def _normalized_host(url: str) -> str:
    """The host a client would reach for ``url``, in one spelling: without userinfo and port,
    percent-escapes decoded, compatibility characters folded (fullwidth letters, ideographic
    dots), lower case, without the trailing dot of a fully qualified name."""
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    host = unicodedata.normalize("NFKC", unquote(host)).translate(_DOTS)
    return host.casefold().rstrip(".")


def is_live_url(url: str) -> bool:
    """True when ``url`` (REST or stream) points at Alpaca's live venue, however its host is
    spelled. A host is compared by name: an IP address or a name of your own that resolves to
    the live venue is not recognised."""
    return _normalized_host(url) in _LIVE_HOSTS


def _character_kind(character: str) -> str:
    if character in "\r\n":
        return "a line break"
    if character == " ":
        return "a space"
    if character == "\t":
        return "a tab"
    if not character.isascii():
        return "a non-ASCII character"
    return "a control character"


def key_text_problem(text: str) -> str | None:
    """What makes ``text`` unusable as an API key id or secret (None when it is fine). A key is
    one line of visible ASCII: it travels in an HTTP header, where a CR or LF would end the header
    (httpx then refuses the request with the header's value, the secret, in its message). The
    answer names the kind of character and its position, never the key itself."""
    for position, character in enumerate(text, start=1):
        if not "!" <= character <= "~":
            return (
                f"contains {_character_kind(character)} at position {position}: a key is one "
                "line of visible ASCII characters (it is sent in an HTTP header). Copy it again "
                "from the Alpaca dashboard"
            )
    return None


def _checked_key(value: SecretStr | None) -> SecretStr | None:
    problem = key_text_problem(value.get_secret_value()) if value is not None else None
    if problem is not None:
        raise ValueError(problem)
    return value


def derive_stream_url(base_url: str) -> str:
    """``https://host`` -> ``wss://host/stream`` (``http`` -> ``ws``), keeping host and port."""
    parts = urlsplit(base_url)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[: -len("/v2")]
    return urlunsplit((scheme, parts.netloc, f"{path}/stream", "", ""))


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _check_live_opt_in(base_url: str, allow_live: bool) -> None:
    if is_live_url(base_url) and not allow_live:
        raise ValueError(
            f"{base_url} is Alpaca's LIVE trading endpoint; real money would be at stake. "
            "Use https://paper-api.alpaca.markets for paper trading, or set ALPACA_ALLOW_LIVE=true "
            "(allow_live = true in an accounts-file table) to opt in to live trading explicitly"
        )


class _Venue:
    """What the settings and an account share about the venue they name: ``base_url`` must be an
    http(s) URL, a live one needs ``allow_live``, and the stream URL follows from it unless set."""

    if TYPE_CHECKING:
        base_url: str
        stream_url: str | None
        allow_live: bool

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        return _check_http_url(value)

    @model_validator(mode="after")
    def _live_needs_opt_in(self) -> Self:
        _check_live_opt_in(self.base_url, self.allow_live)
        return self

    @property
    def resolved_stream_url(self) -> str:
        return self.stream_url or derive_stream_url(self.base_url)


class AlpacaSettings(_Venue, BaseSettings):
    """The process's settings, from ``ALPACA_*`` environment variables (or ``.env``)."""

    model_config = SettingsConfigDict(
        env_prefix="ALPACA_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    base_url: str = PAPER_BASE_URL
    update_interval: int = Field(default=60, ge=1)
    stream_url: str | None = None
    # Kept out of the repr: a database or Redis URL may carry a password.
    database_url: str = Field(default="sqlite:///alpaca_integration.db", repr=False)
    redis_url: str | None = Field(default=None, repr=False)
    allow_live: bool = False
    accounts_file: Path | None = None
    rate_limit: int = Field(default=200, ge=1)

    @field_validator("api_key", "secret_key")
    @classmethod
    def _keys_fit_a_header(cls, value: SecretStr | None) -> SecretStr | None:
        return _checked_key(value)

    @field_validator("stream_url")
    @classmethod
    def _stream_url_is_ws(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("ws", "wss") or not parts.netloc:
            raise ValueError(f"must be a ws(s) URL, got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_known(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+", 1)[0]
        if scheme not in ("postgresql", "postgres", "sqlite"):
            raise ValueError(f"must start with postgresql:// or sqlite:///, got scheme {scheme!r}")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url_known(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must start with redis:// or rediss://")
        return value

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key and self.secret_key)

    @property
    def is_live(self) -> bool:
        return is_live_url(self.base_url)


class AccountConfig(_Venue, BaseModel):
    """One named account: its keys, its venue, its optional risk limits (a plain mapping here;
    ``risk.RiskLimits`` validates it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    api_key: SecretStr
    secret_key: SecretStr
    base_url: str = PAPER_BASE_URL
    stream_url: str | None = None
    allow_live: bool = False
    rate_limit: int = Field(default=200, ge=1)
    risk: dict[str, Any] = Field(default_factory=dict)
    # Which open lot a sale closes first in the stored ledger (docs/ledger.md).
    ledger_method: Literal["fifo", "lifo", "hifo"] = "fifo"

    @field_validator("api_key", "secret_key")
    @classmethod
    def _keys_fit_a_header(cls, value: SecretStr) -> SecretStr:
        checked = _checked_key(value)
        assert checked is not None
        return checked

    @classmethod
    def from_settings(cls, settings: AlpacaSettings, name: str = "default") -> AccountConfig:
        if not settings.has_credentials:
            missing = "ALPACA_API_KEY" if not settings.api_key else "ALPACA_SECRET_KEY"
            raise ConfigError(
                f"{missing} is not set: export ALPACA_API_KEY and ALPACA_SECRET_KEY (your Alpaca "
                "paper keys), or try the built-in simulator with `alpacactl demo` / `alpacactl sim`",
                setting=missing,
            )
        assert settings.api_key is not None
        assert settings.secret_key is not None
        return cls(
            name=name,
            api_key=settings.api_key,
            secret_key=settings.secret_key,
            base_url=settings.base_url,
            stream_url=settings.stream_url,
            allow_live=settings.allow_live,
            rate_limit=settings.rate_limit,
        )


def _describe(exc: ValidationError, env_prefix: str) -> ConfigError:
    first = exc.errors()[0]
    # The only model-level check (the live opt-in) has no location; it is about the base URL.
    field = str(first["loc"][0]) if first["loc"] else "base_url"
    setting = f"{env_prefix}{field.upper()}"
    fix = _FIXES.get(field, f"check {setting}")
    # Only the validator's message: pydantic's default text would echo the input, and the input
    # may be a secret.
    reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return ConfigError(f"invalid setting {setting}: {reason}. Fix: {fix}", setting=setting)


def load_settings(**overrides: Any) -> AlpacaSettings:
    """Read the settings, turning pydantic's errors into one ``ConfigError`` naming the setting."""
    try:
        return AlpacaSettings(**overrides)
    except ValidationError as exc:
        raise _describe(exc, "ALPACA_") from None


def _account_from_table(name: str, table: dict[str, Any], env: dict[str, str]) -> AccountConfig:
    data = dict(table)
    for secret in ("api_key", "secret_key"):
        env_name = data.pop(f"{secret}_env", None)
        if env_name is not None:
            if env_name not in env:
                raise ConfigError(
                    f"account {name!r}: environment variable {env_name} (its {secret}_env) is not "
                    f"set. Fix: export {env_name}, or put {secret} in the accounts file",
                    setting=f"accounts.{name}.{secret}_env",
                )
            data[secret] = env[env_name]
        elif secret not in data:
            raise ConfigError(
                f"account {name!r} has neither {secret} nor {secret}_env. Fix: add one of them",
                setting=f"accounts.{name}.{secret}",
            )
    try:
        return AccountConfig(name=name, **data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "base_url"
        reason = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise ConfigError(
            f"account {name!r}: invalid {field}: {reason}", setting=f"accounts.{name}.{field}"
        ) from None


def load_accounts(
    settings: AlpacaSettings | None = None, env: dict[str, str] | None = None
) -> dict[str, AccountConfig]:
    """The configured accounts by name: from ``ALPACA_ACCOUNTS_FILE`` if set, else ``default``."""
    import os

    settings = settings or load_settings()
    env = dict(os.environ) if env is None else env
    if settings.accounts_file is None:
        return {"default": AccountConfig.from_settings(settings)}
    path = settings.accounts_file
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"ALPACA_ACCOUNTS_FILE points to {path}, which does not exist. Fix: create it or "
            "unset ALPACA_ACCOUNTS_FILE",
            setting="ALPACA_ACCOUNTS_FILE",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"ALPACA_ACCOUNTS_FILE {path} is not valid TOML ({exc}). Fix the file's syntax",
            setting="ALPACA_ACCOUNTS_FILE",
        ) from None
    tables = document.get("accounts")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(
            f"{path} lists no accounts. Fix: add at least one [accounts.NAME] table",
            setting="ALPACA_ACCOUNTS_FILE",
        )
    accounts: dict[str, AccountConfig] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: accounts.{name} must be a table", setting="accounts")
        accounts[name] = _account_from_table(name, table, env)
    return accounts
