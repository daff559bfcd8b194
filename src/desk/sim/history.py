"""Bar history of a simulated venue: the last hours of market before start, then live trades.

Each instrument keeps one-second bars (open, high, low, close in ticks; volume in lots; quote
volume in ticks * lots) in flat ``array('q')`` columns (8 bytes a value: 24 h of one instrument
is about 4 MiB). Every venue bar (OKX's ``1m`` ... ``1D``, ``6Hutc`` ...; Binance's klines;
Coinbase's candles) is aggregated from them on request, so the venue's REST candles and its
candle channels all agree.

**The past** (``hours`` before the simulator started) is generated on first use, not at start:
a seeded numpy random walk of the fair price with the market's own volatility regimes, jumps and
taker rate (``FlowParams``), ten sub-steps a second for the highs and lows, shifted so that it
ends exactly at the price the live market starts from. It depends only on the seed, the
instrument and the start second, so the same seed gives the same history (about 30 ms per
instrument for 24 h). The past has no individual trades.

**Several venues** share one past, as they share one fair price live (``desk.sim.fair``): the
walk is the one OKX's instrument of the same name has (``walk``: the venues' common reference,
``BASE-USDT``), and every other venue adds its own deviation to it (a mean-reverting noise of
``FairParams.deviation_bps``, as its live market deviates from the shared fair price), ends at
its own start price (its ``price_offset_bps`` away) and draws its own volumes. So Binance's and
Coinbase's history follow OKX's closely but not identically; OKX's own past is unchanged by them.

**The live part** folds every published trade into its second; seconds without trades are flat
at the last close (volume 0). At most ``MAX_SECONDS`` are kept.
"""

from __future__ import annotations

import math
import zlib
from array import array
from collections.abc import Iterator

import numpy as np

from desk.sim.fair import FairParams
from desk.sim.instruments import InstrumentSpec
from desk.sim.market import FlowParams, TradeAggregate
from desk.sim.okx.bars import bar_start

PRIMARY = "okx"
"""The venue whose past is the plain walk (the others deviate from it)."""
SUB_STEPS = 10
DEVIATION_BLOCK = 128
NUMPY_FROM = 64
"""Bars of more seconds than this are aggregated with numpy (fewer: plain Python is faster)."""
MAX_SECONDS = 4 * 86_400
TRIM_CHUNK = 3_600


def _columns() -> tuple[array[int], ...]:
    return tuple(array("q") for _ in range(6))


def reference_walk(spec: InstrumentSpec) -> str:
    """The instrument whose walk a venue's past follows: its base asset's ``USDT`` pair, the
    pair every simulated venue lists (the shared fair price is per base asset)."""
    return f"{spec.base_ccy}-USDT"


def generate_past(
    spec: InstrumentSpec,
    seed: int,
    params: FlowParams,
    steps_per_second: float,
    seconds: int,
    end_price: int,
    *,
    venue: str = PRIMARY,
    walk: str | None = None,
    fair: FairParams | None = None,
) -> tuple[np.ndarray, ...]:
    """``seconds`` one-second bars ending at ``end_price`` (ticks): (open, high, low, close,
    volume, quote_volume) int64 arrays, oldest first. Deterministic for (seed, instrument).

    ``venue`` other than OKX: the walk of instrument ``walk`` (default: this one) as OKX has it,
    plus this venue's own deviation (``fair``'s ``deviation_bps``/``reversion``) and volumes."""
    rng = np.random.default_rng(zlib.crc32(f"{seed}:okx:history:{walk or spec.inst_id}".encode()))
    own = rng
    if venue != PRIMARY:
        own = np.random.default_rng(zlib.crc32(f"{seed}:{venue}:history:{spec.inst_id}".encode()))
    n = seconds * SUB_STEPS
    per_sub = steps_per_second / SUB_STEPS
    switch_p = 1.0 - (1.0 - params.regime_switch_prob) ** steps_per_second
    regimes = np.asarray(params.regimes_bps)
    switches = rng.random(seconds) < switch_p
    chosen = rng.integers(0, len(regimes), seconds)
    index = np.where(switches, np.arange(seconds), 0)
    np.maximum.accumulate(index, out=index)
    regime = np.where(index > 0, chosen[index], 1 if len(regimes) > 1 else 0)
    sigma = regimes[regime] * 1e-4 * math.sqrt(per_sub)  # relative, per sub-step
    moves = rng.standard_normal((seconds, SUB_STEPS)) * sigma[:, None]
    jump_p = 1.0 - (1.0 - params.jump_prob) ** steps_per_second
    jumps = (rng.random(seconds) < jump_p) * rng.standard_normal(seconds) * params.jump_bps * 1e-4
    moves[:, -1] += jumps
    log_path = np.cumsum(moves.reshape(n))
    if venue != PRIMARY:  # this venue's own deviation from the shared walk, second by second
        p = fair or FairParams()
        by_second = log_path.reshape(seconds, SUB_STEPS)  # a view: adds into log_path
        by_second += _deviation(own, seconds, steps_per_second, p)[:, None]
    log_path -= log_path[-1]  # ends at 0: the path ends exactly at end_price
    path = (end_price * np.exp(log_path)).reshape(seconds, SUB_STEPS)
    close = np.maximum(np.rint(path[:, -1]), 1).astype(np.int64)
    close[-1] = end_price
    if venue == PRIMARY:
        start_price = max(1, round(end_price * math.exp(-float(np.sum(moves)))))
    else:  # the price before the first sub-step, deviation included
        start_price = max(1, round(end_price * math.exp(float(log_path[0] - moves[0, 0]))))
    opens = np.empty(seconds, np.int64)
    opens[0] = start_price
    opens[1:] = close[:-1]
    high = np.maximum(np.rint(path.max(axis=1)).astype(np.int64), np.maximum(opens, close))
    low = np.minimum(np.rint(path.min(axis=1)).astype(np.int64), np.minimum(opens, close))
    low = np.maximum(low, 1)
    takers = own.poisson(params.taker_prob * steps_per_second, seconds)
    unit = max(spec.min_lots, int(spec.order_notional / float(spec.price) / spec.lot.to_float(1)))
    sizes = np.minimum(
        params.max_taker_units, params.taker_scale * (own.pareto(params.taker_alpha, seconds) + 1)
    )
    volume = (takers * np.maximum(1.0, unit * sizes)).astype(np.int64)
    quote = volume * close
    return opens, high, low, close, volume, quote


