"""Bar history of the simulated OKX: the venue-neutral ``desk.sim.history``, under the name the
OKX simulator and its tests have always used (OKX's past is the plain shared walk)."""

from __future__ import annotations

from desk.sim.history import MAX_SECONDS, SUB_STEPS, TRIM_CHUNK, BarHistory, generate_past

__all__ = ["MAX_SECONDS", "SUB_STEPS", "TRIM_CHUNK", "BarHistory", "generate_past"]
