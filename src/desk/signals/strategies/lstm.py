"""``lstm``: trade the direction the LSTM-attention model predicts over its horizon.

Parameters: ``model`` (a checkpoint directory written by ``desk train``), ``min_confidence``
(the predicted class's probability must reach it), ``exit_on_flat`` (a confident "flat" closes
the position), ``allow_reshape`` (a live switch to a checkpoint with other features, sizes or
label is refused unless this is set), ``slow_down_s`` (an artificial delay before each
inference: a forced-slow model, to demonstrate and test the ``late`` fate).

Live (:meth:`LstmStrategy.on_candle`): each closed candle becomes a feature row
(:class:`~desk.signals.model.features.FeatureStream`, with the bar's taker buy/sell volume from
the symbol's trades and the book's top levels at the close when the engine lends its books),
which is handed to the model's inference worker; on_candle returns None at once, never waiting.
The prediction comes back on the event loop: a warm one whose class, at ``min_confidence``,
moves the position (up: LONG, down: SHORT, flat: FLAT with ``exit_on_flat``) becomes a signal
the bot manager treats like any other - unless a newer candle of the bot reached the strategy
first, in which case it is *late*: recorded with the fate ``late`` and not traded.

Hot swap: a parameter change builds a new strategy; :meth:`LstmStrategy.take_over` refuses a
checkpoint whose features, sizes or label differ from the running one's (the card's own
message), loads the new model, takes over the feature history and position state and replays
the recent rows through the new model, so the very next bar is predicted by the new model
with a warm state.

Batch (backtests, :meth:`~desk.signals.strategy.BaseStrategy.signals`): the same model stepped
over the OHLCV frame's features, with the book and trade-flow inputs at their neutral values
(a frame has none) and no lateness.

Importing this module costs no torch and no numba; :meth:`LstmStrategy.prepare` (the bot
starts) and the batch path load them.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections import deque
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec
import numpy as np

from desk.core.enums import Side
from desk.core.events import Candle, Trade
from desk.market.candles import bucket_end
from desk.market.timeframes import parse_timeframe
from desk.signals.model.card import CheckpointError, ModelCard, check_matches, read_card
from desk.signals.model.features import FeatureStream
from desk.signals.model.labels import CLASSES, DOWN, FLAT, UP
from desk.signals.signal import Direction, Signal
from desk.signals.strategies.deferred import DeferredStrategy
from desk.signals.strategy import (
    EXIT_ANY,
    LONG,
    NONE,
    SHORT,
    BaseStrategy,
    FloatArray,
    Values,
    transition,
)

_TOKENS = itertools.count(1)
HISTORY = 512  # bars of predictions kept for the bot detail's chart

__all__ = ["LstmParams", "LstmStrategy"]


class LstmParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``model``: checkpoint directory; the rest as in the module docstring."""

    model: str
    min_confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    exit_on_flat: bool = True
    allow_reshape: bool = False
    slow_down_s: Annotated[float, msgspec.Meta(ge=0, le=60)] = 0.0

    def check(self) -> str | None:
        if not self.model.strip():
            return "`model` must name a checkpoint directory (desk train --out)"
        return None