def _deviation(
    rng: np.random.Generator, seconds: int, steps_per_second: float, p: FairParams
) -> np.ndarray:
    """A venue's relative deviation from the shared walk, one value a second: the per-step
    Ornstein-Uhlenbeck noise of ``desk.sim.fair.Follower`` sampled once a second (an AR(1)
    series, computed by blocks so that no power of the decay underflows)."""
    keep = (1.0 - p.reversion) ** steps_per_second
    wide = p.deviation_bps * 1e-4
    eps = rng.standard_normal(seconds) * wide * math.sqrt(max(0.0, 1.0 - keep * keep))
    out = np.empty(seconds)
    prev = float(rng.standard_normal()) * wide
    if keep**DEVIATION_BLOCK < 1e-250:  # a fast sim forgets within a block: e / w would overflow
        for i, e_i in enumerate(eps.tolist()):
            prev = keep * prev + e_i
            out[i] = prev
        return out
    powers = keep ** np.arange(1, DEVIATION_BLOCK + 1, dtype=np.float64)
    for i in range(0, seconds, DEVIATION_BLOCK):
        e = eps[i : i + DEVIATION_BLOCK]
        w = powers[: len(e)]
        block = w * (prev + np.cumsum(e / w))  # d[j] = keep^(j+1) prev + sum keep^(j-k) e[k]
        out[i : i + len(e)] = block
        prev = float(block[-1])
    return out


def _exact_sum(values: np.ndarray) -> int:
    """The exact sum of int64 ``values`` (a day of quote volume can pass 2**63): the high and
    low 32 bits summed apart, each fitting an int64 for up to 2**31 values."""
    high = int(np.sum(values >> 32, dtype=np.int64))
    low = int(np.sum(values & 0xFFFFFFFF, dtype=np.int64))
    return (high << 32) + low


