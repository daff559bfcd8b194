"""Closed candle -> prediction -> signal recorded, in the engine on the simulator.

One real in-process engine (the simulator's WebSocket feed, candles, the bot manager, paper
execution, SQLite), with, on every symbol, two bots on 1 s bars side by side:

* **model**: the ``lstm`` strategy on a checkpoint of the default sizes (hidden 64, 2 layers,
  attention 32; a shorter window and burn-in so it warms in about half a minute; weights drawn
  from a seed and made confident, so its predictions switch sides often enough to give signals);
* **model-less** (the reference): ``ma_crossover`` 2/3, which decides on the candle itself.

Timed, per recorded signal, from the candle's emission (``Candle.ts_recv``: the engine's clock
when the aggregator closed it) to the signal's record (``BotSignal.ts_recv``: when the manager
stored and published it with its fate): the model's path includes the hand-off to the inference
worker thread, the step, and the way back onto the event loop. Also, for every bar the model
was fed: candle -> prediction made (in the worker), and the worker's own inference and queue
wait percentiles. Figures only; nothing is asserted.

    .venv/bin/python bench/model_live.py [--seconds 150] [--symbols 3]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from desk.clients.inprocess import InProcessClient
from desk.config import parse_config
from desk.core.events import Candle
from desk.engine.engine import Engine
from desk.signals.bots import BotSignal
from desk.signals.model.checkpoint import DataRange, save_checkpoint
from desk.signals.model.config import ModelConfig
from desk.signals.model.data import generate_sim
from desk.signals.model.dataset import Normalizer
from desk.signals.model.features import FeatureConfig, feature_names
from desk.signals.model.labels import LabelConfig
from desk.signals.model.network import build_model

SYMBOLS = ("BTC-USDT", "ETH-USDT", "SOL-USDT")
FEATURES = FeatureConfig(return_lags=(1, 2, 4), rsi=5, macd_fast=3, macd_slow=6, macd_signal=3,
                         bollinger=5, atr=5, zscore=5, volume_zscore=5)  # fmt: skip
MODEL = ModelConfig(window=12, burn_in=4, seed=5)  # hidden 64, 2 layers, attention 32


def make_model(directory: Path) -> Path:
    """A default-size network, normalised on 20 minutes of the simulator's 1 s bars."""
    series = generate_sim(1 / 3, ["BTC-USDT"], "1s", seed=3)[0]
    raw = series.features(FEATURES)
    n = len(feature_names(FEATURES))
    net = build_model(MODEL, n).eval()
    with torch.no_grad():
        net.head[2].weight.mul_(8.0)
    save_checkpoint(
        directory, net, normalizer=Normalizer.fit(raw), features=FEATURES,
        label=LabelConfig(horizon=5), metrics={}, train={"note": "bench: untrained"},
        data=DataRange(symbols=["BTC-USDT"], timeframe="1s", sources=[series.source],
                       start_ns=int(series.end_ns[0]), end_ns=int(series.end_ns[-1]),
                       start="", end="", bars=len(series)),
    )  # fmt: skip
    return directory


def pct(values: list[float]) -> str:
    if not values:
        return "n=0"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:8.1f} µs  p99 {p99:8.1f} µs  (n={len(values)})"


async def run(seconds: float, symbols: tuple[str, ...], work: Path) -> None:
    model = make_model(work / "model")
    bots: list[dict[str, Any]] = []
    for symbol in symbols:
        short = symbol.split("-")[0].lower()
        common = {"symbol": symbol, "timeframe": "1s", "size": 0.01}
        bots.append({"bot_id": f"lstm-{short}", "strategy": "lstm", **common,
                     "params": {"model": str(model), "min_confidence": 0.0}})  # fmt: skip
        bots.append({"bot_id": f"ma-{short}", "strategy": "ma_crossover", **common,
                     "params": {"fast": 2, "slow": 3}})  # fmt: skip
    config = parse_config({
        "system": {"mode": "sim", "status_interval": 600},
        "trading": {"symbols": list(symbols), "timeframes": ["1s"],
                    "channels": ["trades", "books"]},
        "storage": {"sqlite_path": str(work / "desk.sqlite")},
        "simulator": {"enabled": True, "port": 0, "seed": 11},
        "bots": bots,
    })  # fmt: skip
    engine = Engine(config)
    client = InProcessClient(engine)
    emitted: dict[tuple[str, int], int] = {}  # (symbol, bar end) -> candle emitted (ns)
    to_signal: dict[str, list[float]] = {"lstm": [], "ma_crossover": []}
    fates: dict[str, dict[str, int]] = {"lstm": {}, "ma_crossover": {}}

    def on_market(event: Any) -> None:
        if type(event) is Candle and event.closed:
            emitted[(event.symbol, event.end)] = event.ts_recv

    def on_signal(event: Any) -> None:
        if isinstance(event, BotSignal):
            sig = event.signal
            fates[sig.strategy][str(event.fate)] = fates[sig.strategy].get(str(event.fate), 0) + 1
            start = emitted.get((sig.symbol, sig.ts))
            if start is not None:
                to_signal[sig.strategy].append((event.ts_recv - start) / 1e3)

    for symbol in symbols:
        engine.bus.subscribe(f"market_data:{symbol}", on_market)
    engine.bus.subscribe("bot_signals:*", on_signal)
    started = time.perf_counter()
    await client.start()
    try:
        await asyncio.sleep(seconds)
        predictions: list[float] = []
        for symbol in symbols:
            strategy = engine.bots.strategy(f"lstm-{symbol.split('-')[0].lower()}")
            for end, p in list(strategy._predictions.items()):
                start = emitted.get((symbol, end))
                if start is not None and p.warm:
                    predictions.append((p.done_ns - start) / 1e3)
        health = client.models().models
    finally:
        await client.stop()
    print(f"engine on the simulator, {len(symbols)} symbols x 1 s bars, "
          f"{time.perf_counter() - started:.0f} s, torch {torch.__version__}")  # fmt: skip
    print(f"candle -> signal recorded, model (lstm)        : {pct(to_signal['lstm'])}")
    print(f"candle -> signal recorded, model-less (ma 2/3) : {pct(to_signal['ma_crossover'])}")
    print(f"candle -> prediction made (every warm bar)     : {pct(predictions)}")
    for m in health:
        print(
            f"worker {m.model_id}: inference p50 {m.infer_p50_us:.1f} / p99 {m.infer_p99_us:.1f}"
            f" µs, queue wait p50 {m.wait_p50_us:.1f} / p99 {m.wait_p99_us:.1f} µs, "
            f"{m.predictions} predictions, {m.late} late"
        )
    print(f"fates: {fates}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--symbols", type=int, default=3, choices=(1, 2, 3))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.seconds, SYMBOLS[: args.symbols], Path(tmp)))


if __name__ == "__main__":
    main()
