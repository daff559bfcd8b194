"""Bus topic names: the same strings in-process and on Redis pub/sub (DESIGN.md section 3)."""

SYSTEM_EVENTS = "system_events"


def market_data(symbol: str) -> str:
    return f"market_data:{symbol}"


def bot_signals(bot_id: str) -> str:
    return f"bot_signals:{bot_id}"


def trade_updates(bot_id: str) -> str:
    return f"trade_updates:{bot_id}"
