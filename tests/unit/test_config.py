"""Settings and accounts: defaults, validation with one named ConfigError, the live-trading
opt-in, stream URL derivation, the accounts file, and secrets that never leak."""

from __future__ import annotations

import logging
import os
import traceback
from pathlib import Path

import pytest

from alpaca_integration.config import (
    LIVE_BASE_URL,
    PAPER_BASE_URL,
    AccountConfig,
    AlpacaSettings,
    derive_stream_url,
    load_accounts,
    load_settings,
)
from alpaca_integration.errors import ConfigError

SECRET = "sk-TOP-SECRET-9f8e7d6c5b4a"
KEY_ID = "PKTESTKEYID0001"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No ALPACA_* variable from the developer's shell and no .env file reach the settings."""
    for name in list(os.environ):
        if name.startswith("ALPACA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _export(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    """Set each variable of ``env`` for the test, as a user's shell exports them."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _config_error(monkeypatch: pytest.MonkeyPatch, **env: str) -> ConfigError:
    _export(monkeypatch, **env)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    return caught.value


# --------------------------------------------------------------------------- defaults


def test_defaults_are_paper_trading_with_embedded_storage() -> None:
    """With nothing set: paper URL, 60 s interval, 200 req/min, SQLite, in-memory cache."""
    settings = load_settings()
    assert settings.base_url == PAPER_BASE_URL
    assert settings.update_interval == 60
    assert settings.rate_limit == 200
    assert settings.stream_url is None
    assert settings.resolved_stream_url == "wss://paper-api.alpaca.markets/stream"
    assert settings.database_url == "sqlite:///alpaca_integration.db"
    assert settings.redis_url is None
    assert settings.allow_live is False
    assert settings.accounts_file is None
    assert settings.has_credentials is False
    assert settings.is_live is False


def test_environment_names_of_the_original_system_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ALPACA_API_KEY / ALPACA_SECRET_KEY / ALPACA_BASE_URL / ALPACA_UPDATE_INTERVAL are used."""
    _export(
        monkeypatch,
        ALPACA_API_KEY=KEY_ID,
        ALPACA_SECRET_KEY=SECRET,
        ALPACA_BASE_URL="http://127.0.0.1:8731/",
        ALPACA_UPDATE_INTERVAL="5",
    )
    settings = load_settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == KEY_ID
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == SECRET
    assert settings.base_url == "http://127.0.0.1:8731"
    assert settings.update_interval == 5
    assert settings.has_credentials is True


def test_dotenv_file_in_the_working_directory_is_read(clean_environment: Path) -> None:
    """A .env file supplies settings like the environment does."""
    (clean_environment / ".env").write_text("ALPACA_UPDATE_INTERVAL=7\n", encoding="utf-8")
    assert load_settings().update_interval == 7


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("value", ["0", "-5", "abc", "1.5"])
def test_update_interval_below_one_second_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """ALPACA_UPDATE_INTERVAL must be a whole number >= 1; the error names it and the fix."""
    error = _config_error(monkeypatch, ALPACA_UPDATE_INTERVAL=value)
    assert error.setting == "ALPACA_UPDATE_INTERVAL"
    assert "ALPACA_UPDATE_INTERVAL" in str(error)
    assert ">= 1" in str(error)


def test_update_interval_of_one_second_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The smallest allowed interval is 1 second."""
    monkeypatch.setenv("ALPACA_UPDATE_INTERVAL", "1")
    assert load_settings().update_interval == 1


@pytest.mark.parametrize(
    ("env", "setting", "fragment"),
    [
        ({"ALPACA_BASE_URL": "paper-api.alpaca.markets"}, "ALPACA_BASE_URL", "http(s) URL"),
        ({"ALPACA_BASE_URL": "ftp://example.com"}, "ALPACA_BASE_URL", "http(s) URL"),
        ({"ALPACA_STREAM_URL": "https://example.com/stream"}, "ALPACA_STREAM_URL", "ws(s) URL"),
        ({"ALPACA_DATABASE_URL": "mysql://db/x"}, "ALPACA_DATABASE_URL", "postgresql://"),
        ({"ALPACA_REDIS_URL": "memcached://x"}, "ALPACA_REDIS_URL", "redis://"),
        ({"ALPACA_RATE_LIMIT": "0"}, "ALPACA_RATE_LIMIT", "requests per minute"),
        ({"ALPACA_ALLOW_LIVE": "perhaps"}, "ALPACA_ALLOW_LIVE", "ALPACA_ALLOW_LIVE"),
    ],
)
def test_invalid_settings_raise_one_config_error_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], setting: str, fragment: str
) -> None:
    """Each invalid setting gives a ConfigError (not a pydantic error) naming it."""
    error = _config_error(monkeypatch, **env)
    assert error.setting == setting
    assert str(error).startswith(f"invalid setting {setting}: ")
    assert fragment in str(error)


