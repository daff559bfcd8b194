"""The bot manager: runs bots, filters their signals, records everything, survives restarts.

Candles arrive on ``market_data:{symbol}``; every RUNNING bot on that symbol and timeframe feeds
closed candles to its strategy. Each signal goes through :meth:`BotManager.process_signal`,
which applies the filters **in this order** and stops at the first that fails:

1. ``FILTERED_STOPPED``     - the bot is STOPPED (only reachable by calling process_signal)
2. ``FILTERED_PAUSED``      - mode PAUSED
3. ``FILTERED_MANUAL``      - mode MANUAL (the operator trades the position by hand)
4. ``FILTERED_STRENGTH``    - ``signal.strength < min_strength``
5. ``FILTERED_COOLDOWN``    - under ``cooldown_s`` since the bot's last SENT (manager's clock)
6. ``FILTERED_UNCONFIRMED`` - the direction has not yet stood ``confirm_bars`` closed candles
   (see :mod:`desk.signals.bots`); the signal is held and re-evaluated, from step 2, on the
   candle that confirms it
7. ``SENT``                 - handed to the :class:`~desk.signals.order_sink.OrderSink`
   (``FILTERED_RISK`` if it refused the order - risk, halt, reconciliation - and ``FAILED``
   if it raised anything else; the reason is a ``risk_refused`` / ``sink_error`` bot event)

Every signal is stored (``bot_signals`` table) with its fate, and published on
``bot_signals:{bot_id}`` as a :class:`~desk.signals.bots.BotSignal`. Every change of state,
mode or parameters is stored (``bot_events``) and published as a
:class:`~desk.signals.bots.BotEvent`; the bot's config with its last state and mode is upserted
into ``bots`` so :meth:`BotManager.restore` brings each bot back as it was after a restart.

Paused and manual bots keep being fed (their indicators stay warm and their signals are
recorded); stopped bots are not fed. Unknown bot ids raise ``KeyError``.

Deferred strategies (:mod:`desk.signals.strategies.deferred`, the ``lstm`` model) decide after
the bar, off the event loop: the manager binds each to its bot, and a decision they deliver
later goes through :meth:`BotManager.process_signal` like any other - or, when it came after a
newer bar, is recorded with the fate ``LATE`` and not traded. Their models live in
:attr:`BotManager.models` (loaded when the first such bot starts; ``book`` lends them the
engine's order books). A model that cannot be loaded refuses the start (``start_failed``
event) or the parameter change (the bot keeps the model it had).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, Clock
from desk.core.events import Candle
from desk.core.histogram import MarkedLatency
from desk.signals.activation import ActivationWatch, with_activation
from desk.signals.bot_store import BotStore
from desk.signals.bots import (
    BotConfig,
    BotEvent,
    BotMode,
    BotSignal,
    BotState,
    BotStatus,
    SignalFate,
)
from desk.signals.model.live import ModelPool
from desk.signals.order_sink import OrderRefused, OrderSink
from desk.signals.signal import Direction, Signal
from desk.signals.strategies import create_strategy
from desk.signals.strategies.deferred import DeferredStrategy, StrategyServices
from desk.signals.strategy import BaseStrategy

log = logging.getLogger(__name__)

OPERATOR = "operator"
SYSTEM = "system"

# Enum members as globals: ``BotState.RUNNING`` costs ~140 ns on CPython 3.11, a global ~10.
_RUNNING, _STOPPED = BotState.RUNNING, BotState.STOPPED
_PAUSED, _MANUAL = BotMode.PAUSED, BotMode.MANUAL
_SENT, _UNCONFIRMED = SignalFate.SENT, SignalFate.FILTERED_UNCONFIRMED


class _Bot:
    """The manager's live record of one bot."""

    def __init__(self, config: BotConfig, strategy: BaseStrategy) -> None:
        self.config = config
        self.strategy = strategy
        self.state = BotState.STOPPED
        self.last_signal: Signal | None = None
        self.last_sent_ns: int | None = None
        self.signal_count = self.sent_count = 0
        self.streak_direction: Direction | None = None
        self.streak = 0
        self.pending: Signal | None = None

    @property
    def mode(self) -> BotMode:
        return self.config.mode

    def forget_streak(self) -> None:
        self.streak_direction, self.streak, self.pending = None, 0, None


