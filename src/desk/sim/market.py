"""A synthetic market: seeded order flow on top of one ``MatchingEngine`` per instrument.

Each instrument has a latent fair price that follows a random walk whose volatility switches
between regimes (calm / normal / wild) and that jumps now and then. Liquidity providers keep
50-150 price levels per side around it (several orders per level, sizes growing away from the
touch), join the touch to keep the spread at a few ticks, and pull quotes that the fair price
has run through. Takers send market orders with heavy-tailed sizes that walk the book, and
arbitrageurs sweep quotes left on the wrong side of a jump.

Determinism: everything random comes from one ``random.Random`` per instrument seeded with
``f"{seed}:{inst_id}"``, so the same seed and the same number of ``step()`` calls give the same
books and trades (timestamps are whatever the caller passes in).

Several venues: given a ``SharedFair`` (``desk.sim.fair``), each instrument's fair price follows
the shared walk of its base asset plus a deviation of its own instead of walking alone, so the
venues' prices stay close, differ a little and sometimes cross.

Between two publishes the market accumulates, per instrument, the final state of every level
that changed (``drain_changes``) and one ``TradeAggregate`` per taker order and price
(``drain_trades``); the wire servers turn those into pushes.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from desk.core.enums import Side
from desk.sim.fair import SharedFair
from desk.sim.instruments import DEFAULT_INSTRUMENTS, InstrumentSpec
from desk.sim.matching import ExecReport, MatchingEngine, TimeInForce

LP = "lp"
TAKER = "taker"

LevelKey = tuple[Side, int]


@dataclass(frozen=True, slots=True)
class FlowParams:
    """Knobs of the order-flow model; the defaults give a lively but sane book at 200 steps/s."""

    regimes_bps: tuple[float, ...] = (0.015, 0.035, 0.1)
    regime_switch_prob: float = 0.0005
    jump_prob: float = 0.0002
    jump_bps: float = 6.0
    depth_bps: float = 4.0
    min_levels: int = 50
    max_levels: int = 150
    adds_per_step: float = 2.0
    touch_join_prob: float = 0.8
    cancel_per_step: float = 1.6
    stale_pull_prob: float = 0.8
    taker_prob: float = 0.1
    taker_alpha: float = 1.3
    taker_scale: float = 0.4
    max_taker_units: float = 60.0


@dataclass(frozen=True, slots=True)
class TradeAggregate:
    """Fills of one taker order at one price: OKX ``trades`` pushes one data entry for it.

    ``trade_id`` is the last trade id of the aggregate; ``count`` fills end at it. ``fills``
    keeps each fill's (trade id, lots) for channels that push single trades (``trades-all``).
    """

    trade_id: int
    price: int
    size: int
    side: Side
    count: int
    ts_ms: int
    fills: tuple[tuple[int, int], ...] = ()


@dataclass(slots=True)
class TickerStats:
    """Rolling statistics since start (stand-ins for OKX's 24 h figures), in ticks and lots."""

    open: int
    high: int
    low: int
    last: int
    last_size: int = 0
    volume: int = 0
    quote_volume: int = 0

    def add(self, price: int, size: int) -> None:
        self.last, self.last_size = price, size
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.volume += size
        self.quote_volume += price * size


class InstrumentMarket:
    """Order flow for one instrument; ``step()`` runs one batch of events."""

    def __init__(
        self,
        spec: InstrumentSpec,
        seed: int,
        params: FlowParams,
        shared: SharedFair | None = None,
    ) -> None:
        self.spec = spec
        self.params = params
        self.rng = random.Random(f"{seed}:{spec.inst_id}")
        start = spec.tick.units(spec.price)
        self.fair = float(start)
        self.start_fair = self.fair
        # With a shared fair price the walk is the venues' common one plus this market's own
        # deviation, drawn from a stream of its own (the order flow's draws are unchanged).
        self.follower = (
            None
            if shared is None
            else shared.follower(spec.base_ccy, random.Random(f"{seed}:{spec.inst_id}:fair"))
        )
        self.regime = 1
        self.engine = MatchingEngine(
            first_trade_id=self.rng.randrange(10**8, 10**9), first_order_id=1
        )
        self.stats = TickerStats(open=start, high=start, low=start, last=start)
        self.min_lots = spec.min_lots
        notional_lots = spec.order_notional / spec.tick.to_float(start) / spec.lot.to_float(1)
        self.unit = max(self.min_lots, int(notional_lots))
        self.span = self._span()
        self.changes: dict[LevelKey, tuple[int, int]] = {}
        self.trades: list[TradeAggregate] = []
        self.steps = 0
        self._ts_ms = 0
        self.fill_listener: Callable[[ExecReport], None] | None = None
        """Called with every report that has fills (the private API settles its orders here)."""
        self._seed_book()

    # ---- public --------------------------------------------------------------------------

    def step(self, ts_ms: int = 0) -> None:
        self._ts_ms = ts_ms
        self.steps += 1
        self._move_fair()
        self.span = self._span()
        self._pull_stale()
        for _ in range(self._poisson(self.params.adds_per_step)):
            self._add_order(near_touch=False)
        if self.rng.random() < self.params.touch_join_prob:
            self._add_order(near_touch=True)
        for _ in range(self._poisson(self.params.cancel_per_step)):
            self._cancel_random()
        if self.rng.random() < self.params.taker_prob:
            self._take()
        self._keep_depth()

    def record(self, report: ExecReport, ts_ms: int | None = None) -> None:
        """Fold one engine report into the pending level changes, trades and stats.

        Public so that other order sources (a private order API) trading on ``engine`` keep
        the published streams complete.
        """
        for ch in report.changes:
            self.changes[(ch.side, ch.price)] = (ch.size, ch.count)
        fills = report.fills
        if not fills:
            return
        if self.fill_listener is not None:
            self.fill_listener(report)
        ts = self._ts_ms if ts_ms is None else ts_ms
        start = 0
        for i in range(1, len(fills) + 1):
            if i == len(fills) or fills[i].price != fills[start].price:
                group = fills[start:i]
                size = sum(f.size for f in group)
                price, side = group[0].price, group[0].taker_side
                parts = tuple((f.trade_id, f.size) for f in group)
                agg = TradeAggregate(group[-1].trade_id, price, size, side, len(group), ts, parts)
                self.trades.append(agg)
                self.stats.add(price, size)
                start = i

    def drain_changes(self) -> dict[LevelKey, tuple[int, int]]:
        """Level -> (lots, orders) for every level changed since the last drain (0 = gone)."""
        out, self.changes = self.changes, {}
        return out

    def drain_trades(self) -> list[TradeAggregate]:
        out, self.trades = self.trades, []
        return out

    # ---- order flow ----------------------------------------------------------------------

    def _seed_book(self) -> None:
        target = (self.params.min_levels + self.params.max_levels) // 2
        for side in (Side.BUY, Side.SELL):
            for k in range(target):
                for _ in range(1 + self.rng.randrange(3)):
                    self._place(side, self._inside(side) + self._away(side, k), k)
        self.changes.clear()

    def _move_fair(self) -> None:
        if self.follower is not None:
            fair = self.follower.move(self.start_fair, self.steps)
            self.fair = max(fair, 10.0 * self._span())
            return
        p, rng = self.params, self.rng
        if rng.random() < p.regime_switch_prob:
            self.regime = rng.randrange(len(p.regimes_bps))
        sigma = self.fair * p.regimes_bps[self.regime] * 1e-4
        move = rng.gauss(0.0, sigma)
        if rng.random() < p.jump_prob:
            move += rng.gauss(0.0, self.fair * p.jump_bps * 1e-4)
        self.fair = max(self.fair + move, 10.0 * self._span())

    def _span(self) -> float:
        """Typical distance (ticks) between the touch and the far end of the book."""
        return max(float(self.params.max_levels), self.fair * self.params.depth_bps * 1e-4)

    def _inside(self, side: Side) -> int:
        """Where a provider quoting at the touch would put its price (spread of a few ticks)."""
        half = self.rng.random() * 1.5
        if side is Side.BUY:
            return math.floor(self.fair - half)
        return math.ceil(self.fair + half)

    @staticmethod
    def _away(side: Side, ticks: int) -> int:
        return -ticks if side is Side.BUY else ticks

    def _place(self, side: Side, price: int, distance: int) -> None:
        rng = self.rng
        grow = 1.0 + distance / (0.15 * self.span)
        size = max(self.min_lots, int(self.unit * rng.lognormvariate(0.0, 0.7) * grow))
        opposite = self.engine.best_ask() if side is Side.BUY else self.engine.best_bid()
        if opposite is not None and (price >= opposite if side is Side.BUY else price <= opposite):
            return
        if price <= 0:
            return
        self.record(self.engine.submit_limit(side, price, size, LP, TimeInForce.POST_ONLY))

    def _add_order(self, near_touch: bool) -> None:
        rng = self.rng
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        k = rng.randrange(3) if near_touch else int(rng.expovariate(3.0 / self.span))
        self._place(side, self._inside(side) + self._away(side, k), k)

    def _cancel_random(self) -> None:
        rng = self.rng
        book = self.engine.bids if rng.random() < 0.5 else self.engine.asks
        if len(book.prices) <= self.params.min_levels:
            return
        level = book.levels[book.prices[rng.randrange(len(book.prices))]]
        newest = next(reversed(level.orders.values()))
        if newest.owner == LP:
            self._cancel(newest.order_id)

    def _cancel(self, order_id: int) -> None:
        report = self.engine.cancel(order_id)
        if report is not None:
            self.record(report)

    def _pull_stale(self) -> None:
        """Quotes the fair price ran through are pulled by their owner or swept by arbs."""
        engine, rng = self.engine, self.rng
        bid, ask = engine.best_bid(), engine.best_ask()
        if bid is not None and bid > self.fair:
            if rng.random() < self.params.stale_pull_prob:
                self._cancel_level(Side.BUY, bid)
            else:
                self._sweep(Side.SELL, limit=math.ceil(self.fair))
        if ask is not None and ask < self.fair:
            if rng.random() < self.params.stale_pull_prob:
                self._cancel_level(Side.SELL, ask)
            else:
                self._sweep(Side.BUY, limit=math.floor(self.fair))

    def _cancel_level(self, side: Side, price: int) -> None:
        for order in self.engine.level_orders(side, price):
            if order.owner == LP:
                self._cancel(order.order_id)

    def _sweep(self, side: Side, limit: int) -> None:
        book = self.engine.asks if side is Side.BUY else self.engine.bids
        size = book.available(limit, 1 << 62)
        if size:
            self.record(self.engine.submit_market(side, size, TAKER, limit=limit))

    def _take(self) -> None:
        p, rng = self.params, self.rng
        side = Side.BUY if rng.random() < 0.5 else Side.SELL
        units = min(p.max_taker_units, p.taker_scale * rng.paretovariate(p.taker_alpha))
        size = max(self.min_lots, int(self.unit * units))
        self.record(self.engine.submit_market(side, size, TAKER))

    def _keep_depth(self) -> None:
        """Hold 50-150 levels per side: trim the far end, refill it when thin."""
        p = self.params
        for book in (self.engine.bids, self.engine.asks):
            side = book.side
            while len(book.prices) > p.max_levels:
                far = book.prices[0] if side is Side.BUY else book.prices[-1]
                before = len(book.prices)
                self._cancel_level(side, far)
                if len(book.prices) == before:
                    break
            if len(book.prices) < p.min_levels:
                far = (
                    (book.prices[0] if side is Side.BUY else book.prices[-1])
                    if book.prices
                    else None
                )
                start = self._inside(side) if far is None else far
                gap = 1 + self.rng.randrange(3)
                dist = abs(start - self.fair) + gap
                self._place(side, start + self._away(side, gap), int(dist))

    def _poisson(self, mean: float) -> int:
        """A small Poisson draw (Knuth); fine for the means used here."""
        limit, k, prod = math.exp(-mean), 0, self.rng.random()
        while prod > limit:
            k += 1
            prod *= self.rng.random()
        return k


class SyntheticMarket:
    """Several instruments stepped together; ``step()`` advances each by one event batch."""

    def __init__(
        self,
        instruments: Iterable[InstrumentSpec] = DEFAULT_INSTRUMENTS,
        seed: int = 7,
        params: FlowParams | None = None,
        shared: SharedFair | None = None,
    ) -> None:
        self.seed = seed
        self.params = params or FlowParams()
        self.shared = shared
        self.markets: dict[str, InstrumentMarket] = {}
        for spec in instruments:
            if spec.inst_id in self.markets:
                raise ValueError(f"instrument {spec.inst_id} is listed twice")
            self.markets[spec.inst_id] = InstrumentMarket(spec, seed, self.params, shared)
        if not self.markets:
            raise ValueError("a market needs at least one instrument")
        self.steps = 0

    @property
    def inst_ids(self) -> Sequence[str]:
        return tuple(self.markets)

    def spec(self, inst_id: str) -> InstrumentSpec:
        return self.markets[inst_id].spec

    def engine(self, inst_id: str) -> MatchingEngine:
        return self.markets[inst_id].engine

    def stats(self, inst_id: str) -> TickerStats:
        return self.markets[inst_id].stats

    def fair_price(self, inst_id: str) -> float:
        """The latent fair price in ticks."""
        return self.markets[inst_id].fair

    def step(self, ts_ms: int = 0) -> None:
        self.steps += 1
        for market in self.markets.values():
            market.step(ts_ms)

    def drain_changes(self, inst_id: str) -> dict[LevelKey, tuple[int, int]]:
        return self.markets[inst_id].drain_changes()

    def drain_trades(self, inst_id: str) -> list[TradeAggregate]:
        return self.markets[inst_id].drain_trades()
