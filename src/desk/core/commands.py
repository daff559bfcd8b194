"""Commands: what an operator (or another process) asks the engine to do.

Commands are imperative (``StartBot``), events past tense. Every command goes through the
engine's one command handler, in-process or from Redis, and is answered by a
:class:`CommandAck`. ``actor`` names who asked ("operator" by default; a
Redis UI puts its holder id there) so every override is recorded with who did it.

They are tagged frozen Structs so they can be msgpack-encoded across processes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from desk.core.orders import OrderRequest


class CommandAck(msgspec.Struct, frozen=True, kw_only=True):
    """The engine's answer to a command: accepted, or refused with the reason.

    ``detail`` carries what the command produced (e.g. the client order id of a new order).
    """

    command: str
    accepted: bool
    reason: str = ""
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class Command(msgspec.Struct, frozen=True, tag=True, kw_only=True):
    actor: str = "operator"


class AddBot(Command, frozen=True, kw_only=True):
    """Create a bot from a BotConfig-shaped mapping; ``start`` runs it at once."""

    config: dict[str, Any]
    start: bool = False


class StartBot(Command, frozen=True, kw_only=True):
    bot_id: str


class StopBot(Command, frozen=True, kw_only=True):
    bot_id: str


class PauseBot(Command, frozen=True, kw_only=True):
    """Stop the bot's automatic orders (signals still recorded): a manual override."""

    bot_id: str


class ResumeBot(Command, frozen=True, kw_only=True):
    """Hand a paused or manual bot back to automatic trading."""

    bot_id: str


class SetBotMode(Command, frozen=True, kw_only=True):
    bot_id: str
    mode: str


class SetBotParams(Command, frozen=True, kw_only=True):
    """Merge ``params`` over the bot's strategy parameters, live.

    ``backtest_id``: the saved backtest run the parameters come from (the backtest mode's
    "apply to bot"), recorded with the change.
    """

    bot_id: str
    params: dict[str, Any]
    backtest_id: int | None = None


class SubmitOrder(Command, frozen=True, kw_only=True):
    request: OrderRequest


class CancelOrder(Command, frozen=True, kw_only=True):
    client_order_id: str


class CancelAll(Command, frozen=True, kw_only=True):
    bot_id: str | None = None
    symbol: str | None = None


class Flatten(Command, frozen=True, kw_only=True):
    """Close positions (all, or one bot's / one symbol's) with market orders."""

    bot_id: str | None = None
    symbol: str | None = None


class Halt(Command, frozen=True, kw_only=True):
    """Cancel every open order and block new ones; ``flatten`` also closes positions."""

    reason: str = "operator halt"
    flatten: bool = False


class ResumeTrading(Command, frozen=True, kw_only=True):
    """Leave HALTED: orders are accepted again (bots stay in their own modes)."""


class RefreshInstruments(Command, frozen=True, kw_only=True):
    """Fetch the venue's instrument rules now (changes are logged as system events)."""


class ConfirmLive(Command, frozen=True, kw_only=True):
    """The operator confirmed, on screen, that this desk trades real money."""


class AcceptReconciliation(Command, frozen=True, kw_only=True):
    """Adopt the venue's view of orders and positions after a restart showed differences."""


BOT_COMMANDS = (AddBot, StartBot, StopBot, PauseBot, ResumeBot, SetBotMode, SetBotParams)
"""What a bots process answers when the engine runs as split roles (the executor the rest)."""


def is_bot_command(command: object) -> bool:
    return isinstance(command, BOT_COMMANDS)


AnyCommand = (
    AddBot
    | StartBot
    | StopBot
    | PauseBot
    | ResumeBot
    | SetBotMode
    | SetBotParams
    | SubmitOrder
    | CancelOrder
    | CancelAll
    | Flatten
    | Halt
    | ResumeTrading
    | ConfirmLive
    | RefreshInstruments
    | AcceptReconciliation
)
