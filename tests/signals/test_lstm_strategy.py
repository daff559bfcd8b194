"""The ``lstm`` strategy in the bot manager: signals with fates, ``late``, hot swap, refusals.

Real checkpoints (written by the model library), the real inference worker thread and the real
bot manager on an asyncio loop; the store is SQLite in a temporary file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from desk.core import topics
from desk.core.bus import Bus
from desk.core.clock import NS_PER_S, TestClock
from desk.core.events import Candle
from desk.signals.bot_manager import BotManager
from desk.signals.bots import BotConfig, BotEvent, BotSignal, BotState, SignalFate
from desk.signals.order_sink import PaperSink
from desk.signals.signal import Direction
from desk.signals.strategies import STRATEGIES, create_strategy
from desk.signals.strategies.lstm import LstmStrategy
from desk.storage.config import StorageConfig
from desk.storage.sqlite import SqliteStore
from tests.signals.lstm_models import CONFIDENCE, FAST_FEATURES, SMALL, constant_model
from tests.waiting import wait_until

pytestmark = pytest.mark.asyncio

SYM, TF = "BTC-USDT", "1m"


def closes(n: int, seed: int = 5) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-3, n))))


def candle(i: int, close: float) -> Candle:
    end = (i + 1) * 60 * NS_PER_S
    return Candle(
        ts_exchange=end, ts_recv=end, venue="okx", symbol=SYM, timeframe=TF, end=end,
        open=close, high=close * 1.001, low=close * 0.999, close=close, volume=1.0 + i % 3,
        quote_volume=close, trades=1, closed=True,
    )  # fmt: skip


class Rig:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.bus = Bus()
        self.clock = TestClock(1_000 * NS_PER_S)
        self.store = SqliteStore(StorageConfig(sqlite_path=str(path), flush_interval=30))
        self.sink = PaperSink()
        self.manager = BotManager(self.bus, self.store, self.sink, self.clock)
        self.published: list[Any] = []
        self.bus.subscribe("bot_signals:*", self.published.append)
        self.fed = 0

    def feed(self, prices: list[float]) -> None:
        for price in prices:
            self.bus.publish(topics.market_data(SYM), candle(self.fed, price))
            self.fed += 1

    def signals(self) -> list[BotSignal]:
        return [e for e in self.published if isinstance(e, BotSignal)]

    def events(self) -> list[BotEvent]:
        return [e for e in self.published if isinstance(e, BotEvent)]

    def strategy(self, bot_id: str = "m1") -> LstmStrategy:
        strategy = self.manager.strategy(bot_id)
        assert isinstance(strategy, LstmStrategy)
        return strategy

    async def settle(self, bot_id: str = "m1") -> None:
        """Until the model has answered every bar fed so far (and the loop has seen it)."""
        strategy = self.strategy(bot_id)

        def done() -> bool:
            return not strategy._features.ready or strategy._newest_end in strategy._predictions

        await wait_until(done, 30, "the model's answer to the newest bar")


@pytest.fixture
async def rig(tmp_path: Path):
    r = Rig(tmp_path / "desk.sqlite")
    await r.store.open()
    yield r
    r.manager.close()
    if r.store._db is not None:
        await r.store.close()


def bot(path: Path, bot_id: str = "m1", **params: Any) -> BotConfig:
    return BotConfig(
        bot_id=bot_id, strategy="lstm", symbol=SYM, timeframe=TF, size=1.0,
        params={"model": str(path), **params},
    )  # fmt: skip


# ---- parameters and the registry ---------------------------------------------------------------


async def test_registered_and_parameters_refused_with_their_name(tmp_path: Path) -> None:
    assert STRATEGIES["lstm"] is LstmStrategy
    with pytest.raises(ValueError, match="model"):
        create_strategy("lstm", {})
    with pytest.raises(ValueError, match="no model checkpoint at"):
        create_strategy("lstm", {"model": str(tmp_path / "nowhere")})
    path = constant_model(tmp_path / "up")
    with pytest.raises(ValueError, match="min_confidence"):
        create_strategy("lstm", {"model": str(path), "min_confidence": 1.5})
    strategy = create_strategy("lstm", {"model": str(path)})
    assert isinstance(strategy, LstmStrategy) and strategy.card.horizon == 2


# ---- live, through the bot manager ---------------------------------------------------------


async def test_a_prediction_becomes_a_signal_with_a_fate_and_is_traded(
    rig: Rig, tmp_path: Path
) -> None:
    rig.manager.add_bot(bot(constant_model(tmp_path / "up")))
    rig.manager.start_bot("m1")
    assert rig.strategy().model is not None  # loaded when the bot started
    for price in closes(14):
        rig.feed([price])
        await rig.settle()
    got = rig.signals()
    assert [(s.signal.direction, s.fate) for s in got] == [(Direction.LONG, SignalFate.SENT)]
    sig = got[0].signal
    assert sig.strategy == "lstm" and "predicts up over 2 bars" in sig.reason
    assert sig.strength == pytest.approx(CONFIDENCE, abs=1e-5)
    assert {"p_up", "p_down", "p_flat", "infer_us", "wait_us"} <= set(sig.indicators)
    assert rig.sink.position("m1") == 1.0
    # stopping lets the model go; starting loads it again
    rig.manager.stop_bot("m1")
    assert rig.manager.models.models() == []
    rig.manager.start_bot("m1")
    assert len(rig.manager.models.models()) == 1


async def test_a_prediction_arriving_after_a_newer_bar_is_late_and_not_traded(
    rig: Rig, tmp_path: Path
) -> None:
    rig.manager.add_bot(bot(constant_model(tmp_path / "up")))
    rig.manager.start_bot("m1")
    # Every bar is published before the loop runs again: each prediction but the last
    # comes back after a newer bar reached the strategy.
    rig.feed(closes(16))
    await rig.settle()
    fates = [s.fate for s in rig.signals()]
    assert fates[-1] is SignalFate.SENT
    assert fates[:-1] and set(fates[:-1]) == {SignalFate.LATE}
    late = rig.signals()[0]
    assert "late" in late.signal.reason and late.signal.direction is Direction.LONG
    assert rig.sink.position("m1") == 1.0  # only the one on time was traded
    health = rig.manager.models.health()[0]
    assert health.late == health.predictions - 1 and health.predictions == 16 - 3  # warm-up: 3
    assert health.infer_p50_us is not None and health.bots == ["m1"]
    await rig.store.close()  # flushes: every signal is stored with its fate
    with sqlite3.connect(rig.path) as db:
        assert {f for (f,) in db.execute("SELECT fate FROM bot_signals")} == {"late", "sent"}


async def test_paused_bots_record_model_signals_without_trading(rig: Rig, tmp_path: Path) -> None:
    rig.manager.add_bot(bot(constant_model(tmp_path / "down", "down")))
    rig.manager.start_bot("m1")
    rig.manager.pause_bot("m1")
    for price in closes(12):
        rig.feed([price])
        await rig.settle()
    assert [(s.signal.direction, s.fate) for s in rig.signals()] == [
        (Direction.SHORT, SignalFate.FILTERED_PAUSED)
    ]
    assert rig.sink.position("m1") == 0.0


async def test_hot_swap_takes_effect_on_the_next_bar_and_is_audited(
    rig: Rig, tmp_path: Path
) -> None:
    up, down = constant_model(tmp_path / "up"), constant_model(tmp_path / "down", "down")
    rig.manager.add_bot(bot(up))
    rig.manager.start_bot("m1")
    prices = closes(20)
    for price in prices[:12]:
        rig.feed([price])
        await rig.settle()
    assert [s.signal.direction for s in rig.signals()] == [Direction.LONG]
    rig.manager.update_params("m1", {"model": str(down)})
    change = rig.events()[-1]
    assert change.kind == "params" and change.actor == "operator"
    assert change.detail["old"]["model"] == str(up) and change.detail["new"]["model"] == str(down)
    rig.feed([prices[12]])  # the very next bar: the new model, already warm
    await rig.settle()
    last = rig.signals()[-1]
    assert (last.signal.direction, last.fate) == (Direction.SHORT, SignalFate.SENT)
    assert "down@" in last.signal.reason
    assert [m.id.split("@")[0] for m in rig.manager.models.models()] == ["down"]


async def test_a_checkpoint_that_does_not_fit_is_refused_and_the_bot_keeps_its_model(
    rig: Rig, tmp_path: Path
) -> None:
    up = constant_model(tmp_path / "up")
    other = constant_model(
        tmp_path / "other",
        features=FAST_FEATURES.__class__(return_lags=(1, 3), rsi=3, macd_fast=2, macd_slow=3),
    )
    bigger = constant_model(tmp_path / "bigger", model=SMALL.__class__(hidden=12, window=3))
    rig.manager.add_bot(bot(up))
    rig.manager.start_bot("m1")
    with pytest.raises(ValueError, match="feature list differs") as refused:
        rig.manager.update_params("m1", {"model": str(other)})
    assert "bot 'm1'" in str(refused.value) and "keeps" in str(refused.value)
    with pytest.raises(ValueError, match=r"model\.hidden: checkpoint 12, config 8"):
        rig.manager.update_params("m1", {"model": str(bigger)})
    assert rig.manager.config("m1").params["model"] == str(up)
    assert rig.manager.status("m1").state is BotState.RUNNING
    assert [m.id.split("@")[0] for m in rig.manager.models.models()] == ["up"]
    assert [e.kind for e in rig.events()] == ["added", "started"]  # nothing changed
    rig.manager.update_params("m1", {"model": str(bigger), "allow_reshape": True})
    assert rig.strategy().card.model.hidden == 12


async def test_a_broken_weights_file_refuses_the_start(rig: Rig, tmp_path: Path) -> None:
    path = constant_model(tmp_path / "up")
    (path / "model.pt").write_bytes(b"not a model")
    rig.manager.add_bot(bot(path))
    with pytest.raises(ValueError, match="does not match its card"):
        rig.manager.start_bot("m1")
    assert rig.manager.status("m1").state is BotState.STOPPED
    assert rig.events()[-1].kind == "start_failed"


# ---- batch = live -------------------------------------------------------------------------


async def test_the_batch_path_gives_the_live_signals_when_nothing_is_late(
    rig: Rig, tmp_path: Path
) -> None:
    import torch

    from desk.signals.model.checkpoint import DataRange, save_checkpoint
    from desk.signals.model.dataset import Normalizer
    from desk.signals.model.features import compute_features, feature_names
    from desk.signals.model.network import build_model
    from tests.signals.lstm_models import LABEL

    prices = closes(80, seed=9)
    frame = pd.DataFrame(
        [{c: getattr(candle(i, p), c) for c in ("end", "open", "high", "low", "close", "volume")}
         for i, p in enumerate(prices)]
    )  # fmt: skip
    raw = compute_features(frame.high, frame.low, frame.close, frame.volume, config=FAST_FEATURES)
    n = len(feature_names(FAST_FEATURES))
    net = build_model(SMALL.__class__(hidden=8, layers=1, attention=4, head=4, window=3,
                                      burn_in=1, seed=5), n).eval()  # fmt: skip
    with torch.no_grad():
        net.head[2].weight.mul_(8.0)  # confident enough to switch sides now and then
    save_checkpoint(
        tmp_path / "rnd", net, normalizer=Normalizer.fit(raw), features=FAST_FEATURES,
        label=LABEL, metrics={}, train={},
        data=DataRange(symbols=[SYM], timeframe=TF, sources=["t"], start_ns=0, end_ns=1,
                       start="", end="", bars=2),
    )  # fmt: skip
    params = {"model": str(tmp_path / "rnd"), "min_confidence": 0.4}
    rig.manager.add_bot(bot(tmp_path / "rnd", **{"min_confidence": 0.4}))
    rig.manager.start_bot("m1")
    for price in prices:
        rig.feed([price])
        await rig.settle()
    live = [s.signal for s in rig.signals()]
    assert all(s.fate is SignalFate.SENT for s in rig.signals())
    batch = create_strategy("lstm", params).signals(frame, symbol=SYM, timeframe=TF)
    assert len(live) >= 3
    assert [(s.ts, s.direction) for s in batch] == [(s.ts, s.direction) for s in live]
    for a, b in zip(batch, live, strict=True):
        assert a.strength == pytest.approx(b.strength, abs=1e-5)