class BotManager:
    """Owns every bot of one engine. ``sink`` is where SENT signals go (the OMS seam)."""

    def __init__(self, bus: Bus, store: BotStore, sink: OrderSink, clock: Clock) -> None:
        self.bus = bus
        self.store = store
        self.sink = sink
        self.clock = clock
        self._bots: dict[str, _Bot] = {}
        self._unsubscribe: dict[str, Callable[[], None]] = {}
        self.models = ModelPool(clock.now_ns)
        self.book: Callable[[str], Any] | None = None  # symbol -> live order book (engine)
        self.activation: ActivationWatch | None = None  # the engine's, for activation events
        self.orders: Callable[[Any], Any] | None = None  # OrderRequest -> Order (engine)
        self._services = StrategyServices(self.models, self._book, clock.now_ns, self._order, bus)
        self._market_watchers = False  # once a strategy wants trades: route them
        self.tick_to_order = MarkedLatency()  # a closed bar's receive -> its bot's order sent

    # ---- lifecycle -------------------------------------------------------------------------

    def add_bot(self, config: BotConfig, *, actor: str = OPERATOR) -> BotStatus:
        """Register a bot, STOPPED, in ``config.mode``; ValueError (nothing registered) for a
        duplicate id or bad strategy/params."""
        if config.bot_id in self._bots:
            raise ValueError(f"bot {config.bot_id!r} already exists")
        bot = _Bot(config, self._strategy(config.bot_id, config.strategy, config.params))
        self._register(bot)
        self._bind(bot, bot.strategy)
        self._changed(bot, "added", {"config": msgspec.to_builtins(config)}, actor)
        return self.status(config.bot_id)

    def start_bot(self, bot_id: str, *, actor: str = OPERATOR) -> None:
        """RUNNING: fed candles from now on, with fresh strategy history. No-op if running.

        ValueError when a deferred strategy cannot load what it needs (its model): the bot
        stays STOPPED and a ``start_failed`` event says why.
        """
        bot = self._get(bot_id)
        if bot.state is BotState.RUNNING:
            return
        bot.strategy.reset()
        if isinstance(bot.strategy, DeferredStrategy):
            try:
                bot.strategy.prepare()
            except ValueError as exc:
                self._event(bot_id, "start_failed", {"error": str(exc)}, actor)
                raise ValueError(f"bot {bot_id!r}: {exc}") from None
        bot.forget_streak()
        bot.state = BotState.RUNNING
        self._changed(bot, "started", {"state": str(bot.state)}, actor)

    def stop_bot(self, bot_id: str, *, actor: str = OPERATOR) -> None:
        """STOPPED: no longer fed; a held unconfirmed signal is dropped. No-op if stopped."""
        bot = self._get(bot_id)
        if bot.state is BotState.STOPPED:
            return
        bot.state = BotState.STOPPED
        bot.forget_streak()
        if isinstance(bot.strategy, DeferredStrategy):
            bot.strategy.close()
        self._changed(bot, "stopped", {"state": str(bot.state)}, actor)

    def pause_bot(self, bot_id: str, *, actor: str = OPERATOR) -> None:
        """Mode PAUSED: signals are recorded but not sent."""
        self.set_mode(bot_id, BotMode.PAUSED, actor=actor)

    def resume_bot(self, bot_id: str, *, actor: str = OPERATOR) -> None:
        """Back to mode AUTO (from PAUSED or MANUAL)."""
        self.set_mode(bot_id, BotMode.AUTO, actor=actor)

    def set_mode(self, bot_id: str, mode: BotMode | str, *, actor: str = OPERATOR) -> None:
        """Change the mode; ValueError for an unknown mode. No-op if unchanged."""
        bot = self._get(bot_id)
        new = BotMode(mode)
        old = bot.mode
        if new is old:
            return
        bot.config = msgspec.structs.replace(bot.config, mode=new)
        self._changed(bot, "mode", {"old": str(old), "new": str(new)}, actor)

    def update_params(
        self, bot_id: str, params: Mapping[str, Any], *, actor: str = OPERATOR
    ) -> None:
        """Merge ``params`` over the bot's strategy parameters, live.

        Validated by building a new strategy; on error nothing changes and ValueError names the
        parameter. On success the strategy restarts with fresh indicator history (and no held
        unconfirmed signal) - except a deferred one, which may take over the old one's history
        (a model switch: the next bar is the new model's); it may also refuse (a checkpoint that
        does not fit), and the bot keeps its old strategy.
        """
        bot = self._get(bot_id)
        if not isinstance(params, Mapping):
            raise ValueError(f"bot {bot_id!r}: params must be a mapping, got {params!r}")
        merged = {**bot.config.params, **params}
        strategy = self._strategy(bot_id, bot.config.strategy, merged)
        if isinstance(strategy, DeferredStrategy):
            self._bind(bot, strategy)
            try:
                strategy.take_over(bot.strategy, running=bot.state is BotState.RUNNING)
            except ValueError as exc:
                strategy.close()
                self._bind(bot, bot.strategy)
                raise ValueError(f"bot {bot_id!r}: {exc}") from None
        if isinstance(bot.strategy, DeferredStrategy):
            bot.strategy.close()
        old = bot.config.params
        bot.config = msgspec.structs.replace(bot.config, params=merged)
        bot.strategy = strategy
        bot.forget_streak()
        self._changed(bot, "params", {"old": old, "new": merged}, actor)

    async def restore(self, *, actor: str = SYSTEM) -> list[str]:
        """Bring back every stored bot not already here, in its stored state and mode.

        RUNNING bots start again (fresh strategy history); others stay STOPPED. A stored bot
        that no longer validates is skipped with a ``restore_failed`` event. The ids restored.
        """
        restored = []
        for row in await self.store.load_bots():
            bot_id = row["bot_id"]
            if bot_id in self._bots:
                continue
            try:
                config = msgspec.convert({**row["config"], "mode": row["mode"]}, BotConfig)
                strategy = self._strategy(bot_id, config.strategy, config.params)
            except (ValueError, TypeError) as exc:
                log.error("cannot restore bot %s: %s", bot_id, exc)
                self._event(bot_id, "restore_failed", {"error": str(exc)}, actor)
                continue
            bot = _Bot(config, strategy)
            self._register(bot)
            self._bind(bot, strategy)
            detail = {"state": row["state"], "mode": str(config.mode)}
            self._changed(bot, "restored", detail, actor)
            if row["state"] == BotState.RUNNING:
                try:
                    self.start_bot(bot_id, actor=actor)
                except ValueError as exc:  # recorded as start_failed; the bot stays stopped
                    log.error("cannot restart bot %s: %s", bot_id, exc)
            restored.append(bot_id)
        return restored

    def close(self) -> None:
        """Unsubscribe from market data and stop the models (bots stay as they are in storage)."""
        for remove in self._unsubscribe.values():
            remove()
        self._unsubscribe.clear()
        for bot in self._bots.values():
            if isinstance(bot.strategy, DeferredStrategy):
                bot.strategy.close()
        self.models.close()

    # ---- signals ---------------------------------------------------------------------------

    def on_candle(self, candle: Any) -> None:
        """Feed a closed candle to every RUNNING bot on its symbol and timeframe.

        Subscribed to ``market_data:{symbol}``; other events on that topic go to the deferred
        strategies that want them (and cost one comparison when none does).
        """
        if not isinstance(candle, Candle):
            if self._market_watchers:
                self._feed_market(candle)
            return
        if not candle.closed or candle.backfill:  # backfilled: warm-up (engine.backfill) only
            return
        self.tick_to_order.mark((candle.symbol, candle.end), candle.ts_recv)
        for bot in list(self._bots.values()):
            cfg = bot.config
            if (
                bot.state is not _RUNNING
                or cfg.symbol != candle.symbol
                or cfg.venue != candle.venue
                or cfg.timeframe != candle.timeframe
            ):
                continue
            try:
                signal = bot.strategy.on_candle(candle)
            except Exception as exc:
                log.exception("bot %s: strategy failed on candle %d", cfg.bot_id, candle.end)
                self._event(cfg.bot_id, "strategy_error", {"error": repr(exc)}, SYSTEM)
                continue
            if signal is not None:
                self.process_signal(cfg.bot_id, signal)
            else:
                self._quiet_bar(bot, candle)

    def _feed_market(self, event: Any) -> None:
        symbol = getattr(event, "symbol", None)
        venue = getattr(event, "venue", None)
        for bot in list(self._bots.values()):
            strategy = bot.strategy
            if (
                bot.state is BotState.RUNNING
                and bot.config.symbol == symbol
                and isinstance(strategy, DeferredStrategy)
                and strategy.wants_market
                and (bot.config.venue == venue or strategy.every_venue)  # arbitrage: all
            ):
                strategy.on_market(event)

    def _deliver(self, bot_id: str, strategy: BaseStrategy, signal: Signal, late: bool) -> None:
        """A deferred strategy's decision, back on the event loop: a signal, or a late one.

        Dropped when the strategy is no longer the bot's (replaced, or the bot was removed or
        stopped since it was asked).
        """
        bot = self._bots.get(bot_id)
        if bot is None or bot.strategy is not strategy or bot.state is not BotState.RUNNING:
            return
        if late:
            self._settle(bot, signal, SignalFate.LATE)
        else:
            self.process_signal(bot_id, signal)

    def process_signal(self, bot_id: str, signal: Signal) -> SignalFate:
        """Filter, record, publish and (if SENT) submit one signal; its fate."""
        bot = self._get(bot_id)
        if bot.state is _STOPPED:
            return self._settle(bot, signal, SignalFate.FILTERED_STOPPED)
        if signal.direction is bot.streak_direction:
            bot.streak += 1
        else:
            bot.streak_direction, bot.streak = signal.direction, 1
        fate = self._filter(bot, signal)
        bot.pending = signal if fate is _UNCONFIRMED else None
        return self._settle(bot, signal, fate)

    def _quiet_bar(self, bot: _Bot, candle: Candle) -> None:
        """A candle with no signal: the standing direction has lasted one more bar."""
        if bot.streak_direction is None:
            return
        bot.streak += 1
        pending = bot.pending
        if pending is None or bot.streak < bot.config.confirm_bars:
            return
        bot.pending = None
        confirmed = msgspec.structs.replace(
            pending,
            ts=candle.end,
            price=candle.close,
            reason=f"{pending.reason} (confirmed after {bot.streak} bars)",
        )
        self._settle(bot, confirmed, self._filter(bot, confirmed))

    def _filter(self, bot: _Bot, signal: Signal) -> SignalFate:
        cfg = bot.config
        mode = cfg.mode
        if mode is _PAUSED:
            return SignalFate.FILTERED_PAUSED
        if mode is _MANUAL:
            return SignalFate.FILTERED_MANUAL
        if signal.strength < cfg.min_strength:
            return SignalFate.FILTERED_STRENGTH
        if (
            cfg.cooldown_s > 0
            and bot.last_sent_ns is not None
            and self.clock.now_ns() - bot.last_sent_ns < cfg.cooldown_s * NS_PER_S
        ):
            return SignalFate.FILTERED_COOLDOWN
        if bot.streak < cfg.confirm_bars:
            return _UNCONFIRMED
        return _SENT

    def _settle(self, bot: _Bot, signal: Signal, fate: SignalFate) -> SignalFate:
        now = self.clock.now_ns()
        bot_id = bot.config.bot_id
        order_id = ""
        if fate is _SENT:
            submit = getattr(bot.strategy, "execute", None) or self.sink.submit  # arbitrage
            try:
                order_id = submit(bot.config, signal)
            except OrderRefused as exc:
                fate = SignalFate.FILTERED_RISK
                self._event(bot_id, "risk_refused", {"error": str(exc)}, SYSTEM)
            except Exception as exc:
                log.exception("bot %s: order sink failed", bot_id)
                fate = SignalFate.FAILED
                self._event(bot_id, "sink_error", {"error": repr(exc)}, SYSTEM)
            else:
                bot.last_sent_ns = now
                bot.sent_count += 1
                if order_id:  # timed from the bar it was decided on (when that is the latest)
                    self.tick_to_order.record((signal.symbol, signal.ts), self.clock.now_ns())
        bot.last_signal = signal
        bot.signal_count += 1
        self.store.record_signal(
            bot_id=bot_id, signal=signal, fate=str(fate), recorded_ns=now, order_id=order_id
        )
        self.bus.publish(
            topics.bot_signals(bot_id),
            BotSignal(
                ts_exchange=signal.ts,
                ts_recv=now,
                bot_id=bot_id,
                signal=signal,
                fate=fate,
                order_id=order_id,
            ),
        )
        return fate

    # ---- queries ---------------------------------------------------------------------------

    def status(self, bot_id: str) -> BotStatus:
        bot = self._get(bot_id)
        cfg, last = bot.config, bot.last_signal
        return BotStatus(
            bot_id=cfg.bot_id,
            strategy=cfg.strategy,
            symbol=cfg.symbol,
            timeframe=cfg.timeframe,
            state=bot.state,
            mode=bot.mode,
            position=self.sink.position(cfg.bot_id),
            last_signal_ts=last.ts if last else None,
            last_signal_direction=last.direction if last else None,
            signal_count=bot.signal_count,
            sent_count=bot.sent_count,
        )

    def statuses(self) -> list[BotStatus]:
        """Every bot's status, in the order they were added."""
        return [self.status(bot_id) for bot_id in self._bots]

    def strategy(self, bot_id: str) -> BaseStrategy:
        """The bot's live strategy object (read it, do not feed it)."""
        return self._get(bot_id).strategy

    def config(self, bot_id: str) -> BotConfig:
        """The bot's current configuration (mode and params included)."""
        return self._get(bot_id).config

    # ---- internals -------------------------------------------------------------------------

    def _get(self, bot_id: str) -> _Bot:
        try:
            return self._bots[bot_id]
        except KeyError:
            raise KeyError(f"unknown bot {bot_id!r}") from None

    @staticmethod
    def _strategy(bot_id: str, name: str, params: Mapping[str, Any]) -> BaseStrategy:
        try:
            return create_strategy(name, params)
        except ValueError as exc:
            raise ValueError(f"bot {bot_id!r}: {exc}") from None

    def _order(self, request: Any) -> Any:  # a strategy's own order: risk, then the OMS
        if self.orders is None:
            raise OrderRefused("execution unavailable: no order path")
        return self.orders(request)

    def _book(self, symbol: str) -> Any:
        return self.book(symbol) if self.book is not None else None

    def _bind(self, bot: _Bot, strategy: BaseStrategy) -> None:
        """Give a deferred strategy its bot's delivery callback and the manager's services."""
        if not isinstance(strategy, DeferredStrategy):
            return
        bot_id = bot.config.bot_id

        def deliver(signal: Signal, late: bool) -> None:
            self._deliver(bot_id, strategy, signal, late)

        strategy.bind(bot_id, deliver, self._services)
        self._market_watchers = self._market_watchers or strategy.wants_market

    def _register(self, bot: _Bot) -> None:
        self._bots[bot.config.bot_id] = bot
        symbol = bot.config.symbol
        if symbol not in self._unsubscribe:
            self._unsubscribe[symbol] = self.bus.subscribe(
                topics.market_data(symbol), self.on_candle
            )

    def _changed(self, bot: _Bot, kind: str, detail: dict[str, Any], actor: str) -> None:
        """Persist the bot's config/state/mode and record + publish the change."""
        now = self.clock.now_ns()
        self.store.upsert_bot(
            bot_id=bot.config.bot_id,
            config=msgspec.to_builtins(bot.config),
            state=str(bot.state),
            mode=str(bot.mode),
            updated_ns=now,
        )
        cfg = bot.config  # activating events carry what the bot saw (desk.signals.activation)
        detail = with_activation(self.activation, cfg.symbol, cfg.timeframe, kind, detail)
        self._event(cfg.bot_id, kind, detail, actor)

    def _event(self, bot_id: str, kind: str, detail: dict[str, Any], actor: str) -> None:
        now = self.clock.now_ns()
        self.store.record_bot_event(ts_ns=now, bot_id=bot_id, kind=kind, detail=detail, actor=actor)
        self.bus.publish(
            topics.bot_signals(bot_id),
            BotEvent(
                ts_exchange=0, ts_recv=now, bot_id=bot_id, kind=kind, detail=detail, actor=actor
            ),
        )
