"""Models loaded for live use: one inference worker and one health monitor per checkpoint.

A :class:`ModelPool` belongs to a bot manager. Bots running the ``lstm`` strategy
:meth:`~ModelPool.acquire` the checkpoint they name and :meth:`~ModelPool.release` it when they
stop or switch to another; bots naming the same checkpoint (same directory, same weights'
digest, same forced slow-down) share one :class:`LiveModel`, each stepping its own series in
its worker. The worker stops when the last bot lets go.

Importing this module costs no torch: the card is read by :mod:`.card`, and torch (with the
network and the numba step kernel) is imported by the first :meth:`~ModelPool.acquire` that has
to load weights - so an engine without a model bot never loads it (DESIGN.md section 2).
Loading runs on the caller's thread (the event loop, when a bot starts): it costs the torch
import once per process (a second or two), then milliseconds per checkpoint.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from desk.signals.model.card import CheckpointError, ModelCard, read_card
from desk.signals.model.monitor import ModelHealth, ModelMonitor

__all__ = ["LiveModel", "ModelPool", "model_id"]

STOP_TIMEOUT_S = 0.5


def model_id(path: str | Path, card: ModelCard) -> str:
    """A short name for a checkpoint: its directory's name and the start of its digest."""
    return f"{Path(path).resolve().name}@{card.weights_sha256[:8]}"


class LiveModel:
    """One loaded checkpoint: its worker (:class:`~.inference.InferenceWorker`) and monitor."""

    def __init__(self, key: tuple[Any, ...], path: Path, card: ModelCard, worker: Any) -> None:
        self.key = key
        self.path = path
        self.card = card
        self.id = model_id(path, card)
        self.worker = worker
        self.monitor = ModelMonitor(card)
        self.users: dict[int, str] = {}  # token -> bot id

    def health(self, now_ns: int) -> ModelHealth:
        return self.monitor.snapshot(
            model_id=self.id,
            path=str(self.path),
            bots=sorted(set(self.users.values())),
            stats=self.worker.stats(),
            now_ns=now_ns,
        )


class ModelPool:
    """The live models of one bot manager (module docstring)."""

    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self.clock = clock
        self._models: dict[tuple[Any, ...], LiveModel] = {}

    def acquire(
        self, path: str | Path, token: int, bot_id: str, *, slow_down_s: float = 0.0
    ) -> LiveModel:
        """The live model of the checkpoint at ``path``, loaded if need be, held for ``token``.

        ValueError (the checkpoint's own message) when it cannot be loaded: a missing, truncated
        or foreign file, or weights that do not match their card.
        """
        try:
            card = read_card(path)
        except CheckpointError as exc:
            raise ValueError(str(exc)) from None
        where = Path(path).resolve()
        directory = where.parent if where.is_file() else where
        key = (str(directory), card.weights_sha256, float(slow_down_s))
        model = self._models.get(key)
        if model is None:
            model = self._load(key, directory, slow_down_s)
            self._models[key] = model
        model.users[token] = bot_id
        return model

    def _load(self, key: tuple[Any, ...], directory: Path, slow_down_s: float) -> LiveModel:
        from desk.signals.model.checkpoint import load_checkpoint  # torch: first model only
        from desk.signals.model.inference import InferenceWorker

        try:
            loaded = load_checkpoint(directory)
        except CheckpointError as exc:
            raise ValueError(str(exc)) from None
        worker = InferenceWorker.from_checkpoint(
            loaded, name=model_id(directory, loaded.card), slow_down_s=slow_down_s
        )
        worker.start()
        return LiveModel(key, directory, loaded.card, worker)

    def release(self, model: LiveModel, token: int) -> None:
        """``token`` no longer uses ``model``; the last user's release stops its worker."""
        model.users.pop(token, None)
        if model.users or self._models.get(model.key) is not model:
            return
        del self._models[model.key]
        model.worker.stop(STOP_TIMEOUT_S, discard=True)

    def models(self) -> list[LiveModel]:
        return list(self._models.values())

    def health(self) -> list[ModelHealth]:
        """Every live model's health, by model id."""
        now = self.clock()
        return sorted((m.health(now) for m in self._models.values()), key=lambda h: h.model_id)

    def close(self) -> None:
        """Stop every worker (bots keep their configs; a restart loads the models again)."""
        models, self._models = list(self._models.values()), {}
        for model in models:
            model.users.clear()
            model.worker.stop(STOP_TIMEOUT_S, discard=True)
