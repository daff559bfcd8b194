"""One venue's bar histories (``desk.sim.history``), one per instrument of its market.

The Binance and Coinbase simulators keep one of these: started with the simulator (the hours of
past generated on first read), fed every trade the venue publishes, read by their candle REST
endpoints. Their past follows OKX's walk of the same base asset (``reference_walk``) with the
venue's own deviation, volumes and start price (``generate_past``).
"""

from __future__ import annotations

from desk.sim.history import BarHistory, reference_walk
from desk.sim.market import SyntheticMarket, TradeAggregate


class HistoryBook:
    """The ``BarHistory`` of every instrument of ``market`` on ``venue``."""

    def __init__(self, market: SyntheticMarket, venue: str, seed: int) -> None:
        self.market = market
        self.venue = venue
        self.seed = seed  # the simulator's seed (the walk's), not the venue's market seed
        self.histories: dict[str, BarHistory] = {}

    def start(self, start_ms: int, hours: float, steps_per_second: float) -> None:
        """Histories from ``start_ms`` with ``hours`` of past, each ending at the price its
        live market starts from."""
        for inst_id, inst in self.market.markets.items():
            self.histories[inst_id] = BarHistory(
                inst.spec,
                self.seed,
                self.market.params,
                steps_per_second,
                start_ms,
                hours,
                inst.stats.last,
                venue=self.venue,
                walk=reference_walk(inst.spec),
            )

    def get(self, inst_id: str, now_ms: int) -> BarHistory:
        """The instrument's history (all started at ``now_ms`` with no past if not started)."""
        if not self.histories:
            self.start(now_ms, 0.0, 1.0)
        return self.histories[inst_id]

    def add_trades(self, inst_id: str, trades: list[TradeAggregate]) -> None:
        history = self.histories.get(inst_id)
        if history is not None:
            history.add_trades(trades)