def test_several_invalid_settings_still_give_a_single_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two bad settings produce one ConfigError naming one of them, nothing else escapes."""
    error = _config_error(monkeypatch, ALPACA_UPDATE_INTERVAL="0", ALPACA_RATE_LIMIT="-1")
    assert error.setting in ("ALPACA_UPDATE_INTERVAL", "ALPACA_RATE_LIMIT")
    assert error.__suppress_context__ is True


# --------------------------------------------------------------------------- live trading opt-in


@pytest.mark.parametrize(
    "url", [LIVE_BASE_URL, "https://api.alpaca.markets/", "https://API.Alpaca.Markets"]
)
def test_live_url_is_refused_without_the_opt_in(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """The live endpoint needs ALPACA_ALLOW_LIVE=true; the error names the base URL setting."""
    error = _config_error(monkeypatch, ALPACA_BASE_URL=url)
    assert error.setting == "ALPACA_BASE_URL"
    assert "LIVE" in str(error)
    assert "ALPACA_ALLOW_LIVE=true" in str(error)


def test_live_url_is_accepted_with_the_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ALPACA_ALLOW_LIVE=true the live endpoint is accepted and reported as live."""
    _export(monkeypatch, ALPACA_BASE_URL=LIVE_BASE_URL, ALPACA_ALLOW_LIVE="true")
    settings = load_settings()
    assert settings.is_live is True
    assert settings.resolved_stream_url == "wss://api.alpaca.markets/stream"


def test_paper_url_needs_no_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The paper endpoint (and local simulators) are never treated as live."""
    monkeypatch.setenv("ALPACA_BASE_URL", PAPER_BASE_URL)
    assert load_settings().is_live is False


# --------------------------------------------------------------------------- stream URL


@pytest.mark.parametrize(
    ("base_url", "stream_url"),
    [
        ("https://paper-api.alpaca.markets", "wss://paper-api.alpaca.markets/stream"),
        ("https://api.alpaca.markets", "wss://api.alpaca.markets/stream"),
        ("http://127.0.0.1:8731", "ws://127.0.0.1:8731/stream"),
        ("http://localhost:8000/", "ws://localhost:8000/stream"),
        ("https://paper-api.alpaca.markets/v2", "wss://paper-api.alpaca.markets/stream"),
        ("http://proxy.local/alpaca/v2/", "ws://proxy.local/alpaca/stream"),
    ],
)
def test_stream_url_is_derived_from_the_base_url(base_url: str, stream_url: str) -> None:
    """https -> wss, http -> ws, same host and port, a trailing /v2 dropped, /stream added."""
    assert derive_stream_url(base_url) == stream_url


def test_stream_url_override_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """ALPACA_STREAM_URL replaces the derived URL; an empty value means derive it."""
    _export(
        monkeypatch,
        ALPACA_BASE_URL="http://127.0.0.1:8731",
        ALPACA_STREAM_URL="ws://127.0.0.1:9999/custom",
    )
    assert load_settings().resolved_stream_url == "ws://127.0.0.1:9999/custom"
    monkeypatch.setenv("ALPACA_STREAM_URL", "")
    assert load_settings().resolved_stream_url == "ws://127.0.0.1:8731/stream"


# --------------------------------------------------------------------------- accounts


def _accounts_file(directory: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = directory / "accounts.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("ALPACA_ACCOUNTS_FILE", str(path))
    return path


def test_without_a_file_the_environment_is_the_default_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No accounts file: one account named default from ALPACA_API_KEY / ALPACA_SECRET_KEY."""
    _export(monkeypatch, ALPACA_API_KEY=KEY_ID, ALPACA_SECRET_KEY=SECRET, ALPACA_RATE_LIMIT="1000")
    accounts = load_accounts()
    assert list(accounts) == ["default"]
    default = accounts["default"]
    assert default.api_key.get_secret_value() == KEY_ID
    assert default.secret_key.get_secret_value() == SECRET
    assert default.base_url == PAPER_BASE_URL
    assert default.rate_limit == 1000
    assert default.resolved_stream_url == "wss://paper-api.alpaca.markets/stream"


