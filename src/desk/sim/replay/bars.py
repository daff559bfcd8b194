"""Bars (OHLCV, and buy/sell volume) of any timeframe from a recording directory.

The reader behind ``desk backtest/sweep --data PATH`` (:mod:`desk.backtest.recording_data`)
and ``desk train --data PATH``; the recorder's layout is in :mod:`desk.sim.replay.files`.

* ``kind=candles`` rows of the asked symbol and timeframe are used as they are when there are
  any (columns ``symbol``, ``timeframe``, an end stamp ``end_ns`` (or ``end``), ``open``,
  ``high``, ``low``, ``close``, ``volume``);
* otherwise bars are rebuilt from the recorded trades with the live aggregator's right-aligned
  buckets (:func:`desk.market.candles.aggregate_trades`: the bar stamped ``end`` holds
  ``(end - tf, end]``, empty intervals flat): ``kind=trades`` (``symbol``, ``ts_exchange`` ns,
  ``trade_id``, ``side``, ``price``, ``size``), or, when only raw frames were kept, the OKX
  ``trades`` pushes of ``kind=raw``. Trades are taken in exchange-time order, a trade id seen
  twice counts once, and the last bucket, which no later trade closed, is left out as the live
  aggregator leaves it open: the bars equal the candles a replay's engine closes.

A file that cannot be read is skipped and named (``Bars.skipped``); a recording without the
symbol raises :class:`RecordingError` naming what it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from desk.market.candles import aggregate_trades
from desk.market.timeframes import parse_timeframe
from desk.sim.replay.files import RecordingError, list_files, read_tables

TRADE_COLUMNS = ("symbol", "ts_exchange", "trade_id", "side", "price", "size")
CANDLE_COLUMNS = ("symbol", "timeframe", "open", "high", "low", "close", "volume")
NS_PER_MS = 1_000_000


@dataclass
class Bars:
    """One symbol's bars, oldest first; ``buy_volume``/``sell_volume`` when rebuilt from trades."""

    venue: str
    source: str
    end: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    buy_volume: np.ndarray | None = None
    sell_volume: np.ndarray | None = None
    filled: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def between(self, start_ns: int | None, end_ns: int | None) -> Bars:
        keep = np.ones(len(self.end), dtype=bool)
        if start_ns is not None:
            keep &= self.end >= start_ns
        if end_ns is not None:
            keep &= self.end <= end_ns
        cut = {k: v[keep] for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        return Bars(**{**self.__dict__, **cut})


def load_bars(
    path: str | Path,
    symbol: str,
    timeframe: str,
    *,
    venue: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Bars:
    """``symbol``'s bars of ``timeframe`` from the recording at ``path`` (module docstring)."""
    try:
        tf = parse_timeframe(timeframe)
    except ValueError as exc:
        raise RecordingError(str(exc)) from None
    root = Path(path)
    if not root.is_dir():
        raise RecordingError(f"no recording directory at {root}")
    venue = venue or _venue_of(root)
    bars = _recorded_candles(root, venue, symbol, timeframe)
    if bars is None:
        bars = _from_trades(root, venue, symbol, timeframe, tf)
    if start_ns is not None or end_ns is not None:
        bars = bars.between(start_ns, end_ns)
    return bars


def _venue_of(root: Path) -> str:
    """The recording's venue: ``okx`` when recorded, else the only one there is."""
    venues = sorted({f.venue for kind in ("trades", "raw") for f in list_files(root, kind)})
    if not venues or "okx" in venues:
        return "okx"
    if len(venues) > 1:
        raise RecordingError(f"{root} holds several venues ({', '.join(venues)}): name one")
    return venues[0]


def _source(root: Path, what: str, skipped: list[tuple[Path, str]]) -> str:
    text = f"recording:{root} ({what})"
    if skipped:
        text += "; skipped " + "; ".join(f"{p}: {why}" for p, why in skipped)
    return text


def _from_trades(root: Path, venue: str, symbol: str, timeframe: str, tf: int) -> Bars:
    frame, skipped = _trades(root, venue, symbol)
    ts = frame["ts_exchange"].to_numpy(np.int64)
    size = frame["size"].to_numpy(np.float64)
    rows = aggregate_trades(ts, frame["price"].to_numpy(np.float64), size, tf)
    keep = len(rows.end) - 1  # the last bucket never closed
    if keep < 1:
        raise RecordingError(f"{root}: {len(ts)} {symbol} trades make no closed {timeframe} bar")
    first = rows.end[0]
    slot = (-(-ts // tf) * tf - first) // tf  # each trade's bar, as the aggregator buckets it
    buy = frame["side"].to_numpy() == "buy"
    flows = [
        np.bincount(slot, weights=np.where(m, size, 0.0), minlength=len(rows.end))
        for m in (buy, ~buy)
    ]
    return Bars(
        venue=venue,
        source=_source(root, "trades", skipped),
        end=rows.end[:keep],
        open=rows.open[:keep],
        high=rows.high[:keep],
        low=rows.low[:keep],
        close=rows.close[:keep],
        volume=rows.volume[:keep],
        buy_volume=flows[0][:keep],
        sell_volume=flows[1][:keep],
        filled=int(np.count_nonzero(rows.trades[:keep] == 0)),
        skipped=skipped,
    )


def _recorded_candles(root: Path, venue: str, symbol: str, timeframe: str) -> Bars | None:
    """The recorder's own candles of ``symbol``/``timeframe``, or None when it kept none."""
    files = list_files(root, "candles", venue)
    if not files:
        return None
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(files[0].path).names
    except (OSError, ValueError):
        names = []
    end_col = next((c for c in ("end_ns", "end") if c in names), None)
    if end_col is None:
        return None
    scan = read_tables(files, (*CANDLE_COLUMNS, end_col))
    if scan.table is None:
        return None
    frame = scan.table.to_pandas()
    frame = frame[(frame["symbol"] == symbol) & (frame["timeframe"] == timeframe)]
    if frame.empty:
        return None
    frame = frame.drop_duplicates(end_col, keep="last").sort_values(end_col)
    return Bars(
        venue=venue,
        source=_source(root, "candles", scan.skipped),
        end=frame[end_col].to_numpy(np.int64),
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        volume=frame["volume"].to_numpy(np.float64),
        skipped=scan.skipped,
    )


def _trades(root: Path, venue: str, symbol: str) -> tuple[Any, list[tuple[Path, str]]]:
    """``symbol``'s trades in exchange-time order, each trade id once (a pandas frame)."""
    files = list_files(root, "trades", venue)
    have: list[str] = []
    if files:
        scan = read_tables(files, TRADE_COLUMNS)
        frame = scan.table.to_pandas() if scan.table is not None else None
        if frame is not None:
            have = sorted(set(frame["symbol"]))
            frame = frame[frame["symbol"] == symbol]
        skipped = scan.skipped
    else:
        frame, have, skipped = _raw_trades(root, venue, symbol)
    if frame is None or frame.empty:
        holds = ", ".join(have) or ("nothing readable" if frame is None else "none")
        raise RecordingError(f"{root}: no {symbol} trades of {venue} (it holds: {holds})")
    frame = frame.drop_duplicates("trade_id", keep="first")
    return frame.sort_values("ts_exchange", kind="stable"), skipped


def _raw_trades(root: Path, venue: str, symbol: str) -> tuple[Any, list[str], list]:
    """Trades parsed from the raw OKX ``trades`` pushes (no normalised trades recorded)."""
    import pandas as pd

    files = list_files(root, "raw", venue)
    if not files:
        raise RecordingError(
            f"{root}: no recorded trades or raw frames of {venue} "
            f"(expected venue={venue}/kind=trades/... or kind=raw/...)"
        )
    scan = read_tables(files, ("channel", "symbol", "payload"))
    if scan.table is None:
        return None, [], scan.skipped
    rows: dict[str, list[Any]] = {c: [] for c in TRADE_COLUMNS}
    have: set[str] = set()
    columns = [scan.table[name].to_pylist() for name in ("channel", "symbol", "payload")]
    for channel, sym, payload in zip(*columns, strict=True):
        if channel != "trades" or not payload or not payload.startswith(b'{"arg"'):
            continue
        have.add(sym)
        if sym != symbol:
            continue
        for d in json.loads(payload).get("data", ()):
            rows["symbol"].append(symbol)
            rows["ts_exchange"].append(int(d["ts"]) * NS_PER_MS)
            rows["trade_id"].append(str(d["tradeId"]))
            rows["side"].append(d.get("side", ""))
            rows["price"].append(float(d["px"]))
            rows["size"].append(float(d["sz"]))
    return pd.DataFrame(rows), sorted(have), scan.skipped
