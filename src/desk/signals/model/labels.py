"""What the model learns to predict: the direction of the move over the next ``horizon`` bars.

The forward return at bar t is the log return from its close to the close ``horizon`` bars
later, r_t = ln(c_{t+h} / c_t), in basis points (1e4 * r_t). Its class is

* ``up`` (2) when r_t > band_t, ``down`` (0) when r_t < -band_t, ``flat`` (1) otherwise,

where the dead band is what a round trip costs: by default band_t = 2 * ``fee_bps`` (a taker
fee on the way in and on the way out) + half the spread at bar t, in bps. The spread is the
bar's own (best bid and ask at its close) when the data has it, else ``spread_bps``; a fixed
``dead_band_bps`` replaces the formula. A move inside the band would not pay for a trade, so it
is "flat". The last ``horizon`` bars have no forward return: class -1 and NaN.

``regression`` asks the model for the forward return itself as well (a second head, trained
on r_t in bps).

:func:`past_classes` labels the *previous* ``horizon`` bars the same way (ln(c_t / c_{t-h})
against band_t): the persistence baseline predicts that the last move continues.

No torch here (a test holds it).
"""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

DOWN, FLAT, UP = 0, 1, 2
CLASSES = ("down", "flat", "up")
UNKNOWN = -1

NonNegative = Annotated[float, msgspec.Meta(ge=0)]

__all__ = [
    "CLASSES",
    "DOWN",
    "FLAT",
    "UNKNOWN",
    "UP",
    "LabelConfig",
    "Labels",
    "classify",
    "dead_band",
    "make_labels",
    "past_classes",
]


class LabelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The label definition (stored in the checkpoint card; a mismatch refuses the load)."""

    horizon: Annotated[int, msgspec.Meta(gt=0)] = 5
    fee_bps: NonNegative = 10.0
    spread_bps: NonNegative = 2.0
    dead_band_bps: NonNegative | None = None
    regression: bool = False


class Labels(NamedTuple):
    classes: npt.NDArray[np.int64]  # DOWN / FLAT / UP, UNKNOWN for the last horizon bars
    forward_bps: npt.NDArray[np.float64]  # 1e4 * ln(c_{t+h}/c_t), NaN when unknown
    band_bps: npt.NDArray[np.float64]  # the dead band at each bar


def dead_band(config: LabelConfig, size: int, spread_bps: Any = None) -> npt.NDArray[np.float64]:
    """The band (bps) at each of ``size`` bars: fixed, or round-trip fees + half the spread.

    ``spread_bps`` is the bar's spread in bps (the ``spread_bps`` feature); where it is absent,
    not finite or not positive, ``config.spread_bps`` stands in.
    """
    if config.dead_band_bps is not None:
        return np.full(size, float(config.dead_band_bps))
    spread = np.full(size, float(config.spread_bps))
    if spread_bps is not None:
        given = np.asarray(spread_bps, dtype=np.float64)
        if given.shape != (size,):
            raise ValueError(f"spread_bps must have {size} values, got shape {given.shape}")
        ok = np.isfinite(given) & (given > 0.0)
        spread[ok] = given[ok]
    return 2.0 * config.fee_bps + 0.5 * spread


def classify(move_bps: Any, band_bps: Any) -> npt.NDArray[np.int64]:
    """UP / FLAT / DOWN of each move against its band; UNKNOWN where the move is NaN."""
    move = np.asarray(move_bps, dtype=np.float64)
    band = np.asarray(band_bps, dtype=np.float64)
    out = np.full(move.shape, FLAT, dtype=np.int64)
    out[move > band] = UP
    out[move < -band] = DOWN
    out[np.isnan(move)] = UNKNOWN
    return out


def _log_close(close: Any) -> npt.NDArray[np.float64]:
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"close must be 1-D, got shape {c.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(c > 0.0, np.log(np.where(c > 0.0, c, 1.0)), np.nan)


def make_labels(close: Any, config: LabelConfig | None = None, spread_bps: Any = None) -> Labels:
    """Classes and forward returns of every bar (see the module docstring)."""
    cfg = config or LabelConfig()
    lc = _log_close(close)
    h = cfg.horizon
    forward = np.full(lc.shape[0], np.nan)
    if lc.shape[0] > h:
        forward[:-h] = (lc[h:] - lc[:-h]) * 1e4
    band = dead_band(cfg, lc.shape[0], spread_bps)
    return Labels(classify(forward, band), forward, band)


def past_classes(
    close: Any, config: LabelConfig | None = None, spread_bps: Any = None
) -> npt.NDArray[np.int64]:
    """The class of the move over the *last* ``horizon`` bars at each bar (persistence)."""
    cfg = config or LabelConfig()
    lc = _log_close(close)
    h = cfg.horizon
    past = np.full(lc.shape[0], np.nan)
    if lc.shape[0] > h:
        past[h:] = (lc[h:] - lc[:-h]) * 1e4
    return classify(past, dead_band(cfg, lc.shape[0], spread_bps))
