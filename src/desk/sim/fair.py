"""One fair-price process that several venues' synthetic markets follow.

Each venue of the simulator is its own market (its own book, order flow and seed), but the
same asset should trade near the same price everywhere, with venue-to-venue differences that
come and go: that is what makes cross-venue spreads exist and sometimes cross. ``SharedFair``
keeps, per base asset (``BTC`` for ``BTC-USDT`` and ``BTC-USD`` alike), a seeded random walk of
the *relative* price (1.0 at step 0) with the same volatility regimes and jumps as a lone
market. A market that follows it sets its fair price to::

    start price x shared factor at its step x (1 + its own deviation)

where the deviation is a mean-reverting (Ornstein-Uhlenbeck) noise of the venue's own random
stream, ``deviation_bps`` wide and reverting with ``reversion`` per step; venues' start prices
already differ by their offsets. The factor depends only on the seed and the step number, never
on which venue asked first, so every venue's market stays deterministic.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

DEFAULT_WINDOW = 1 << 16
"""Steps of the path kept in memory; a market lagging further behind reads the oldest kept."""


@dataclass(frozen=True, slots=True)
class FairParams:
    """The shared walk (in bps per step) and the venues' deviation from it."""

    regimes_bps: tuple[float, ...] = (0.015, 0.035, 0.1)
    regime_switch_prob: float = 0.0005
    jump_prob: float = 0.0002
    jump_bps: float = 6.0
    deviation_bps: float = 3.0
    reversion: float = 0.0003


class _Path:
    """The relative fair price of one asset, step by step."""

    def __init__(self, seed: int, asset: str, params: FairParams, window: int) -> None:
        self.rng = random.Random(f"{seed}:fair:{asset}")
        self.params = params
        self.window = window
        self.regime = 1
        self.first = 0  # the step of values[0]
        self.values = [1.0]

    def at(self, step: int) -> float:
        values = self.values
        while self.first + len(values) <= step:
            values.append(self._next(values[-1]))
        if len(values) > 2 * self.window:
            drop = len(values) - self.window
            del values[:drop]
            self.first += drop
        index = step - self.first
        return values[index] if index >= 0 else values[0]

    def _next(self, factor: float) -> float:
        p, rng = self.params, self.rng
        if rng.random() < p.regime_switch_prob:
            self.regime = rng.randrange(len(p.regimes_bps))
        move = rng.gauss(0.0, p.regimes_bps[self.regime] * 1e-4)
        if rng.random() < p.jump_prob:
            move += rng.gauss(0.0, p.jump_bps * 1e-4)
        return max(factor * (1.0 + move), 1e-6)


class SharedFair:
    """Seeded shared fair-price paths, one per base asset (module docstring)."""

    def __init__(
        self, seed: int = 7, params: FairParams | None = None, window: int = DEFAULT_WINDOW
    ) -> None:
        self.seed = seed
        self.params = params or FairParams()
        self.window = window
        self._paths: dict[str, _Path] = {}

    def factor(self, asset: str, step: int) -> float:
        """The price of ``asset`` at ``step`` relative to step 0."""
        path = self._paths.get(asset)
        if path is None:
            path = self._paths[asset] = _Path(self.seed, asset, self.params, self.window)
        return path.at(step)

    def follower(self, asset: str, rng: random.Random) -> Follower:
        """What one venue's market of ``asset`` uses to move its fair price."""
        return Follower(self, asset, rng)


class Follower:
    """One market's view of the shared path: the factor times its own deviation."""

    def __init__(self, shared: SharedFair, asset: str, rng: random.Random) -> None:
        self.shared = shared
        self.asset = asset
        self.rng = rng
        self.deviation = 0.0
        p = shared.params
        self._keep = 1.0 - p.reversion
        self._sigma = p.deviation_bps * 1e-4 * math.sqrt(2.0 * p.reversion)

    def move(self, start: float, step: int) -> float:
        """The fair price at ``step`` of a market that started at ``start``."""
        self.deviation = self.deviation * self._keep + self.rng.gauss(0.0, self._sigma)
        return start * self.shared.factor(self.asset, step) * (1.0 + self.deviation)
