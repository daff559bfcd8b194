"""Signal events: the strategies' batch signals as one code per bar, for the kernel.

Signals come from the strategies' batch path, the same code that runs live
(:meth:`~desk.signals.strategy.BaseStrategy._series` and ``_codes``), and the strategy API's
state machine (:func:`~desk.signals.strategy.transition`) turns the candidate codes into one
event per bar (:data:`~desk.backtest.kernel.EV_LONG`, ``EV_SHORT``, ``EV_FLAT`` or
``EV_NONE``). Only the state machine is compiled here (a test holds it to ``array_signals``,
which walks it in Python building ``Signal`` objects); no strategy is written twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from desk.backtest.kernel import EV_FLAT
from desk.signals.strategy import EXIT_ANY, EXIT_LONG, EXIT_SHORT, LONG, SHORT

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
        new = 9
        if (c == LONG or c == SHORT) and state != c:  # noqa: SIM109 (numba: no tuple `in`)
            new = c
        elif (
            (c == EXIT_LONG and state == 1)
            or (c == EXIT_SHORT and state == -1)
            or (c == EXIT_ANY and state != 0)
        ):
            new = 0
        if new != 9:
            state = new
            out[i] = EV_FLAT if new == 0 else new
    return out


def signal_events(strategy: BaseStrategy, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Per-bar events of ``strategy`` over OHLCV ``arrays`` (``frame_arrays`` layout).

    The strategy's own batch hooks (the code that runs live) give the candidate codes; the
    compiled state machine replaces only the Python walk that builds ``Signal`` objects (a test
    holds the two together), so a sweep does not build a million structs.
    """
    series = strategy._series(arrays)
    codes = np.ascontiguousarray(strategy._codes(series), dtype=np.int8)
    return events_from_codes(codes)
