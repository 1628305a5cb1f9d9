"""alpaca-integration: Alpaca broker state in your own database, correct to the last fill.

Public names are exported lazily (``__getattr__``) so that ``import alpaca_integration`` and the
``alpacactl`` start-up stay fast; ``__all__`` lists every public name and a test keeps it complete.
"""

from __future__ import annotations

from typing import Any

from alpaca_integration._lazy import lazy_attribute

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # configuration
    "AlpacaSettings": "alpaca_integration.config",
    "AccountConfig": "alpaca_integration.config",
    "load_settings": "alpaca_integration.config",
    "load_accounts": "alpaca_integration.config",
    "is_live_url": "alpaca_integration.config",
    "key_text_problem": "alpaca_integration.config",
    # errors
    "AlpacaIntegrationError": "alpaca_integration.errors",
    "ApiError": "alpaca_integration.errors",
    "AuthError": "alpaca_integration.errors",
    "ConfigError": "alpaca_integration.errors",
    "DuplicateClientOrderIdError": "alpaca_integration.errors",
    "ForbiddenError": "alpaca_integration.errors",
    "InsufficientBuyingPowerError": "alpaca_integration.errors",
    "InsufficientQtyError": "alpaca_integration.errors",
    "NotFoundError": "alpaca_integration.errors",
    "OrderOutcomeUnknownError": "alpaca_integration.errors",
    "InstructionOutcomeUnknownError": "alpaca_integration.errors",
    "OrderValidationError": "alpaca_integration.errors",
    "ParseError": "alpaca_integration.errors",
    "RateLimitedError": "alpaca_integration.errors",
    "RequestRejectedError": "alpaca_integration.errors",
    "RequestNotSentError": "alpaca_integration.errors",
    "RequestTimeoutError": "alpaca_integration.errors",
    "RiskLimitError": "alpaca_integration.errors",
    "ServerError": "alpaca_integration.errors",
    "ShortingNotAllowedError": "alpaca_integration.errors",
    "StorageError": "alpaca_integration.errors",
    "FencedWriteError": "alpaca_integration.errors",
    "StreamError": "alpaca_integration.errors",
    "SubPennyError": "alpaca_integration.errors",
    "TransportError": "alpaca_integration.errors",
    # models
    "Account": "alpaca_integration.models",
    "AccountConfiguration": "alpaca_integration.models",
    "AccountSnapshot": "alpaca_integration.models",
    "Activity": "alpaca_integration.models",
    "Asset": "alpaca_integration.models",
    "AssetClass": "alpaca_integration.models",
    "BulkResult": "alpaca_integration.models",
    "CalendarDay": "alpaca_integration.models",
    "Clock": "alpaca_integration.models",
    "DataSource": "alpaca_integration.models",
    "Fill": "alpaca_integration.models",
    "FillType": "alpaca_integration.models",
    "Market": "alpaca_integration.models",
    "MarketCalendar": "alpaca_integration.models",
    "MarketClock": "alpaca_integration.models",
    "MarketDay": "alpaca_integration.models",
    "MarketPhase": "alpaca_integration.models",
    "MultiLegOrderRequest": "alpaca_integration.models",
    "OptionContract": "alpaca_integration.models",
    "OptionDeliverable": "alpaca_integration.models",
    "OptionLegRequest": "alpaca_integration.models",
    "OptionStyle": "alpaca_integration.models",
    "OptionType": "alpaca_integration.models",
    "Order": "alpaca_integration.models",
    "OrderClass": "alpaca_integration.models",
    "OrderIntent": "alpaca_integration.models",
    "OrderRequest": "alpaca_integration.models",
    "OrderSide": "alpaca_integration.models",
    "OrderStatus": "alpaca_integration.models",
    "OrderType": "alpaca_integration.models",
    "PortfolioHistory": "alpaca_integration.models",
    "Position": "alpaca_integration.models",
    "PositionIntent": "alpaca_integration.models",
    "PositionSide": "alpaca_integration.models",
    "ReplaceRequest": "alpaca_integration.models",
    "StopLoss": "alpaca_integration.models",
    "TakeProfit": "alpaca_integration.models",
    "TimeInForce": "alpaca_integration.models",
    "TradeEventKind": "alpaca_integration.models",
    "TradeUpdate": "alpaca_integration.models",
    "Watchlist": "alpaca_integration.models",
    "new_client_order_id": "alpaca_integration.models",
    "order_status_rank": "alpaca_integration.models",
    "derive_stream_url": "alpaca_integration.config",
    # the client, its budget and the stream
    "AlpacaClient": "alpaca_integration.alpaca.client",
    "RetryPolicy": "alpaca_integration.alpaca.client",
    "Lane": "alpaca_integration.alpaca.ratelimit",
    "make_rate_budget": "alpaca_integration.alpaca.ratelimit",
    "TradeUpdatesStream": "alpaca_integration.alpaca.stream",
    # storage, cache, sync
    "Store": "alpaca_integration.storage",
    "ApplyResult": "alpaca_integration.storage",
    "open_cache": "alpaca_integration.cache",
    "SyncEngine": "alpaca_integration.sync",
    "StreamIngestor": "alpaca_integration.sync",
    # correctness
    "RiskLimits": "alpaca_integration.checks.risk",
    "check_order": "alpaca_integration.checks.risk",
    "make_pre_trade_check": "alpaca_integration.checks.risk",
    "client_for_account": "alpaca_integration.checks.risk",
    "reconcile": "alpaca_integration.checks.reconcile",
    "run_rules": "alpaca_integration.checks.quality",
    "split_page": "alpaca_integration.checks.quality",
    # simulator
    "SimConfig": "alpaca_integration.simulator",
    "create_app": "alpaca_integration.simulator",
    "running_simulator": "alpaca_integration.simulator",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _EXPORTS, name, globals())


def __dir__() -> list[str]:
    return __all__