class BarHistory:
    """One instrument's one-second bars, past and live (see the module docstring)."""

    def __init__(
        self,
        spec: InstrumentSpec,
        seed: int,
        params: FlowParams,
        steps_per_second: float,
        start_ms: int,
        hours: float,
        start_price: int,
        *,
        venue: str = PRIMARY,
        walk: str | None = None,
    ) -> None:
        self.spec = spec
        self.venue = venue
        self.walk = walk
        self.seed = seed
        self.params = params
        self.steps_per_second = steps_per_second
        self.past_seconds = max(0, int(hours * 3600))
        self.start_s = start_ms // 1000
        self.t0 = self.start_s  # second of column index 0
        self.last_close = start_price
        self.o, self.h, self.l, self.c, self.v, self.q = _columns()
        self._past_loaded = self.past_seconds == 0

    # ---- writing -------------------------------------------------------------------------

    def add_trades(self, trades: list[TradeAggregate]) -> None:
        for t in trades:
            self.add(t.ts_ms, t.price, t.size)

    def add(self, ts_ms: int, price: int, size: int) -> None:
        i = ts_ms // 1000 - self.t0
        if i < 0:
            return
        if i >= len(self.c):
            self._extend(i + 1)
            i = ts_ms // 1000 - self.t0  # the extension may have trimmed the oldest seconds
            self.o[i] = self.h[i] = self.l[i] = price
        self.h[i] = max(self.h[i], price)
        self.l[i] = min(self.l[i], price)
        self.c[i] = price
        self.v[i] += size
        self.q[i] += price * size
        self.last_close = price

    def _extend(self, length: int) -> None:
        """Flat bars at the last close up to ``length`` columns."""
        missing = length - len(self.c)
        if missing <= 0:
            return
        flat = array("q", [self.last_close]) * missing
        zeros = array("q", [0]) * missing
        for col in (self.o, self.h, self.l, self.c):
            col.extend(flat)
        self.v.extend(zeros)
        self.q.extend(zeros)
        if len(self.c) > MAX_SECONDS + TRIM_CHUNK:
            cut = len(self.c) - MAX_SECONDS
            for col in (self.o, self.h, self.l, self.c, self.v, self.q):
                del col[:cut]
            self.t0 += cut

    def load_past(self) -> None:
        """Generate the hours before start (once) and put them in front of the live bars."""
        if self._past_loaded:
            return
        self._past_loaded = True
        first = self.o[0] if self.o else self.last_close
        past = generate_past(
            self.spec,
            self.seed,
            self.params,
            self.steps_per_second,
            self.past_seconds,
            first,
            venue=self.venue,
            walk=self.walk,
        )
        columns = (self.o, self.h, self.l, self.c, self.v, self.q)
        merged = []
        for values, col in zip(past, columns, strict=True):
            head = array("q")
            head.frombytes(values.astype(np.int64).tobytes())
            head.extend(col)
            merged.append(head)
        self.o, self.h, self.l, self.c, self.v, self.q = merged
        self.t0 = self.start_s - self.past_seconds

    # ---- reading -------------------------------------------------------------------------

    @property
    def first_ms(self) -> int:
        self.load_past()
        return self.t0 * 1000

    def bar(self, start_ms: int, end_ms: int) -> tuple[int, int, int, int, int, int] | None:
        """(open, high, low, close, volume, quote) over [start, end) ms, or None if empty."""
        i0 = max(0, -(-start_ms // 1000) - self.t0)
        i1 = min(len(self.c), -(-end_ms // 1000) - self.t0)
        if i1 <= i0:
            return None
        if i1 - i0 <= NUMPY_FROM:
            h, lo = self.h[i0:i1], self.l[i0:i1]
            o, c = self.o[i0], self.c[i1 - 1]
            return o, max(h), min(lo), c, sum(self.v[i0:i1]), sum(self.q[i0:i1])
        # long bars: numpy views of the columns (released on return, so the arrays can grow)
        h_, l_, v_, q_ = (
            np.frombuffer(col, np.int64)[i0:i1] for col in (self.h, self.l, self.v, self.q)
        )
        return (
            self.o[i0],
            int(h_.max()),
            int(l_.min()),
            self.c[i1 - 1],
            _exact_sum(v_),
            _exact_sum(q_),
        )

    def rows(
        self, bar: str, utc: bool, now_ms: int, after: int = 0, before: int = 0
    ) -> Iterator[tuple[int, int, tuple[int, int, int, int, int, int], bool]]:
        """(start ms, end ms, ohlcv, confirmed) newest first: bars starting before ``after``
        (when given) and after ``before`` (when given), down to the first kept second."""
        self.sync(now_ms)
        first = self.t0 * 1000
        t = min(now_ms, after - 1) if after else now_ms
        while t >= first:
            start, end = bar_start(t, bar, utc)
            if before and start <= before:
                return
            values = self.bar(max(start, first), min(end, now_ms + 1))
            if values is not None:
                yield start, end, values, end <= now_ms
            t = start - 1

    def forward(
        self, bar: str, utc: bool, now_ms: int, start_ms: int, end_ms: int
    ) -> Iterator[tuple[int, int, tuple[int, int, int, int, int, int], bool]]:
        """Like ``rows`` but oldest first: the bars starting in [start_ms, end_ms] (the first
        kept second at the earliest, ``now_ms`` at the latest)."""
        self.sync(now_ms)
        first = self.t0 * 1000
        start, end = bar_start(max(start_ms, first), bar, utc)
        if start < start_ms:
            start, end = bar_start(end, bar, utc)
        while start <= min(end_ms, now_ms):
            values = self.bar(max(start, first), min(end, now_ms + 1))
            if values is not None:
                yield start, end, values, end <= now_ms
            start, end = bar_start(end, bar, utc)

    def sync(self, now_ms: int) -> None:
        """The past loaded and flat seconds up to ``now_ms``: ready to read bars from."""
        self.load_past()
        self._extend(now_ms // 1000 - self.t0 + 1)

    def current(self, bar: str, utc: bool, now_ms: int) -> tuple[int, int, tuple[int, ...]]:
        """The bar holding ``now_ms`` so far: (start, end, ohlcv); flat at the last close if
        it has no data yet."""
        self.load_past()
        start, end = bar_start(now_ms, bar, utc)
        values = self.bar(max(start, self.t0 * 1000), now_ms + 1)
        if values is None:
            px = self.last_close
            return start, end, (px, px, px, px, 0, 0)
        return start, end, values
