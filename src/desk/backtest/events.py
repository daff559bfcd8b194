"""Signal events: the strategies' batch signals as one code per bar, for the kernel.

Signals come from the strategies' batch path, the same code that runs live
(:meth:`~desk.signals.strategy.BaseStrategy.batch_codes`), and the strategy API's state
machine (:func:`~desk.signals.strategy.transition`, compiled as
:func:`~desk.backtest.kernel.next_state`) turns the candidate codes into one event per bar
(:data:`~desk.backtest.kernel.EV_LONG`, ``EV_SHORT``, ``EV_FLAT`` or ``EV_NONE``). Only the
state machine is compiled here (a test holds it to ``array_signals``, which walks it in Python
building ``Signal`` objects); no strategy is written twice. The kernel can take the codes
themselves and apply the same state machine as it walks the bars (``simulate(codes=True)``);
these events are for looking at, and for the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numba
import numpy as np

from desk.backtest.kernel import EV_FLAT, next_state

if TYPE_CHECKING:
    from desk.signals.strategy import BaseStrategy

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def events_from_codes(codes: np.ndarray) -> np.ndarray:
    """Per-bar events from a strategy's candidate codes, by the strategy API's state machine."""
    n = codes.shape[0]
    out = np.zeros(n, dtype=np.int8)
    state = 0
    for i in range(n):
        c = codes[i]
        if c == 0:
            continue
        new = next_state(state, c)
        if new != 9:
            state = new
            out[i] = EV_FLAT if new == 0 else new
    return out


def signal_events(strategy: BaseStrategy, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-bar events of ``strategy`` over OHLCV ``arrays`` (``frame_arrays`` layout)."""
    return events_from_codes(strategy.batch_codes(arrays))
