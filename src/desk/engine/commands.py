"""The engine's one door for commands, whoever sends them (the in-process UI, or Redis later).

Every command is answered with a :class:`~desk.core.commands.CommandAck`: accepted, or refused
with a reason an operator can act on ("unknown bot 'x'", "ma_crossover: invalid parameters:
..."). Nothing here raises to the caller; a refused command changes nothing.

A command that changes state meant to survive a restart (a halt or resume, a bot's state, mode
or parameters) is acknowledged only once that change is committed to SQLite, so a kill -9 right
after the acknowledgement does not undo it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from desk.core.commands import (
    AcceptReconciliation,
    AddBot,
    CancelAll,
    CancelOrder,
    Command,
    CommandAck,
    ConfirmLive,
    Flatten,
    Halt,
    PauseBot,
    RefreshInstruments,
    ResumeBot,
    ResumeTrading,
    SetBotMode,
    SetBotParams,
    StartBot,
    StopBot,
    SubmitOrder,
)
from desk.core.orders import OrderRequest, OrderStatus
from desk.signals.bots import BotConfig

if TYPE_CHECKING:
    from desk.engine.parts import EngineParts
    from desk.execution.service import ExecutionService

log = logging.getLogger(__name__)

Handler = Callable[[Any], Awaitable[CommandAck] | CommandAck]

DURABLE_COMMANDS = (
    AddBot,
    StartBot,
    StopBot,
    PauseBot,
    ResumeBot,
    SetBotMode,
    SetBotParams,
    Halt,
    ResumeTrading,
)
"""Commands acknowledged only once their change is committed to SQLite."""


def command_name(command: Command) -> str:
    return type(command).__name__


class CommandHandler:
    """Dispatches command structs to the engine's components."""

    def __init__(self, engine: EngineParts) -> None:
        self.engine = engine
        self._handlers: dict[type, Handler] = {
            AddBot: self._add_bot,
            StartBot: self._bot_call("start_bot"),
            StopBot: self._bot_call("stop_bot"),
            PauseBot: self._bot_call("pause_bot"),
            ResumeBot: self._bot_call("resume_bot"),
            SetBotMode: self._set_mode,
            SetBotParams: self._set_params,
            SubmitOrder: self._submit,
            CancelOrder: self._cancel,
            CancelAll: self._cancel_all,
            Flatten: self._flatten,
            Halt: self._halt,
            ResumeTrading: self._resume,
            ConfirmLive: self._confirm_live,
            AcceptReconciliation: self._accept_reconciliation,
            RefreshInstruments: self._refresh_instruments,
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
        if result.accepted and isinstance(command, DURABLE_COMMANDS):
            await self._committed(name)
        return result

    async def _committed(self, name: str) -> None:
        """Wait until what the command changed is on disk (see the module docstring)."""
        try:
            await self.engine.store.wait_committed()
        except Exception as exc:  # the change is made; say that it may not survive a restart
            log.error("%s applied but not stored: %s", name, exc)

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
        if command.backtest_id is not None:
            self._record_params_source(command)
        return CommandAck(command="SetBotParams", accepted=True)

    def _record_params_source(self, command: SetBotParams) -> None:
        """Which backtest the new parameters came from, in the bot's change log (stored and
        published like the manager's own ``params`` event just before it)."""
        from desk.core.topics import bot_signals
        from desk.signals.bots import BotEvent

        now = self.engine.bots.clock.now_ns()
        detail = {"backtest_id": command.backtest_id, "params": dict(command.params)}
        event = BotEvent(
            ts_exchange=0,
            ts_recv=now,
            bot_id=command.bot_id,
            kind="params_source",
            detail=detail,
            actor=command.actor,
        )
        self.engine.store.record_bot_event(
            ts_ns=now, bot_id=event.bot_id, kind=event.kind, detail=detail, actor=event.actor
        )
        self.engine.bus.publish(bot_signals(command.bot_id), event)

    # -- execution -------------------------------------------------------------------------

    def _execution(self) -> ExecutionService:
        execution = self.engine.execution
        if execution is None:
            why = self.engine.execution_error or "the engine has not started execution"
            raise ValueError(f"execution unavailable: {why}")
        return execution

    def _submit(self, command: SubmitOrder) -> CommandAck:
        # Normalised through msgspec: "buy" becomes Side.BUY, 0.1 an exact Decimal("0.1").
        request = msgspec.convert(msgspec.to_builtins(command.request), OrderRequest)
        order = self._execution().submit(request)
        detail = {"client_order_id": order.client_order_id, "status": str(order.status)}
        if order.status is OrderStatus.REJECTED:
            return CommandAck(
                command="SubmitOrder", accepted=False, reason=order.reason, detail=detail
            )
        return CommandAck(command="SubmitOrder", accepted=True, detail=detail)

    def _cancel(self, command: CancelOrder) -> CommandAck:
        oms = self._execution().oms
        if not oms.cancel(command.client_order_id):
            reason = oms.last_cancel_reason or f"cannot cancel {command.client_order_id}"
            return CommandAck(command="CancelOrder", accepted=False, reason=reason)
        return CommandAck(command="CancelOrder", accepted=True)

    def _cancel_all(self, command: CancelAll) -> CommandAck:
        count = self._execution().oms.cancel_all(bot_id=command.bot_id, symbol=command.symbol)
        return CommandAck(command="CancelAll", accepted=True, detail={"canceled": count})

    def _flatten(self, command: Flatten) -> CommandAck:
        orders = self._execution().flatten(bot_id=command.bot_id, symbol=command.symbol)
        refused = [o.reason for o in orders if o.status is OrderStatus.REJECTED]
        detail = {"orders": [o.client_order_id for o in orders], "refused": refused}
        if refused:
            return CommandAck(
                command="Flatten", accepted=False, reason="; ".join(refused), detail=detail
            )
        return CommandAck(command="Flatten", accepted=True, detail=detail)

    def _halt(self, command: Halt) -> CommandAck:
        canceled, closing = self._execution().halt(
            command.reason, flatten=command.flatten, actor=command.actor
        )
        self.engine.emit("risk", "halt", f"HALT by {command.actor}: {command.reason}")
        detail = {"canceled": canceled, "flatten_orders": [o.client_order_id for o in closing]}
        return CommandAck(command="Halt", accepted=True, detail=detail)

    def _resume(self, command: ResumeTrading) -> CommandAck:
        self._execution().resume(actor=command.actor)
        self.engine.emit("risk", "resume", f"trading resumed by {command.actor}")
        return CommandAck(command="ResumeTrading", accepted=True)

    def _confirm_live(self, command: ConfirmLive) -> CommandAck:
        self._execution().confirm_live()
        self.engine.emit(
            "execution", "live_confirmed", f"live trading confirmed by {command.actor}"
        )
        return CommandAck(command="ConfirmLive", accepted=True)

    def _accept_reconciliation(self, command: AcceptReconciliation) -> CommandAck:
        changed = self._execution().oms.accept_reconciliation()
        self.engine.emit(
            "execution",
            "reconciliation_accepted",
            f"venue state accepted by {command.actor} ({changed} changes)",
        )
        return CommandAck(
            command="AcceptReconciliation", accepted=True, detail={"changed": changed}
        )

    async def _refresh_instruments(self, command: RefreshInstruments) -> CommandAck:
        registry = self.engine.instrument_registry
        if registry is None:
            raise ValueError("instruments are not loaded yet")
        changes = await registry.refresh()
        return CommandAck(command="RefreshInstruments", accepted=True, detail={"changes": changes})