class LstmStrategy(DeferredStrategy):
    """The LSTM-attention model's predictions as signals (module docstring)."""

    name = "lstm"
    Params = LstmParams
    wants_market = True

    card: ModelCard
    _model: Any = None
    _generation = 0

    def _build(self) -> None:
        try:
            self.card = read_card(self.params.model)
            check_matches(self.card, features=self.card.feature_config, where=self.params.model)
        except CheckpointError as exc:
            raise ValueError(f"lstm: {exc}") from None
        self._token = 0
        self._series_key = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: deque[tuple[Any, int]] = deque()  # predictions without a loop to go to
        self._predictions: dict[int, Any] = {}

    # -- state ------------------------------------------------------------------------------

    def _reset_stream(self) -> None:
        self._generation += 1
        self._features = FeatureStream(self.card.feature_config)
        self._rows: deque[tuple[int, np.ndarray]] = deque(maxlen=self.card.model.context)
        self._bars: dict[int, tuple[float, str, str]] = {}  # end -> close, symbol, timeframe
        self._flows: dict[int, list[float]] = {}  # bar end -> [taker buy, taker sell] volume
        self._newest_end = -1
        self._bar_ns = 0
        if self._model is not None:
            self._model.worker.reset(self._series_key)
            self._model.monitor.forget(self._series_key)

    @property
    def model(self) -> Any:
        """The :class:`~desk.signals.model.live.LiveModel` in use (None until prepared)."""
        return self._model

    def prepare(self) -> None:
        if self._model is not None:
            return
        if self.services is None:
            raise ValueError("lstm: the strategy is not bound to a bot manager")
        self._token = next(_TOKENS)
        model = self.services.models.acquire(
            self.params.model, self._token, self.owner, slow_down_s=self.params.slow_down_s
        )
        if model.card.feature_config != self.card.feature_config:
            self.services.models.release(model, self._token)
            raise ValueError(f"lstm: {self.params.model} changed on disk while being loaded")
        self.card = model.card
        self._model = model
        self._series_key = f"{self.owner or 'bot'}#{self._token}"
        self._capture_loop()

    def take_over(self, old: BaseStrategy, *, running: bool) -> None:
        if isinstance(old, LstmStrategy) and not self.params.allow_reshape:
            c = old.card
            try:
                check_matches(
                    self.card, features=c.feature_config, model=c.model, label=c.label,
                    where=self.params.model,
                )  # fmt: skip
            except CheckpointError as exc:
                raise ValueError(
                    f"lstm: {exc} (the bot keeps {old.params.model}; allow_reshape: true "
                    "switches anyway, restarting the warm-up)"
                ) from None
        if not running:
            return
        self.prepare()
        if isinstance(old, LstmStrategy) and old.card.feature_config == self.card.feature_config:
            self._adopt(old)

    def _adopt(self, old: LstmStrategy) -> None:
        """Carry on where ``old`` was: its features, bars and position; warm the new model."""
        self._features, self._bars, self._flows = old._features, old._bars, old._flows
        self._newest_end, self._bar_ns = old._newest_end, old._bar_ns
        self.state, self.strength = old.state, old.strength
        for end, row in old._rows:
            self._rows.append((end, row))
            if np.all(np.isfinite(row)):
                self._model.worker.submit(self._series_key, end, row)  # warm-up: not traded

    def close(self) -> None:
        self._generation += 1
        model, self._model = self._model, None
        if model is not None and self.services is not None:
            model.monitor.forget(self._series_key)
            self.services.models.release(model, self._token)

    # -- live -------------------------------------------------------------------------------

    def on_market(self, event: Any) -> None:
        """Trades add to their bar's taker flow (the book is read at the close instead)."""
        if type(event) is Trade and self._bar_ns:
            end = bucket_end(event.ts_exchange, self._bar_ns)
            flow = self._flows.get(end)
            if flow is None:
                flow = self._flows[end] = [0.0, 0.0]
            flow[0 if event.side is Side.BUY else 1] += event.size

    def on_candle(self, candle: Candle) -> Signal | None:
        """Hand the closed bar to the model; the decision comes later (module docstring)."""
        if not candle.closed:
            return None
        if self._pending:
            self._drain()
        if not self._bar_ns:
            self._bar_ns = parse_timeframe(candle.timeframe)
        self._newest_end = max(self._newest_end, candle.end)
        row = self._features.update(
            candle.high, candle.low, candle.close, candle.volume, **self._inputs(candle)
        )
        self._rows.append((candle.end, row))
        self._bars[candle.end] = (candle.close, candle.symbol, candle.timeframe)
        _trim(self._bars, HISTORY)
        model = self._model
        if model is None:
            return None
        now = self.services.clock() if self.services and self.services.clock else time.time_ns()
        model.monitor.on_bar(self._series_key, candle.end, candle.close, row, now, self._bar_ns)
        if self._features.ready:
            generation = self._generation
            model.worker.submit(
                self._series_key,
                candle.end,
                row,
                callback=lambda p: self._from_worker(p, generation),
            )
        return None

    def _inputs(self, candle: Candle) -> dict[str, Any]:
        """The bar's book and trade-flow inputs (absent inputs read neutral)."""
        out: dict[str, Any] = {}
        flow = self._flows.pop(candle.end, None)
        for end in [e for e in self._flows if e < candle.end]:
            del self._flows[end]
        if self.wants_market and self.services is not None:
            out["buy_volume"], out["sell_volume"] = flow or (0.0, 0.0)
        book = self.services.book(candle.symbol) if self.services and self.services.book else None
        if book is not None:
            levels = self.card.feature_config.book_levels
            bids, asks = book.bids(levels), book.asks(levels)
            if bids and asks:
                out["bid_sizes"] = [size for _, size in bids]
                out["ask_sizes"] = [size for _, size in asks]
                out["bid"], out["ask"] = bids[0][0], asks[0][0]
        return out

    def _capture_loop(self) -> None:
        if self._loop is None:
            try:
                self._loop = asyncio.get_running_loop()
            except RuntimeError:
                self._loop = None

    def _from_worker(self, prediction: Any, generation: int) -> None:
        """In the worker thread: hand the prediction to the event loop."""
        loop = self._loop
        if loop is None:
            self._pending.append((prediction, generation))
            return
        try:
            loop.call_soon_threadsafe(self._arrived, prediction, generation)
        except RuntimeError:
            pass  # the loop is closed: the engine is gone

    def _drain(self) -> None:
        """Predictions that came with no loop to go to (a caller without asyncio)."""
        while self._pending:
            self._arrived(*self._pending.popleft())

    def _arrived(self, prediction: Any, generation: int) -> None:
        """On the event loop: record the prediction, and decide."""
        model = self._model
        if generation != self._generation or model is None:
            return  # reset, closed or replaced since it was asked for
        late = self._newest_end > prediction.bar_end_ns
        model.monitor.on_prediction(self._series_key, prediction, late)
        self._predictions[prediction.bar_end_ns] = prediction
        _trim(self._predictions, HISTORY)
        bar = self._bars.get(prediction.bar_end_ns)
        if not prediction.warm or bar is None:
            return
        new = transition(self.state, self._code_of(prediction.direction, prediction.confidence))
        if new is None:
            return
        close, symbol, timeframe = bar
        values = {
            "p_down": prediction.probs[DOWN],
            "p_flat": prediction.probs[FLAT],
            "p_up": prediction.probs[UP],
            "confidence": prediction.confidence,
            "infer_us": prediction.infer_ns / 1e3,
            "wait_us": prediction.queue_wait_ns / 1e3,
        }
        signal = self._emit(new, prediction.bar_end_ns, close, values, symbol, timeframe)
        if late:
            reason = f"{signal.reason}; arrived after a newer bar closed (late): not traded"
            signal = msgspec.structs.replace(signal, reason=reason)
        else:
            self.state, self.strength = new, signal.strength
        self.deliver(signal, late)

    def _code_of(self, direction: int, confidence: float) -> int:
        if confidence < self.params.min_confidence:
            return NONE
        if direction == UP:
            return LONG
        if direction == DOWN:
            return SHORT
        return EXIT_ANY if self.params.exit_on_flat else NONE

    def _describe(self, direction: Direction, price: float, values: Values) -> tuple[float, str]:
        confidence = values["confidence"]
        probs = (values["p_down"], values["p_flat"], values["p_up"])
        predicted = CLASSES[int(np.argmax(probs))]
        model_id = self._model.id if self._model is not None else self.params.model
        return confidence, (
            f"model {model_id} predicts {predicted} over {self.card.horizon} bars "
            f"(p {confidence:.2f} >= {self.params.min_confidence:.2f})"
        )

    def indicator_series(self, candles: Iterable[Candle]) -> dict[str, list[float]]:
        """The model's up / down probabilities at each candle (NaN where it made none)."""
        out: dict[str, list[float]] = {"p_up": [], "p_down": []}
        for candle in candles:
            p = self._predictions.get(candle.end)
            out["p_up"].append(p.probs[UP] if p is not None else math.nan)
            out["p_down"].append(p.probs[DOWN] if p is not None else math.nan)
        return out

    # -- batch ------------------------------------------------------------------------------

    def _series(self, arrays: dict[str, FloatArray]) -> dict[str, FloatArray]:
        from desk.signals.model.checkpoint import load_checkpoint  # torch
        from desk.signals.model.features import compute_features
        from desk.signals.model.stepper import StepModel

        try:
            loaded = load_checkpoint(self.params.model, features=self.card.feature_config)
        except CheckpointError as exc:
            raise ValueError(f"lstm: {exc}") from None
        step = StepModel.from_network(loaded.network)
        raw = compute_features(
            arrays["high"], arrays["low"], arrays["close"], arrays["volume"],
            config=self.card.feature_config,
        )  # fmt: skip
        n = len(raw)
        probs = np.full((n, 3), math.nan)
        state, warm = step.new_state(), self.card.model.burn_in + step.window
        for t in range(n):
            if not np.all(np.isfinite(raw[t])):
                continue  # still warming up: the live path does not step these either
            out = step.step(state, np.ascontiguousarray(loaded.normalizer.apply(raw[t])))
            if state.bars >= warm:
                z = out[:3].astype(np.float64)
                e = np.exp(z - z.max())
                probs[t] = e / e.sum()
        return {
            "p_down": probs[:, DOWN],
            "p_flat": probs[:, FLAT],
            "p_up": probs[:, UP],
            "confidence": np.max(probs, axis=1),
            "infer_us": np.zeros(n),
            "wait_us": np.zeros(n),
        }

    def _codes(self, series: dict[str, FloatArray]) -> np.ndarray:
        probs = np.column_stack([series["p_down"], series["p_flat"], series["p_up"]])
        out = np.zeros(len(probs), dtype=np.int8)
        for t in np.flatnonzero(np.all(np.isfinite(probs), axis=1)).tolist():
            out[t] = self._code_of(int(np.argmax(probs[t])), float(np.max(probs[t])))
        return out


def _trim(items: dict[int, Any], limit: int) -> None:
    """Keep the newest ``limit`` entries of a dict filled in time order."""
    while len(items) > limit:
        del items[next(iter(items))]