@pytest.mark.parametrize(
    ("env", "missing"),
    [({}, "ALPACA_API_KEY"), ({"ALPACA_API_KEY": KEY_ID}, "ALPACA_SECRET_KEY")],
)
def test_missing_credentials_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    """Without keys the error names the missing variable and points to the simulator."""
    _export(monkeypatch, **env)
    with pytest.raises(ConfigError, match=f"{missing} is not set") as caught:
        load_accounts()
    assert caught.value.setting == missing
    assert "simulator" in str(caught.value)


def test_accounts_file_with_inline_keys_and_env_names(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accounts list keys inline or by environment variable name; risk tables pass through."""
    _accounts_file(
        clean_environment,
        """
[accounts.main]
api_key_env = "MAIN_KEY"
secret_key_env = "MAIN_SECRET"

[accounts.main.risk]
max_order_notional = "25000"

[accounts.sim]
api_key = "SIMKEY"
secret_key = "sim-secret"
base_url = "http://127.0.0.1:8731"
rate_limit = 1000
""",
        monkeypatch,
    )
    accounts = load_accounts(env={"MAIN_KEY": KEY_ID, "MAIN_SECRET": SECRET})
    assert list(accounts) == ["main", "sim"]
    main, sim = accounts["main"], accounts["sim"]
    assert (main.name, main.api_key.get_secret_value()) == ("main", KEY_ID)
    assert main.secret_key.get_secret_value() == SECRET
    assert main.base_url == PAPER_BASE_URL
    assert main.risk == {"max_order_notional": "25000"}
    assert sim.api_key.get_secret_value() == "SIMKEY"
    assert sim.rate_limit == 1000
    assert sim.resolved_stream_url == "ws://127.0.0.1:8731/stream"


@pytest.mark.parametrize(
    ("text", "env", "setting", "fragment"),
    [
        (
            '[accounts.main]\napi_key_env = "MAIN_KEY"\nsecret_key = "s"\n',
            {},
            "accounts.main.api_key_env",
            "environment variable MAIN_KEY",
        ),
        (
            '[accounts.main]\napi_key = "k"\n',
            {},
            "accounts.main.secret_key",
            "neither secret_key nor secret_key_env",
        ),
        (
            '[accounts.main]\napi_key = "k"\nsecret_key = "s"\nbase_url = "nope"\n',
            {},
            "accounts.main.base_url",
            "http(s) URL",
        ),
        (
            '[accounts.main]\napi_key = "k"\nsecret_key = "s"\nbase_url = "https://api.alpaca.markets"\n',
            {},
            "accounts.main.base_url",
            "LIVE",
        ),
        (
            '[accounts.main]\napi_key = "k"\nsecret_key = "s"\nnickname = "x"\n',
            {},
            "accounts.main.nickname",
            "nickname",
        ),
        ("[accounts]\n", {}, "ALPACA_ACCOUNTS_FILE", "lists no accounts"),
        ("title = 'no accounts here'\n", {}, "ALPACA_ACCOUNTS_FILE", "lists no accounts"),
        ('accounts = { main = "x" }\n', {}, "accounts", "must be a table"),
        ("[accounts.main\napi_key = 1\n", {}, "ALPACA_ACCOUNTS_FILE", "not valid TOML"),
    ],
    ids=[
        "env var missing",
        "no secret",
        "bad url",
        "live without opt-in",
        "unknown key",
        "empty accounts",
        "no accounts table",
        "account not a table",
        "bad toml",
    ],
)
def test_accounts_file_errors_name_the_account_and_setting(
    clean_environment: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: dict[str, str],
    setting: str,
    fragment: str,
) -> None:
    """Every accounts-file mistake is a ConfigError naming where it is and what is wrong."""
    _accounts_file(clean_environment, text, monkeypatch)
    with pytest.raises(ConfigError) as caught:
        load_accounts(env=env)
    assert caught.value.setting == setting
    assert fragment in str(caught.value)


def test_live_account_accepted_with_its_own_opt_in(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live account in the file needs allow_live = true in its table."""
    _accounts_file(
        clean_environment,
        '[accounts.live]\napi_key = "k"\nsecret_key = "s"\n'
        'base_url = "https://api.alpaca.markets"\nallow_live = true\n',
        monkeypatch,
    )
    assert load_accounts(env={})["live"].base_url == LIVE_BASE_URL


def test_missing_accounts_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ALPACA_ACCOUNTS_FILE pointing nowhere says so and how to fix it."""
    monkeypatch.setenv("ALPACA_ACCOUNTS_FILE", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="does not exist") as caught:
        load_accounts(env={})
    assert caught.value.setting == "ALPACA_ACCOUNTS_FILE"


# --------------------------------------------------------------------------- secrets


def _settings_with_secret(monkeypatch: pytest.MonkeyPatch) -> AlpacaSettings:
    _export(monkeypatch, ALPACA_API_KEY=KEY_ID, ALPACA_SECRET_KEY=SECRET)
    return load_settings()


def test_secret_absent_from_repr_str_and_json_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the settings nor an account shows the secret in repr, str or model_dump_json."""
    settings = _settings_with_secret(monkeypatch)
    account = AccountConfig.from_settings(settings)
    for obj in (settings, account):
        for text in (repr(obj), str(obj), obj.model_dump_json(), str(obj.model_dump())):
            assert SECRET not in text
    assert repr(load_accounts()).count(SECRET) == 0
    # the value is still there for the one place that needs it
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == SECRET


def test_secret_absent_from_log_lines(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Logging the settings or the accounts, in any usual way, never writes the secret."""
    settings = _settings_with_secret(monkeypatch)
    log = logging.getLogger("alpaca_integration.test_config")
    with caplog.at_level(logging.DEBUG, logger="alpaca_integration.test_config"):
        log.info("settings %s", settings)
        log.info("settings %r", settings)
        log.info("dump %s", settings.model_dump())
        log.info("accounts %s", load_accounts())
        log.info("json %s", settings.model_dump_json())
    assert len(caplog.records) == 5
    assert "**********" in caplog.text  # the secret's place is masked, not dropped
    assert SECRET not in caplog.text


def test_secret_absent_from_config_errors_and_their_tracebacks(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ConfigError raised while a secret is configured carries it neither in the message
    nor anywhere in the printed traceback."""
    monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
    error = _config_error(monkeypatch, ALPACA_UPDATE_INTERVAL="0")
    printed = "".join(traceback.format_exception(error))
    assert SECRET not in str(error)
    assert SECRET not in printed

    # a secret of the wrong type in the accounts file: pydantic would echo the input value
    monkeypatch.delenv("ALPACA_UPDATE_INTERVAL")
    _accounts_file(
        clean_environment,
        '[accounts.main]\napi_key = "k"\nsecret_key = 987654321987\n',
        monkeypatch,
    )
    with pytest.raises(ConfigError) as caught:
        load_accounts(env={})
    printed = "".join(traceback.format_exception(caught.value))
    assert caught.value.setting == "accounts.main.secret_key"
    assert "987654321987" not in str(caught.value)
    assert "987654321987" not in printed


def test_secret_from_env_name_absent_from_account_errors(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account whose secret came from the environment and whose URL is bad reports the
    URL, never the secret."""
    _accounts_file(
        clean_environment,
        '[accounts.main]\napi_key = "k"\nsecret_key_env = "MAIN_SECRET"\nbase_url = "x"\n',
        monkeypatch,
    )
    with pytest.raises(ConfigError) as caught:
        load_accounts(env={"MAIN_SECRET": SECRET})
    assert SECRET not in "".join(traceback.format_exception(caught.value))


def test_database_and_redis_passwords_absent_from_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """A password inside ALPACA_DATABASE_URL or ALPACA_REDIS_URL never shows in the settings' repr."""
    _export(
        monkeypatch,
        ALPACA_DATABASE_URL="postgresql://trader:pg-pass-123@db:5432/broker",
        ALPACA_REDIS_URL="redis://:redis-pass-456@cache:6379/0",
    )
    settings = load_settings()
    assert settings.database_url.endswith("/broker")
    for text in (repr(settings), str(settings)):
        assert "pg-pass-123" not in text
        assert "redis-pass-456" not in text


# --------------------------------------------------------------------------- keys checked at load (issue 11 item 11)

BAD_KEYS = [
    "sk-abc\r\nX-Injected: 1",  # a header injection
    "sk-abc\n",  # a stray newline from a copy-paste
    "sk abc",  # an inner space
    "sk-ab\tc",
    "sk-äbc",  # not ASCII: cannot be a header value
]


@pytest.mark.parametrize("secret", BAD_KEYS)
def test_a_secret_that_cannot_be_a_header_is_refused_at_load_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    """A secret with CR, LF, spaces, tabs or non-ASCII is a ConfigError naming
    ALPACA_SECRET_KEY, and neither the message nor its traceback shows the secret."""
    monkeypatch.setenv("ALPACA_API_KEY", KEY_ID)
    error = _config_error(monkeypatch, ALPACA_SECRET_KEY=secret)
    assert error.setting == "ALPACA_SECRET_KEY"
    printed = "".join(traceback.format_exception(error))
    assert "sk-" not in printed
    assert "Injected" not in printed


def test_a_key_id_with_a_line_break_is_refused_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key id is a header value too: a line break in it is refused, naming ALPACA_API_KEY."""
    error = _config_error(monkeypatch, ALPACA_API_KEY="PK123\r\n", ALPACA_SECRET_KEY=SECRET)
    assert error.setting == "ALPACA_API_KEY"


def test_an_accounts_file_secret_with_a_line_break_is_refused_without_echoing_it(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same check applies to every account of the accounts file (inline or from env)."""
    _accounts_file(
        clean_environment,
        '[accounts.main]\napi_key = "k"\nsecret_key_env = "MAIN_SECRET"\n',
        monkeypatch,
    )
    with pytest.raises(ConfigError) as caught:
        load_accounts(env={"MAIN_SECRET": "sk-abc\r\nX-Injected: 1"})
    assert caught.value.setting == "accounts.main.secret_key"
    assert "line break" in str(caught.value)
    assert "Injected" not in str(caught.value) + repr(vars(caught.value))
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# --------------------------------------------------------------------------- live host spellings (issue 11 item 13)

LIVE_SPELLINGS = [
    "https://api.alpaca.markets.",  # trailing dot (a fully qualified name)
    "https://api.alpaca.markets.:443",
    "https://API.ALPACA.MARKETS:443/v2",
    "https://trader:pw@api.alpaca.markets",
    "https://api.alpaca.markets\u3002",  # an ideographic full stop, which IDNA maps to "."
    "https://\uff41\uff50\uff49.alpaca.markets",  # fullwidth "api"
    "https://api%2Ealpaca.markets",
    "HTTPS://api.alpaca.markets",
]


@pytest.mark.parametrize("url", LIVE_SPELLINGS)
def test_every_spelling_of_the_live_host_needs_the_opt_in(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """Case, a trailing dot, a port, userinfo, IDNA look-alikes and percent-escapes are
    compared after normalising the host: each spelling of the live venue is refused."""
    from alpaca_integration.config import is_live_url

    assert is_live_url(url)
    error = _config_error(monkeypatch, ALPACA_BASE_URL=url)
    assert "ALPACA_ALLOW_LIVE" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "https://paper-api.alpaca.markets",
        "https://api.alpaca.markets.example.test",
        "https://evil-api.alpaca.markets",
        "http://127.0.0.1:8765",
    ],
)
def test_other_hosts_are_not_live(url: str) -> None:
    """Hosts that merely contain the live name are not the live venue."""
    from alpaca_integration.config import is_live_url

    assert not is_live_url(url)
