"""The engine's one door for commands, whoever sends them (the in-process UI, or Redis later).

Every command is answered with a :class:`~desk.core.commands.CommandAck`: accepted, or refused
with a reason an operator can act on ("unknown bot 'x'", "ma_crossover: invalid parameters:
..."). Nothing here raises to the caller; a refused command changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from desk.core.commands import (
    AddBot,
    Command,
    CommandAck,
    PauseBot,
    ResumeBot,
    SetBotMode,
    SetBotParams,
    StartBot,
    StopBot,
)
from desk.signals.bots import BotConfig

if TYPE_CHECKING:
    from desk.engine.engine import Engine

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[CommandAck] | CommandAck]


def command_name(command: Command) -> str:
    return type(command).__name__


class CommandHandler:
    """Dispatches command structs to the engine's components."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._handlers: dict[type, Handler] = {
            AddBot: self._add_bot,
            StartBot: self._bot_call("start_bot"),
            StopBot: self._bot_call("stop_bot"),
            PauseBot: self._bot_call("pause_bot"),
            ResumeBot: self._bot_call("resume_bot"),
            SetBotMode: self._set_mode,
            SetBotParams: self._set_params,
        }

    def register(self, kind: type, handler: Handler) -> None:
        """Let another component (execution) answer a kind of command."""
        self._handlers[kind] = handler

    async def execute(self, command: Command) -> CommandAck:
        name = command_name(command)
        handler = self._handlers.get(type(command))
        if handler is None:
            return CommandAck(command=name, accepted=False, reason=f"{name} is not available")
        try:
            result = handler(command)
            if not isinstance(result, CommandAck):
                result = await result
        except (KeyError, ValueError, TypeError, msgspec.ValidationError) as exc:
            reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return CommandAck(command=name, accepted=False, reason=str(reason))
        except Exception as exc:  # a bug must not take the engine down with it
            log.exception("command %s failed", name)
            return CommandAck(command=name, accepted=False, reason=f"internal error: {exc!r}")
        return result

    # -- bots ------------------------------------------------------------------------------

    def _bot_call(self, method: str) -> Handler:
        def handle(command: Any) -> CommandAck:
            getattr(self.engine.bots, method)(command.bot_id, actor=command.actor)
            return CommandAck(command=command_name(command), accepted=True)

        return handle

    def _add_bot(self, command: AddBot) -> CommandAck:
        config = msgspec.convert(command.config, BotConfig)
        self.engine.check_bot(config)
        bots = self.engine.bots
        bots.add_bot(config, actor=command.actor)
        if command.start:
            bots.start_bot(config.bot_id, actor=command.actor)
        return CommandAck(command="AddBot", accepted=True, detail={"bot_id": config.bot_id})

    def _set_mode(self, command: SetBotMode) -> CommandAck:
        self.engine.bots.set_mode(command.bot_id, command.mode, actor=command.actor)
        return CommandAck(command="SetBotMode", accepted=True)

    def _set_params(self, command: SetBotParams) -> CommandAck:
        self.engine.bots.update_params(command.bot_id, command.params, actor=command.actor)
        return CommandAck(command="SetBotParams", accepted=True)
